// SPDX-License-Identifier: Apache-2.0
// The local provider's filesystem side through real local sandboxes: files seen by commands
// and the other way round, ownership as the sandbox's root, symlink escapes, volumes across
// sandboxes, snapshots booted, stacked and deleted. One temp state dir per test binary.

#include "fs.hpp"
#include "scratch_sandbox.hpp"

#include <matchers.hpp>
#include <sbx/providers/local.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

namespace {

namespace stdfs = std::filesystem;
using sbx::error_kind;
using sbx::exec_request;
using sbx::file_info;
using sbx::file_type;
using sbx::test::fails_with;
using sbx::test::succeeds;
using sbx::test::succeeds_with;
using testing::Field;
using testing::HasSubstr;

std::string slurp(stdfs::path const& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(stdfs::path const& p, std::string_view s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// A shell script that plants links at the host's `canary` dir (absolute, by "..", as a
/// directory), at /etc/shadow and at a /proc magic link.
std::string fmt_links(std::string const& canary) {
  return "mkdir -p /l && cd /l && ln -s /etc/shadow shadow && ln -s '" + canary + "/secret' canary && "
         "ln -s '../../../../../../../../.." + canary + "/secret' climb && ln -s '" + canary + "' canary-dir && "
         "ln -s /proc/1/root proc-root";
}

/// A sandbox killed at scope exit.
class box {
 public:
  box(sbx::local& p, sbx::local::handle h) : p_(&p), h_(std::move(h)) {}
  box(box&& o) noexcept : p_(o.p_), h_(std::move(o.h_)) { o.p_ = nullptr; }
  ~box() { kill(); }
  void kill() {
    if (p_) { (void)p_->kill(h_); p_->release(h_); }
    p_ = nullptr;
  }
  sbx::local::handle const& h() const { return h_; }
  std::string const& id() const { return h_.id; }
  sbx::result<sbx::exec_result> sh(std::string script) { return p_->exec(h_, exec_request::shell(std::move(script))); }
  /// stdout of a shell script that must exit 0.
  std::string out(std::string script) {
    auto r = sh(script);
    if (!r) { ADD_FAILURE() << script << ": " << r.error().to_string(); return {}; }
    EXPECT_EQ(r.value().exit_code, 0) << script << "\n" << r.value().stderr_data;
    return r.value().stdout_data;
  }

 private:
  sbx::local* p_;
  sbx::local::handle h_;
};

class local_fs_provider : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) { skip_ = "needs root: shifted uid ranges, idmapped mounts and overlayfs"; return; }
    state_ = new stdfs::path(stdfs::temp_directory_path() / ("sbx-fs-provider-" + std::to_string(::getpid())));
    stdfs::create_directories(*state_);
    image_ = new stdfs::path(sbx_test::default_image(*state_));
    sbx::local::config c;
    c.state_dir = state_->string();
    c.default_image = image_->string();
    provider_ = new sbx::local(c);
    auto probe = provider_->create({}, {});
    if (!probe) { skip_ = "local sandboxes cannot be created here: " + probe.error().to_string(); return; }
    (void)provider_->kill(probe.value());
  }
  static void TearDownTestSuite() {
    delete provider_;
    provider_ = nullptr;
    // Killed sandboxes' supervisors remove their dirs in the background; wait for them.
    for (int i = 0; state_ && i < 50; ++i) {
      std::error_code ec;
      stdfs::remove_all(*state_, ec);
      if (!ec) break;
      ::usleep(100000);
    }
    delete state_;
    delete image_;
    state_ = image_ = nullptr;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    host_ = *state_ / "host" / testing::UnitTest::GetInstance()->current_test_info()->name();
    stdfs::create_directories(host_);
  }
  void TearDown() override {
    if (!host_.empty()) stdfs::remove_all(host_);
  }

