// SPDX-License-Identifier: Apache-2.0
// The local provider's file operations (providers/local/src/files.cpp) against a scratch
// sandbox: a process in its own mount and pid namespaces chrooted into an overlay of the
// default image. The provider-level tests (local_fs_provider_test) run the same operations
// through real local sandboxes.

#include "fs.hpp"
#include "scratch_sandbox.hpp"

#include <matchers.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

namespace {

namespace stdfs = std::filesystem;
namespace lfs = sbx::local_impl::fs;
using sbx::error_kind;
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

class fs_ops : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for mount namespaces and overlayfs";
    scratch_ = new stdfs::path(stdfs::temp_directory_path() / ("sbx-fs-test-" + std::to_string(::getpid())));
    stdfs::create_directories(*scratch_);
    image_ = new stdfs::path(sbx_test::default_image(*scratch_));
  }
  static void TearDownTestSuite() {
    if (scratch_) stdfs::remove_all(*scratch_);
    delete scratch_;
    delete image_;
    scratch_ = image_ = nullptr;
  }
  void SetUp() override {
    if (!scratch_) GTEST_SKIP();
    dir_ = *scratch_ / testing::UnitTest::GetInstance()->current_test_info()->name();
    stdfs::create_directories(dir_ / "host");
    box_ = std::make_unique<sbx_test::scratch_sandbox>(dir_ / "box", image_->string());
    v_ = box_->view();
  }
  void TearDown() override {
    box_.reset();
    if (!dir_.empty()) stdfs::remove_all(dir_);
  }

  static stdfs::path* scratch_;
  static stdfs::path* image_;
  stdfs::path dir_;
  std::unique_ptr<sbx_test::scratch_sandbox> box_;
  sbx::local_impl::sandbox_view v_;
};
stdfs::path* fs_ops::scratch_ = nullptr;
stdfs::path* fs_ops::image_ = nullptr;

TEST_F(fs_ops, write_then_read_returns_the_same_bytes_and_mode) {
  std::string data("hello\0world\n", 12);
  ASSERT_THAT(lfs::write_file(v_, "/tmp/a/b/hello.bin", data, {.mode = 0600}), succeeds());
  EXPECT_THAT(lfs::read_file(v_, "/tmp/a/b/hello.bin"), succeeds_with(data));
  EXPECT_THAT(lfs::stat(v_, "/tmp/a/b/hello.bin"),
              succeeds_with(testing::AllOf(Field(&file_info::mode, 0600u), Field(&file_info::size, 12u),
                                           Field(&file_info::type, file_type::regular))));
  // The bytes really are in the sandbox's upper layer, not anywhere else.
  EXPECT_EQ(slurp(box_->upper() / "tmp/a/b/hello.bin"), data);
}

TEST_F(fs_ops, write_replaces_atomically_and_leaves_no_temp_files) {
  ASSERT_THAT(lfs::write_file(v_, "/etc/motd", "one", {}), succeeds());
  ASSERT_THAT(lfs::write_file(v_, "/etc/motd", "two", {.mode = 0640}), succeeds());
  EXPECT_THAT(lfs::read_file(v_, "/etc/motd"), succeeds_with(std::string("two")));
  auto entries = lfs::list_dir(v_, "/etc");
  ASSERT_THAT(entries, succeeds());
  for (auto const& e : entries.value()) EXPECT_THAT(e.name, testing::Not(HasSubstr(".sbx-"))) << e.path;
}

TEST_F(fs_ops, write_without_create_parents_into_a_missing_dir_is_not_found) {
  auto r = lfs::write_file(v_, "/nope/x.txt", "x", {.create_parents = false});
  EXPECT_THAT(r, fails_with(error_kind::not_found));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("/nope"));
}