  box make(sbx::common_request r = {}) {
    auto h = provider_->create(r, {});
    EXPECT_THAT(h, succeeds());
    if (!h) throw std::runtime_error("create failed: " + h.error().to_string());
    return box(*provider_, h.value());
  }
  sbx::local& p() { return *provider_; }
  stdfs::path upper_of(box const& b) { return *state_ / "sandboxes" / b.id() / "upper"; }

  static inline std::string skip_;
  static inline stdfs::path* state_ = nullptr;
  static inline stdfs::path* image_ = nullptr;
  static inline sbx::local* provider_ = nullptr;
  stdfs::path host_;
};

// ---- files ------------------------------------------------------------------------------

TEST_F(local_fs_provider, files_written_by_the_host_are_seen_by_commands_and_back) {
  auto b = make();
  ASSERT_THAT(p().write_file(b.h(), "/work/in.txt", "from host\n", {.mode = 0640}), succeeds());
  EXPECT_EQ(b.out("cat /work/in.txt; stat -c '%a %u:%g' /work/in.txt /work"), "from host\n640 0:0\n755 0:0\n");
  b.out("mkdir -p /work/out && printf 'from sandbox' > /work/out/f && chmod 600 /work/out/f && ln -s f /work/out/l");
  EXPECT_THAT(p().read_file(b.h(), "/work/out/f"), succeeds_with(std::string("from sandbox")));
  EXPECT_THAT(p().stat(b.h(), "/work/out/f"), succeeds_with(Field(&file_info::mode, 0600u)));
  EXPECT_THAT(p().stat(b.h(), "/work/out/l"), succeeds_with(Field(&file_info::link_target, "f")));
  EXPECT_THAT(p().list_dir(b.h(), "/work/out"), succeeds_with(testing::SizeIs(2)));
  EXPECT_THAT(p().exists(b.h(), "/work/out/nope"), succeeds_with(false));
  ASSERT_THAT(p().rename(b.h(), "/work/out/f", "/work/out/g"), succeeds());
  ASSERT_THAT(p().make_dir(b.h(), "/work/x/y"), succeeds());
  EXPECT_EQ(b.out("cat /work/out/g; test -d /work/x/y && echo dir"), "from sandboxdir\n");
  ASSERT_THAT(p().remove(b.h(), "/work", true), succeeds());
  EXPECT_EQ(b.out("test -e /work || echo gone"), "gone\n");
  EXPECT_THAT(p().read_file(b.h(), "/work/in.txt"), fails_with(error_kind::not_found));
  EXPECT_THAT(p().read_file(b.h(), "work"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(p().read_file(b.h(), "/etc"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(p().remove(b.h(), "/", true), fails_with(error_kind::invalid_request));
}

TEST_F(local_fs_provider, what_the_host_creates_belongs_to_the_sandbox_root) {
  auto b = make();
  ASSERT_THAT(p().write_file(b.h(), "/owned/deep/f", "x", {}), succeeds());
  stdfs::create_directories(host_ / "t" / "d");
  spit(host_ / "t" / "d" / "f", "y");
  stdfs::create_symlink("d/f", host_ / "t" / "l");
  ASSERT_THAT(p().upload(b.h(), (host_ / "t").string(), "/up"), succeeds());
  // Inside: root owns all of it, so the sandbox's root can change and delete it.
  EXPECT_EQ(b.out("stat -c '%u:%g %n' /owned /owned/deep /owned/deep/f /up /up/d /up/d/f /up/l"),
            "0:0 /owned\n0:0 /owned/deep\n0:0 /owned/deep/f\n0:0 /up\n0:0 /up/d\n0:0 /up/d/f\n0:0 /up/l\n");
  b.out("echo more >> /owned/deep/f && rm -r /up");
  // On the host: the sandbox's shifted root uid, never host root.
  struct stat st{};
  ASSERT_EQ(::lstat((upper_of(b) / "owned/deep/f").c_str(), &st), 0);
  EXPECT_NE(st.st_uid, 0u);
  struct stat up{};
  ASSERT_EQ(::stat(upper_of(b).c_str(), &up), 0);
  EXPECT_EQ(st.st_uid, up.st_uid);
}

TEST_F(local_fs_provider, streamed_100_mib_write_and_read_keep_memory_flat) {
  auto b = make();
  constexpr std::size_t total = 100u << 20;
  std::size_t produced = 0, consumed = 0;
  std::uint64_t sum_in = 0, sum_out = 0;
  long rss0 = rss_kib();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_THAT(p().write_file(b.h(), "/big", sbx::byte_source([&](std::span<char> buf) -> sbx::result<std::size_t> {
                std::size_t n = std::min(buf.size(), total - produced);
                for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<char>((produced + i) * 2654435761u >> 13);
                for (std::size_t i = 0; i < n; i += 4096) sum_in += static_cast<unsigned char>(buf[i]);
                produced += n;
                return n;
              }), {}),
              succeeds());
  double w_ms = ms_since(t0);
  long rss1 = rss_kib();
  EXPECT_EQ(b.out("stat -c %s /big"), std::to_string(total) + "\n");
  auto t1 = std::chrono::steady_clock::now();
  std::size_t off = 0;
  ASSERT_THAT(p().read_file(b.h(), "/big", sbx::byte_sink([&](std::string_view piece) -> sbx::result<void> {
                for (std::size_t i = (4096 - off % 4096) % 4096; i < piece.size(); i += 4096) sum_out += static_cast<unsigned char>(piece[i]);
                off += piece.size();
                consumed += piece.size();
                return sbx::success();
              })),
              succeeds());
  double r_ms = ms_since(t1);
  long rss2 = rss_kib();
  EXPECT_EQ(consumed, total);
  EXPECT_EQ(sum_out, sum_in);
  EXPECT_LT(rss1 - rss0, 16 * 1024);
  EXPECT_LT(rss2 - rss0, 16 * 1024);
  std::printf("[ figures  ] local sandbox, 100 MiB streamed: write %.0f MiB/s (%.0f ms), read %.0f MiB/s (%.0f ms), RSS growth %ld / %ld KiB\n",
              100e3 / w_ms, w_ms, 100e3 / r_ms, r_ms, rss1 - rss0, rss2 - rss0);
}

TEST_F(local_fs_provider, upload_and_download_a_tree_round_trip) {
  auto b = make();
  auto t = host_ / "tree";
  stdfs::create_directories(t / "a" / "b");
  spit(t / "a" / "b" / "x.py", "print(6*7)\n");
  spit(t / "run", "#!/bin/sh\necho ran\n");
  stdfs::permissions(t / "run", stdfs::perms(0750));
  stdfs::permissions(t / "a", stdfs::perms(0700));
  stdfs::create_symlink("a/b/x.py", t / "link");
  ASSERT_THAT(p().upload(b.h(), t.string(), "/app"), succeeds());
  EXPECT_EQ(b.out("cd /app && ./run && python3 link && stat -c '%a %n' a run && readlink link"),
            "ran\n42\n700 a\n750 run\na/b/x.py\n");
  b.out("cd /app && echo new > a/new && ln -s /etc/shadow shadow-link");
  auto out = host_ / "out";
  ASSERT_THAT(p().download(b.h(), "/app", out.string()), succeeds());
  EXPECT_EQ(slurp(out / "a" / "b" / "x.py"), "print(6*7)\n");
  EXPECT_EQ(slurp(out / "a" / "new"), "new\n");
  EXPECT_EQ(stdfs::status(out / "run").permissions(), stdfs::perms(0750));
  EXPECT_EQ(stdfs::status(out / "a").permissions(), stdfs::perms(0700));
  EXPECT_EQ(stdfs::read_symlink(out / "link"), "a/b/x.py");
  EXPECT_EQ(stdfs::read_symlink(out / "shadow-link"), "/etc/shadow");
  EXPECT_THAT(p().upload(b.h(), (host_ / "missing").string(), "/x"), fails_with(error_kind::not_found));
  EXPECT_THAT(p().download(b.h(), "/missing", (host_ / "m").string()), fails_with(error_kind::not_found));
}

TEST_F(local_fs_provider, symlinks_planted_by_the_sandbox_never_reach_host_files) {
  auto b = make();
  auto canary_dir = host_ / "canary";
  stdfs::create_directories(canary_dir);
  spit(canary_dir / "secret", "HOST-SECRET");
  std::string shadow = slurp("/etc/shadow");
  b.out(fmt_links(canary_dir.string()));
  for (std::string path : std::vector<std::string>{"/l/shadow", "/l/canary", "/l/climb", "/l/canary-dir/secret", "/l/proc-root/etc/shadow",
                    "/l/proc-root" + canary_dir.string() + "/secret"}) {
    auto r = p().read_file(b.h(), path);
    EXPECT_FALSE(r && (r.value() == "HOST-SECRET" || (!shadow.empty() && r.value() == shadow))) << path;
  }
  EXPECT_THAT(p().read_file(b.h(), "/l/proc-root/etc/passwd"), testing::Not(succeeds()));
  ASSERT_THAT(p().write_file(b.h(), "/l/canary", "pwned", {}), succeeds());          // replaces the link
  (void)p().write_file(b.h(), "/l/canary-dir/secret", "pwned", {});                  // lands inside or fails
  (void)p().write_file(b.h(), "/l/proc-root" + canary_dir.string() + "/secret", "pwned", {});
  stdfs::create_directories(host_ / "up" / "canary-dir");
  spit(host_ / "up" / "canary-dir" / "secret", "pwned");
  (void)p().upload(b.h(), (host_ / "up").string(), "/l");
  (void)p().upload(b.h(), (host_ / "up" / "canary-dir" / "secret").string(), "/l/climb");
  auto out = host_ / "out";
  ASSERT_THAT(p().download(b.h(), "/l", out.string()), succeeds());
  EXPECT_TRUE(stdfs::is_symlink(out / "shadow"));
  EXPECT_TRUE(stdfs::is_symlink(out / "canary-dir"));
  b.out("rm -rf /l2 && mkdir -p /l2/canary-dir && echo pwned > /l2/canary-dir/secret");
  (void)p().download(b.h(), "/l2", out.string());  // out/canary-dir is a link now: refused there
  EXPECT_EQ(slurp(canary_dir / "secret"), "HOST-SECRET");
  EXPECT_EQ(std::distance(stdfs::directory_iterator(canary_dir), stdfs::directory_iterator()), 1);
  EXPECT_EQ(slurp("/etc/shadow"), shadow);
}

// ---- volumes ----------------------------------------------------------------------------

TEST_F(local_fs_provider, a_volume_persists_across_two_sandboxes) {
  auto v = p().create_volume({.name = "data-" + std::to_string(::getpid()), .labels = {{"team", "fs"}}});
  ASSERT_THAT(v, succeeds());
  auto id = v.value().id;
  EXPECT_THAT(id, testing::StartsWith("vol-"));
  EXPECT_THAT(p().create_volume({.name = v.value().name}), fails_with(error_kind::already_exists));
  sbx::common_request r;
  r.volumes.push_back({id, "/data", false});
  {
    auto a = make(r);
    a.out("head -c 1048576 /dev/zero > /data/one && mkdir /data/d && echo hi > /data/d/f");
    ASSERT_THAT(p().write_file(a.h(), "/data/from-host", "h", {}), succeeds());
  }
  auto b = make(r);
  EXPECT_EQ(b.out("cat /data/d/f /data/from-host; stat -c %s /data/one"), "hi\nh1048576\n");
  EXPECT_THAT(p().read_file(b.h(), "/data/d/f"), succeeds_with(std::string("hi\n")));
  auto l = p().list_volumes();
  ASSERT_THAT(l, succeeds());
  auto it = std::find_if(l.value().begin(), l.value().end(), [&](auto const& x) { return x.id == id; });
  ASSERT_NE(it, l.value().end());
  EXPECT_EQ(it->name, v.value().name);
  EXPECT_GE(it->used_bytes, (1u << 20) + 4u);
  EXPECT_LT(it->used_bytes, (1u << 20) + 4096u);
  auto busy = p().delete_volume(id);
  EXPECT_THAT(busy, fails_with(error_kind::invalid_request));
  EXPECT_THAT(std::string(busy.error().message()), HasSubstr(b.id()));
  b.kill();
  EXPECT_THAT(p().delete_volume(id), succeeds());
  EXPECT_THAT(p().delete_volume(id), fails_with(error_kind::not_found));
  EXPECT_FALSE(stdfs::exists(*state_ / "volumes" / id));
  EXPECT_THAT(p().create({.volumes = {{id, "/data", false}}}, {}), fails_with(error_kind::not_found));
}

// ---- snapshots --------------------------------------------------------------------------

TEST_F(local_fs_provider, a_snapshot_boots_with_its_files_and_deletions_and_stacks) {
  auto a = make();
  ASSERT_THAT(p().write_file(a.h(), "/work/hello", "hello\n", {}), succeeds());
  // A deleted image file (whiteout) and a replaced image dir (opaque).
  a.out("rm /etc/issue && rm -r /usr/share/zoneinfo/Etc && mkdir /usr/share/zoneinfo/Etc && echo mine > /usr/share/zoneinfo/Etc/new");
  auto t0 = std::chrono::steady_clock::now();
  auto s1 = p().snapshot(a.h(), "s1-" + std::to_string(::getpid()));
  double small_ms = ms_since(t0);
  ASSERT_THAT(s1, succeeds());
  EXPECT_THAT(s1.value().id, testing::StartsWith("snap-"));
  EXPECT_EQ(s1.value().source_sandbox, a.id());
  EXPECT_GE(s1.value().size_bytes, 6u + 5u);
  EXPECT_THAT(p().info(a.h()), succeeds_with(Field(&sbx::sandbox_info::status, sbx::sandbox_status::running)));
  EXPECT_THAT(p().snapshot(a.h(), s1.value().name), fails_with(error_kind::already_exists));

  auto b = make({.snapshot = s1.value().id});
  EXPECT_EQ(b.out("cat /work/hello; test -e /etc/issue || echo no-issue; ls /usr/share/zoneinfo/Etc; test -e /etc/passwd && echo image"),
            "hello\nno-issue\nnew\nimage\n");
  // Stack a second snapshot on a sandbox that booted from the first.
  b.out("echo b > /b && rm /work/hello");
  auto s2 = p().snapshot(b.h(), "");
  ASSERT_THAT(s2, succeeds());
  EXPECT_EQ(s2.value().name, s2.value().id);
  auto c = make({.snapshot = s2.value().id});
  EXPECT_EQ(c.out("cat /b; test -e /work/hello || echo no-hello; test -e /etc/issue || echo no-issue; cat /usr/share/zoneinfo/Etc/new"),
            "b\nno-hello\nno-issue\nmine\n");
  auto chain = sbx::local_impl::snapshot_lowers(sbx::local_impl::paths(p()), s2.value().id);
  ASSERT_THAT(chain, succeeds());
  ASSERT_EQ(chain.value().size(), 3u);
  EXPECT_EQ(chain.value()[0], *state_ / "snapshots" / s2.value().id / "layer");
  EXPECT_EQ(chain.value()[1], *state_ / "snapshots" / s1.value().id / "layer");
  EXPECT_EQ(chain.value()[2], stdfs::canonical(*image_));
  // The source sandboxes are unchanged by what the others did.
  EXPECT_EQ(a.out("cat /work/hello; test -e /b || echo no-b"), "hello\nno-b\n");

  auto l = p().list_snapshots();
  ASSERT_THAT(l, succeeds());
  EXPECT_THAT(l.value(), testing::Contains(Field(&sbx::snapshot_info::id, s1.value().id)));
  EXPECT_THAT(l.value(), testing::Contains(Field(&sbx::snapshot_info::id, s2.value().id)));

  // Delete rules: not while stacked on, not while booted from.
  EXPECT_THAT(p().delete_snapshot(s1.value().id), fails_with(error_kind::invalid_request));
  auto busy = p().delete_snapshot(s2.value().id);
  EXPECT_THAT(busy, fails_with(error_kind::invalid_request));
  EXPECT_THAT(std::string(busy.error().message()), HasSubstr(c.id()));
  c.kill();
  EXPECT_THAT(p().delete_snapshot(s2.value().id), succeeds());
  EXPECT_THAT(p().delete_snapshot(s2.value().id), fails_with(error_kind::not_found));
  EXPECT_THAT(p().delete_snapshot(s1.value().id), fails_with(error_kind::invalid_request));  // b boots from it
  b.kill();
  EXPECT_THAT(p().delete_snapshot(s1.value().id), succeeds());
  EXPECT_THAT(p().create({.snapshot = s1.value().id}, {}), fails_with(error_kind::not_found));
  EXPECT_THAT(p().delete_snapshot("snap-nope"), fails_with(error_kind::not_found));
  EXPECT_THAT(p().delete_snapshot("../volumes"), fails_with(error_kind::not_found));
  std::printf("[ figures  ] snapshot of a small change set (2 files, a whiteout, an opaque dir): %.1f ms\n", small_ms);
}

TEST_F(local_fs_provider, snapshot_of_a_50_mib_change_set_and_of_a_paused_sandbox) {
  auto a = make();
  a.out("mkdir /big && i=0; while [ $i -lt 50 ]; do head -c 1048576 /dev/urandom > /big/$i; i=$((i+1)); done");
  ASSERT_THAT(p().pause(a.h()), succeeds());
  auto t0 = std::chrono::steady_clock::now();
  auto s = p().snapshot(a.h(), "");
  double ms = ms_since(t0);
  ASSERT_THAT(s, succeeds());
  EXPECT_GE(s.value().size_bytes, 50u << 20);
  // It was paused before, so it stays paused.
  EXPECT_THAT(p().info(a.h()), succeeds_with(Field(&sbx::sandbox_info::status, sbx::sandbox_status::paused)));
  ASSERT_THAT(p().resume(a.h()), succeeds());
  auto b = make({.snapshot = s.value().id});
  EXPECT_EQ(b.out("ls /big | wc -l; cat /big/* | wc -c"), "50\n" + std::to_string(50u << 20) + "\n");
  EXPECT_EQ(b.out("md5sum /big/7 | cut -c1-32"), a.out("md5sum /big/7 | cut -c1-32"));
  b.kill();
  EXPECT_THAT(p().delete_snapshot(s.value().id), succeeds());
  std::printf("[ figures  ] snapshot of a 50 MiB change set (50 files), sandbox paused: %.1f ms\n", ms);
}

TEST_F(local_fs_provider, a_tmpfs_backed_sandbox_says_it_cannot_be_snapshotted) {
  sbx::local::options o;
  o.disk_bytes = 64u << 20;
  auto h = p().create({}, o);
  ASSERT_THAT(h, succeeds());
  box b(p(), h.value());
  b.out("echo x > /f");
  // Its upper layer lives on a tmpfs only the sandbox's mount namespace has.
  auto r = p().snapshot(b.h(), "");
  EXPECT_THAT(r, fails_with(error_kind::unsupported));
  if (!r) EXPECT_THAT(std::string(r.error().message()), HasSubstr("disk_bytes"));
  EXPECT_THAT(p().info(b.h()), succeeds_with(Field(&sbx::sandbox_info::status, sbx::sandbox_status::running)));
  // Its files are still reachable through the sandbox's root.
  EXPECT_THAT(p().read_file(b.h(), "/f"), succeeds_with(std::string("x\n")));
}

}  // namespace