TEST_F(fs_ops, relative_paths_are_invalid_and_quoted) {
  auto r = lfs::read_file(v_, "etc/passwd");
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("\"etc/passwd\""));
  EXPECT_THAT(lfs::write_file(v_, "x", "y", {}), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::stat(v_, ""), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::exists(v_, "tmp"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::make_dir(v_, "a/b"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::remove(v_, "tmp", true), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::rename(v_, "/tmp", "tmp2"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::list_dir(v_, "."), fails_with(error_kind::invalid_request));
}

TEST_F(fs_ops, a_missing_file_is_not_found_naming_the_path) {
  auto r = lfs::read_file(v_, "/no/such/file");
  ASSERT_THAT(r, fails_with(error_kind::not_found));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("/no/such/file"));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("No such file"));
  EXPECT_THAT(lfs::stat(v_, "/no/such"), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::list_dir(v_, "/no/such"), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::remove(v_, "/no/such", false), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::rename(v_, "/no/such", "/tmp/x"), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::read_file(v_, "/no", [](std::string_view) { return sbx::result<void>(sbx::success()); }),
              fails_with(error_kind::not_found));
}

TEST_F(fs_ops, a_directory_where_a_file_is_expected_is_invalid) {
  EXPECT_THAT(lfs::read_file(v_, "/etc"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::write_file(v_, "/etc", "x", {}), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::write_file(v_, "/", "x", {}), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::list_dir(v_, "/etc/passwd"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::make_dir(v_, "/etc/passwd/x"), fails_with(error_kind::invalid_request));
  // A FIFO the sandbox planted is refused without opening it (opening would block).
  ASSERT_EQ(::mkfifo((box_->upper() / "fifo").c_str(), 0644), 0);
  EXPECT_THAT(lfs::read_file(v_, "/fifo"), fails_with(error_kind::invalid_request));
}

TEST_F(fs_ops, list_dir_fills_every_field) {
  ASSERT_THAT(lfs::write_file(v_, "/d/f", "12345", {.mode = 0751}), succeeds());
  ASSERT_THAT(lfs::make_dir(v_, "/d/sub"), succeeds());
  stdfs::create_symlink("/etc/passwd", box_->upper() / "d/link");
  auto r = lfs::list_dir(v_, "/d");
  ASSERT_THAT(r, succeeds());
  auto const& l = r.value();
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].name, "f");
  EXPECT_EQ(l[0].path, "/d/f");
  EXPECT_EQ(l[0].type, file_type::regular);
  EXPECT_EQ(l[0].size, 5u);
  EXPECT_EQ(l[0].mode, 0751u);
  auto age = std::chrono::system_clock::now() - l[0].modified;
  EXPECT_LT(std::chrono::abs(age), std::chrono::minutes(1));
  EXPECT_EQ(l[1].name, "link");
  EXPECT_EQ(l[1].type, file_type::symlink);
  EXPECT_EQ(l[1].link_target, "/etc/passwd");
  EXPECT_EQ(l[2].name, "sub");
  EXPECT_EQ(l[2].type, file_type::directory);
}

TEST_F(fs_ops, stat_does_not_follow_the_last_symlink) {
  stdfs::create_symlink("/etc/passwd", box_->upper() / "lnk");
  EXPECT_THAT(lfs::stat(v_, "/lnk"), succeeds_with(testing::AllOf(Field(&file_info::type, file_type::symlink),
                                                                  Field(&file_info::link_target, "/etc/passwd"),
                                                                  Field(&file_info::name, "lnk"))));
  EXPECT_THAT(lfs::stat(v_, "/"), succeeds_with(Field(&file_info::type, file_type::directory)));
  EXPECT_THAT(lfs::stat(v_, "/usr/bin/../bin/sh"), succeeds_with(Field(&file_info::path, "/usr/bin/sh")));
}

TEST_F(fs_ops, exists_is_a_value) {
  EXPECT_THAT(lfs::exists(v_, "/etc/passwd"), succeeds_with(true));
  EXPECT_THAT(lfs::exists(v_, "/etc/nope"), succeeds_with(false));
  EXPECT_THAT(lfs::exists(v_, "/etc/passwd/x"), succeeds_with(false));
  stdfs::create_symlink("/nowhere", box_->upper() / "dangling");
  EXPECT_THAT(lfs::exists(v_, "/dangling"), succeeds_with(true));
}

TEST_F(fs_ops, make_dir_is_mkdir_p) {
  ASSERT_THAT(lfs::make_dir(v_, "/a/b/c/d"), succeeds());
  ASSERT_THAT(lfs::make_dir(v_, "/a/b/c/d"), succeeds());
  EXPECT_THAT(lfs::stat(v_, "/a/b/c/d"), succeeds_with(Field(&file_info::type, file_type::directory)));
  EXPECT_TRUE(stdfs::is_directory(box_->upper() / "a/b/c/d"));
  EXPECT_THAT(lfs::make_dir(v_, "/"), succeeds());
}

TEST_F(fs_ops, remove_rules) {
  ASSERT_THAT(lfs::write_file(v_, "/r/x/y/z", "z", {}), succeeds());
  ASSERT_THAT(lfs::write_file(v_, "/r/f", "f", {}), succeeds());
  EXPECT_THAT(lfs::remove(v_, "/r/f", false), succeeds());
  EXPECT_THAT(lfs::exists(v_, "/r/f"), succeeds_with(false));
  auto r = lfs::remove(v_, "/r", false);
  EXPECT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::exists(v_, "/r/x/y/z"), succeeds_with(true));
  EXPECT_THAT(lfs::remove(v_, "/r", true), succeeds());
  EXPECT_THAT(lfs::exists(v_, "/r"), succeeds_with(false));
  EXPECT_THAT(lfs::remove(v_, "/r", true), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::remove(v_, "/", true), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::remove(v_, "/tmp/..", true), fails_with(error_kind::invalid_request));
  // Removing a file from the image leaves a whiteout in the upper layer.
  ASSERT_THAT(lfs::remove(v_, "/etc/issue", false), succeeds());
  EXPECT_THAT(lfs::exists(v_, "/etc/issue"), succeeds_with(false));
  struct stat st{};
  ASSERT_EQ(::lstat((box_->upper() / "etc/issue").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_TRUE(stdfs::exists(*image_ / "etc/issue"));
}

TEST_F(fs_ops, recursive_remove_does_not_follow_symlinks) {
  ASSERT_THAT(lfs::write_file(v_, "/keep/precious", "p", {}), succeeds());
  ASSERT_THAT(lfs::make_dir(v_, "/doomed"), succeeds());
  stdfs::create_directory_symlink("/keep", box_->upper() / "doomed/link");
  ASSERT_THAT(lfs::remove(v_, "/doomed", true), succeeds());
  EXPECT_THAT(lfs::read_file(v_, "/keep/precious"), succeeds_with(std::string("p")));
}

TEST_F(fs_ops, rename_moves_and_replaces) {
  ASSERT_THAT(lfs::write_file(v_, "/m/a", "A", {}), succeeds());
  ASSERT_THAT(lfs::write_file(v_, "/m/b", "B", {}), succeeds());
  ASSERT_THAT(lfs::rename(v_, "/m/a", "/m/b"), succeeds());
  EXPECT_THAT(lfs::read_file(v_, "/m/b"), succeeds_with(std::string("A")));
  EXPECT_THAT(lfs::exists(v_, "/m/a"), succeeds_with(false));
  ASSERT_THAT(lfs::rename(v_, "/m", "/n"), succeeds());
  EXPECT_THAT(lfs::read_file(v_, "/n/b"), succeeds_with(std::string("A")));
  EXPECT_THAT(lfs::rename(v_, "/n", "/n/inside"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::rename(v_, "/", "/x"), fails_with(error_kind::invalid_request));
}

TEST_F(fs_ops, files_created_from_the_host_belong_to_the_sandbox_root) {
  auto v = box_->view(100000, 100007);
  ASSERT_THAT(lfs::write_file(v, "/own/deep/f", "x", {.mode = 04755}), succeeds());
  ASSERT_THAT(lfs::make_dir(v, "/own2/a"), succeeds());
  for (auto p : {"own", "own/deep", "own/deep/f", "own2", "own2/a"}) {
    struct stat st{};
    ASSERT_EQ(::lstat((box_->upper() / p).c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_uid, 100000u) << p;
    EXPECT_EQ(st.st_gid, 100007u) << p;
  }
  struct stat st{};
  ASSERT_EQ(::stat((box_->upper() / "own/deep/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);  // set after chown, so the set-id bit survives
}

TEST_F(fs_ops, streamed_100_mib_write_and_read_keep_memory_flat) {
  constexpr std::size_t total = 100u << 20;
  std::mt19937_64 rng(42);
  std::uint64_t written_sum = 0, read_sum = 0;
  std::size_t produced = 0;
  long rss0 = rss_kib();
  auto t0 = std::chrono::steady_clock::now();
  auto src = [&](std::span<char> buf) -> sbx::result<std::size_t> {
    std::size_t n = std::min(buf.size(), total - produced);
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      std::uint64_t x = rng();
      std::memcpy(buf.data() + i, &x, 8);
      written_sum += x;
    }
    produced += n;
    return n;
  };
  ASSERT_THAT(lfs::write_file(v_, "/big.bin", sbx::byte_source(src), {}), succeeds());
  auto t1 = std::chrono::steady_clock::now();
  long rss1 = rss_kib();
  std::size_t consumed = 0, max_piece = 0;
  auto sink = [&](std::string_view piece) -> sbx::result<void> {
    max_piece = std::max(max_piece, piece.size());
    for (std::size_t i = 0; i + 8 <= piece.size(); i += 8) {
      std::uint64_t x;
      std::memcpy(&x, piece.data() + i, 8);
      read_sum += x;
    }
    consumed += piece.size();
    return sbx::success();
  };
  ASSERT_THAT(lfs::read_file(v_, "/big.bin", sbx::byte_sink(sink)), succeeds());
  auto t2 = std::chrono::steady_clock::now();
  long rss2 = rss_kib();
  EXPECT_EQ(consumed, total);
  EXPECT_EQ(read_sum, written_sum);
  EXPECT_LE(max_piece, 1u << 20);
  EXPECT_LT(rss1 - rss0, 16 * 1024) << "write grew RSS by " << (rss1 - rss0) << " KiB";
  EXPECT_LT(rss2 - rss0, 16 * 1024) << "read grew RSS by " << (rss2 - rss0) << " KiB";
  auto mibps = [](std::chrono::steady_clock::duration d) {
    return 100.0 / std::chrono::duration<double>(d).count();
  };
  std::printf("[ figures  ] 100 MiB streamed: write %.0f MiB/s, read %.0f MiB/s, RSS growth %ld KiB / %ld KiB\n",
              mibps(t1 - t0), mibps(t2 - t1), rss1 - rss0, rss2 - rss0);
}

TEST_F(fs_ops, a_sink_error_stops_the_read) {
  ASSERT_THAT(lfs::write_file(v_, "/two-chunks", std::string(3u << 20, 'x'), {}), succeeds());
  int calls = 0;
  auto r = lfs::read_file(v_, "/two-chunks", [&](std::string_view) -> sbx::result<void> {
    ++calls;
    return sbx::make_error(error_kind::cancelled, "stop");
  });
  EXPECT_THAT(r, fails_with(error_kind::cancelled));
  EXPECT_EQ(calls, 1);
}

TEST_F(fs_ops, a_source_error_leaves_the_old_file) {
  ASSERT_THAT(lfs::write_file(v_, "/keep.txt", "old", {}), succeeds());
  auto r = lfs::write_file(v_, "/keep.txt", sbx::byte_source([](std::span<char>) -> sbx::result<std::size_t> {
    return sbx::make_error(error_kind::cancelled, "source broke");
  }), {});
  EXPECT_THAT(r, fails_with(error_kind::cancelled));
  EXPECT_THAT(lfs::read_file(v_, "/keep.txt"), succeeds_with(std::string("old")));
  EXPECT_EQ(std::distance(stdfs::directory_iterator(box_->upper()), stdfs::directory_iterator()), 1);
}

// ---- upload / download ------------------------------------------------------------------

void make_tree(stdfs::path const& t) {
  stdfs::create_directories(t / "bin");
  stdfs::create_directories(t / "empty");
  stdfs::create_directories(t / "secret");
  spit(t / "bin" / "run.sh", "#!/bin/sh\necho hi\n");
  stdfs::permissions(t / "bin" / "run.sh", stdfs::perms(0755));
  spit(t / "secret" / "key", "k");
  stdfs::permissions(t / "secret" / "key", stdfs::perms(0600));
  stdfs::permissions(t / "secret", stdfs::perms(0700));
  spit(t / "readme", std::string(3u << 20, 'r'));  // more than one chunk
  stdfs::create_symlink("bin/run.sh", t / "rel-link");
  stdfs::create_symlink("/etc/passwd", t / "abs-link");
}

TEST_F(fs_ops, upload_copies_a_tree_with_modes_and_symlinks) {
  make_tree(dir_ / "host" / "tree");
  auto v = box_->view(100000, 100000);
  ASSERT_THAT(lfs::upload(v, (dir_ / "host" / "tree").string(), "/srv/app"), succeeds());
  EXPECT_THAT(lfs::read_file(v, "/srv/app/bin/run.sh"), succeeds_with(std::string("#!/bin/sh\necho hi\n")));
  EXPECT_THAT(lfs::stat(v, "/srv/app/bin/run.sh"), succeeds_with(Field(&file_info::mode, 0755u)));
  EXPECT_THAT(lfs::stat(v, "/srv/app/secret"), succeeds_with(Field(&file_info::mode, 0700u)));
  EXPECT_THAT(lfs::stat(v, "/srv/app/secret/key"), succeeds_with(Field(&file_info::mode, 0600u)));
  EXPECT_THAT(lfs::stat(v, "/srv/app/empty"), succeeds_with(Field(&file_info::type, file_type::directory)));
  EXPECT_THAT(lfs::stat(v, "/srv/app/readme"), succeeds_with(Field(&file_info::size, 3u << 20)));
  EXPECT_THAT(lfs::stat(v, "/srv/app/rel-link"), succeeds_with(Field(&file_info::link_target, "bin/run.sh")));
  EXPECT_THAT(lfs::stat(v, "/srv/app/abs-link"), succeeds_with(Field(&file_info::link_target, "/etc/passwd")));
  // The absolute link means the sandbox's /etc/passwd, and reading through it says so.
  EXPECT_THAT(lfs::read_file(v, "/srv/app/abs-link"), succeeds_with(HasSubstr("root:x:0:0")));
  EXPECT_THAT(lfs::read_file(v, "/srv/app/abs-link"), succeeds_with(testing::Not(HasSubstr("daemon:"))));
  for (auto p : {"srv/app", "srv/app/bin/run.sh", "srv/app/abs-link", "srv/app/secret/key"}) {
    struct stat st{};
    ASSERT_EQ(::lstat((box_->upper() / p).c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_uid, 100000u) << p;
  }
  // A single file, and a missing local path.
  ASSERT_THAT(lfs::upload(v, (dir_ / "host" / "tree" / "secret" / "key").string(), "/one/key"), succeeds());
  EXPECT_THAT(lfs::stat(v, "/one/key"), succeeds_with(Field(&file_info::mode, 0600u)));
  EXPECT_THAT(lfs::upload(v, (dir_ / "host" / "missing").string(), "/x"), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::upload(v, (dir_ / "host" / "tree").string(), "relative"), fails_with(error_kind::invalid_request));
}

TEST_F(fs_ops, download_copies_a_tree_back_with_modes_and_symlinks) {
  make_tree(dir_ / "host" / "tree");
  ASSERT_THAT(lfs::upload(v_, (dir_ / "host" / "tree").string(), "/srv/app"), succeeds());
  ASSERT_THAT(lfs::write_file(v_, "/srv/app/suid", "x", {.mode = 04755}), succeeds());
  auto out = dir_ / "host" / "out";
  ASSERT_THAT(lfs::download(v_, "/srv/app", out.string()), succeeds());
  EXPECT_EQ(slurp(out / "bin" / "run.sh"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(slurp(out / "readme").size(), 3u << 20);
  EXPECT_EQ(stdfs::status(out / "bin" / "run.sh").permissions(), stdfs::perms(0755));
  EXPECT_EQ(stdfs::status(out / "secret").permissions(), stdfs::perms(0700));
  EXPECT_EQ(stdfs::status(out / "secret" / "key").permissions(), stdfs::perms(0600));
  EXPECT_TRUE(stdfs::is_directory(out / "empty"));
  EXPECT_EQ(stdfs::read_symlink(out / "rel-link"), "bin/run.sh");
  EXPECT_EQ(stdfs::read_symlink(out / "abs-link"), "/etc/passwd");
  // No set-id bit comes out of a sandbox onto the host.
  EXPECT_EQ(stdfs::status(out / "suid").permissions(), stdfs::perms(0755));
  // Single file; missing remote path.
  ASSERT_THAT(lfs::download(v_, "/srv/app/secret/key", (dir_ / "host" / "key").string()), succeeds());
  EXPECT_EQ(slurp(dir_ / "host" / "key"), "k");
  EXPECT_THAT(lfs::download(v_, "/srv/nope", (dir_ / "host" / "nope").string()), fails_with(error_kind::not_found));
  EXPECT_FALSE(stdfs::exists(dir_ / "host" / "nope"));
}

// ---- escapes ----------------------------------------------------------------------------

class fs_escape : public fs_ops {
 protected:
  void SetUp() override {
    fs_ops::SetUp();
    if (!box_) return;
    canary_dir_ = dir_ / "host" / "canary";
    stdfs::create_directories(canary_dir_);
    canary_ = canary_dir_ / "secret.txt";
    spit(canary_, "HOST-SECRET");
    // Links a hostile sandbox could plant, pointing at the host's canary by absolute path and
    // by enough ".." to climb out of any root.
    std::string up = "../../../../../../../../../../../..";
    stdfs::create_symlink(canary_, box_->upper() / "abs");
    stdfs::create_symlink(up + canary_.string(), box_->upper() / "climb");
    stdfs::create_directory_symlink(canary_dir_, box_->upper() / "absdir");
    stdfs::create_directory_symlink(up + canary_dir_.string(), box_->upper() / "climbdir");
    stdfs::create_symlink("/etc/shadow", box_->upper() / "shadow");
    // The same path also exists inside the sandbox, so the links resolve (there) instead of
    // dangling: the case where following them out would be easiest to miss.
    stdfs::create_directories(box_->upper() / canary_dir_.relative_path());
  }
  void expect_canary_intact() {
    EXPECT_EQ(slurp(canary_), "HOST-SECRET");
    EXPECT_EQ(std::distance(stdfs::directory_iterator(canary_dir_), stdfs::directory_iterator()), 1);
  }
  stdfs::path canary_dir_, canary_;
};

TEST_F(fs_escape, reads_through_planted_symlinks_stay_inside) {
  for (auto p : {"/abs", "/climb", "/absdir/secret.txt", "/climbdir/secret.txt", "/shadow"}) {
    auto r = lfs::read_file(v_, p);
    EXPECT_THAT(r, fails_with(error_kind::not_found)) << p;  // no such path inside the sandbox
  }
  EXPECT_THAT(lfs::list_dir(v_, "/absdir"), succeeds_with(testing::IsEmpty()));
  EXPECT_THAT(lfs::list_dir(v_, "/climbdir"), succeeds_with(testing::IsEmpty()));
  // /proc magic links (/proc/<pid>/root, /proc/self/cwd...) are refused outright.
  auto r = lfs::read_file(v_, "/proc/1/root/etc/passwd");
  EXPECT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::read_file(v_, "/proc/self/root/etc/hostname"), testing::Not(succeeds()));
  expect_canary_intact();
}

TEST_F(fs_escape, writes_through_planted_symlinks_stay_inside) {
  // The final component is replaced, never written through.
  ASSERT_THAT(lfs::write_file(v_, "/abs", "pwned", {}), succeeds());
  EXPECT_THAT(lfs::stat(v_, "/abs"), succeeds_with(Field(&file_info::type, file_type::regular)));
  // A link in the middle resolves inside the sandbox: the write lands in the sandbox.
  ASSERT_THAT(lfs::write_file(v_, "/absdir/secret.txt", "pwned", {}), succeeds());
  ASSERT_THAT(lfs::write_file(v_, "/climbdir/new.txt", "pwned", {}), succeeds());
  EXPECT_EQ(slurp(box_->upper() / canary_.relative_path() ), "pwned");
  ASSERT_THAT(lfs::make_dir(v_, "/climbdir/made"), succeeds());
  ASSERT_THAT(lfs::remove(v_, "/absdir/secret.txt", false), succeeds());
  ASSERT_THAT(lfs::rename(v_, "/climbdir/new.txt", "/absdir/moved"), succeeds());
  expect_canary_intact();
}

TEST_F(fs_escape, upload_through_planted_symlinks_stays_inside) {
  make_tree(dir_ / "host" / "tree");
  stdfs::create_directories(dir_ / "host" / "tree2" / "absdir");
  spit(dir_ / "host" / "tree2" / "absdir" / "secret.txt", "pwned");
  ASSERT_THAT(lfs::upload(v_, (dir_ / "host" / "tree").string(), "/absdir/up"), succeeds());
  ASSERT_THAT(lfs::upload(v_, (dir_ / "host" / "tree").string(), "/climbdir"), succeeds());
  ASSERT_THAT(lfs::upload(v_, (dir_ / "host" / "tree" / "readme").string(), "/abs"), succeeds());
  // A tree whose directory meets a planted link in the destination is refused there.
  EXPECT_THAT(lfs::upload(v_, (dir_ / "host" / "tree2").string(), "/"), fails_with(error_kind::invalid_request));
  expect_canary_intact();
}

TEST_F(fs_escape, download_never_follows_links_out_of_either_root) {
  // A tree holding links to the host: they come out as links, nothing is read through them.
  ASSERT_THAT(lfs::make_dir(v_, "/loot"), succeeds());
  stdfs::create_symlink(canary_, box_->upper() / "loot" / "abs");
  stdfs::create_directory_symlink("../../../../../../../.." + canary_dir_.string(), box_->upper() / "loot" / "climbdir");
  stdfs::create_symlink("/etc/shadow", box_->upper() / "loot" / "shadow");
  auto out = dir_ / "host" / "out";
  ASSERT_THAT(lfs::download(v_, "/loot", out.string()), succeeds());
  EXPECT_TRUE(stdfs::is_symlink(out / "abs"));
  EXPECT_TRUE(stdfs::is_symlink(out / "climbdir"));
  EXPECT_TRUE(stdfs::is_symlink(out / "shadow"));
  // Downloading a top-level planted link makes a link, not a copy of the host file.
  ASSERT_THAT(lfs::download(v_, "/abs", (dir_ / "host" / "abs-copy").string()), succeeds());
  EXPECT_TRUE(stdfs::is_symlink(dir_ / "host" / "abs-copy"));
  // Paths through a planted directory link resolve inside the sandbox, where nothing is.
  EXPECT_THAT(lfs::download(v_, "/absdir/secret.txt", (dir_ / "host" / "x").string()), fails_with(error_kind::not_found));
  // A second download over the first one must not write through the links it created.
  ASSERT_THAT(lfs::make_dir(v_, "/loot2/climbdir"), succeeds());
  ASSERT_THAT(lfs::write_file(v_, "/loot2/climbdir/secret.txt", "pwned", {}), succeeds());
  ASSERT_THAT(lfs::write_file(v_, "/loot2/abs", "pwned", {}), succeeds());
  auto r = lfs::download(v_, "/loot2", out.string());
  EXPECT_THAT(r, fails_with(error_kind::invalid_request));  // out/climbdir is a link, not a dir
  expect_canary_intact();
  EXPECT_EQ(slurp("/etc/shadow").find("pwned"), std::string::npos);
}

TEST_F(fs_ops, a_sandbox_that_is_gone_is_not_found) {
  box_->stop();
  EXPECT_THAT(lfs::read_file(v_, "/etc/passwd"), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::exists(v_, "/etc/passwd"), fails_with(error_kind::not_found));
}

}  // namespace
