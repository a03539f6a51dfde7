// SPDX-License-Identifier: Apache-2.0
// Volumes and snapshots of the local provider at the store level (volumes.cpp,
// snapshots.cpp), with scratch sandboxes standing in for live ones: the on-disk records, the
// "in use" rules, and layers that boot as overlay lowers (trusted.overlay.* here, as root
// without a user namespace; local_fs_provider_test covers user.overlay.* in real sandboxes).

#include "fs.hpp"
#include "scratch_sandbox.hpp"

#include <matchers.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>

namespace {

namespace stdfs = std::filesystem;
namespace lfs = sbx::local_impl::fs;
using sbx::error_kind;
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

class store : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    scratch_ = new stdfs::path(stdfs::temp_directory_path() / ("sbx-store-test-" + std::to_string(::getpid())));
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
    if (!scratch_) GTEST_SKIP() << "needs root for mount namespaces and overlayfs";
    dir_ = *scratch_ / testing::UnitTest::GetInstance()->current_test_info()->name();
    p_.root = dir_ / "state";
    stdfs::create_directories(p_.sandboxes());
  }
  void TearDown() override {
    boxes_.clear();
    locks_.clear();
    if (!dir_.empty()) stdfs::remove_all(dir_);
  }

  /// A scratch sandbox registered in the store the way the runtime registers a live one: a
  /// dir with a lock its "supervisor" holds and a state.json.
  sbx_test::scratch_sandbox& live(std::string id, std::vector<std::string> lowers,
                                  std::vector<std::pair<std::string, std::string>> binds = {}) {
    std::string joined;
    for (auto const& l : lowers) joined += (joined.empty() ? "" : ":") + l;
    auto sd = p_.sandbox(id);
    stdfs::create_directories(sd);
    auto& b = *boxes_.emplace_back(std::make_unique<sbx_test::scratch_sandbox>(sd, joined, binds));
    int fd = ::open((sd / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    EXPECT_EQ(::flock(fd, LOCK_EX), 0);
    locks_.emplace_back(fd);
    nlohmann::json s = {{"ready", true}, {"init_pid", b.init_pid()}, {"lowers", lowers}, {"upper", (sd / "upper").string()}};
    spit(sd / "state.json", s.dump());
    return b;
  }
  /// The sandbox `i` (in creation order) ends: its process and its supervisor's lock go.
  void end(std::size_t i) {
    boxes_[i]->stop();
    locks_[i].reset();
  }

  static inline stdfs::path* scratch_ = nullptr;
  static inline stdfs::path* image_ = nullptr;
  stdfs::path dir_;
  sbx::local_impl::store_paths p_;
  std::vector<std::unique_ptr<sbx_test::scratch_sandbox>> boxes_;
  std::vector<sbx::local_impl::unique_fd> locks_;
};

// ---- volumes ----------------------------------------------------------------------------

TEST_F(store, create_volume_records_what_it_was_asked) {
  auto v = lfs::create_volume(p_, {.name = "cache", .capacity_bytes = 1u << 30, .labels = {{"a", "b"}}});
  ASSERT_THAT(v, succeeds());
  EXPECT_THAT(v.value().id, testing::MatchesRegex("vol-[0-9a-f]{12}"));
  EXPECT_EQ(v.value().name, "cache");
  EXPECT_EQ(v.value().capacity_bytes, std::optional<std::uint64_t>(1u << 30));
  EXPECT_LT(std::chrono::abs(std::chrono::system_clock::now() - v.value().created), std::chrono::minutes(1));
  EXPECT_TRUE(stdfs::is_directory(p_.volume_data(v.value().id)));
  auto j = nlohmann::json::parse(slurp(p_.volume(v.value().id) / "volume.json"));
  EXPECT_EQ(j["name"], "cache");
  EXPECT_EQ(j["labels"]["a"], "b");
  EXPECT_EQ(j["capacity_bytes"], 1u << 30);
  // Nothing half-made is left next to it.
  EXPECT_EQ(std::distance(stdfs::directory_iterator(p_.volumes()), stdfs::directory_iterator()), 2);  // it + .lock
}

TEST_F(store, leftovers_of_a_crashed_create_or_delete_are_swept) {
  stdfs::create_directories(p_.volumes() / ".vol-000000000000.new" / "data");
  stdfs::create_directories(p_.snapshots() / ".snap-000000000000.deleting" / "layer");
  ASSERT_THAT(lfs::create_volume(p_, {.name = "v"}), succeeds());
  EXPECT_FALSE(stdfs::exists(p_.volumes() / ".vol-000000000000.new"));
  auto& a = live("sbx-a", {image_->string()});
  ASSERT_THAT(lfs::snapshot(p_, {"sbx-a", a.upper(), {*image_}}, ""), succeeds());
  EXPECT_FALSE(stdfs::exists(p_.snapshots() / ".snap-000000000000.deleting"));
}

TEST_F(store, volume_names_are_unique_and_checked) {
  ASSERT_THAT(lfs::create_volume(p_, {.name = "x"}), succeeds());
  auto dup = lfs::create_volume(p_, {.name = "x"});
  EXPECT_THAT(dup, fails_with(error_kind::already_exists));
  EXPECT_THAT(std::string(dup.error().message()), HasSubstr("\"x\""));
  EXPECT_THAT(lfs::create_volume(p_, {.name = "bad\nname"}), fails_with(error_kind::invalid_request));
  EXPECT_THAT(lfs::create_volume(p_, {.name = "y", .capacity_bytes = 0}), fails_with(error_kind::invalid_request));
  auto unnamed = lfs::create_volume(p_, {});
  ASSERT_THAT(unnamed, succeeds());
  EXPECT_EQ(unnamed.value().name, unnamed.value().id);
}

TEST_F(store, list_volumes_computes_used_bytes) {
  auto a = lfs::create_volume(p_, {.name = "a"});
  auto b = lfs::create_volume(p_, {.name = "b"});
  ASSERT_THAT(a, succeeds());
  ASSERT_THAT(b, succeeds());
  stdfs::create_directories(p_.volume_data(a.value().id) / "d");
  spit(p_.volume_data(a.value().id) / "d" / "f", std::string(12345, 'x'));
  spit(p_.volume_data(a.value().id) / "g", std::string(55, 'y'));
  auto l = lfs::list_volumes(p_, true);
  ASSERT_THAT(l, succeeds());
  using sbx::volume_info;
  EXPECT_THAT(l.value(), testing::UnorderedElementsAre(
                             testing::AllOf(Field(&volume_info::name, "a"), Field(&volume_info::used_bytes, 12345u + 55u)),
                             testing::AllOf(Field(&volume_info::name, "b"), Field(&volume_info::used_bytes, 0u))));
}

TEST_F(store, a_volume_a_live_sandbox_mounts_cannot_be_deleted) {
  auto v = lfs::create_volume(p_, {.name = "busy"});
  ASSERT_THAT(v, succeeds());
  auto id = v.value().id;
  spit(p_.volume_data(id) / "kept", "k");
  live("sbx-mounts-it", {image_->string()}, {{p_.volume_data(id).string(), "/data"}});
  live("sbx-other", {image_->string()});
  auto r = lfs::delete_volume(p_, id);
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("sbx-mounts-it"));
  EXPECT_EQ(slurp(p_.volume_data(id) / "kept"), "k");
  end(0);
  EXPECT_THAT(lfs::delete_volume(p_, id), succeeds());
  EXPECT_FALSE(stdfs::exists(p_.volume(id)));
  EXPECT_THAT(lfs::delete_volume(p_, id), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::delete_volume(p_, "../snapshots"), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::list_volumes(p_, true), succeeds_with(testing::IsEmpty()));
}

// ---- snapshots --------------------------------------------------------------------------

TEST_F(store, a_snapshot_layer_boots_with_files_whiteouts_and_opaque_dirs) {
  auto& a = live("sbx-a", {image_->string()});
  auto va = a.view(0, 0);
  ASSERT_THAT(lfs::write_file(va, "/work/hello", "hello", {.mode = 0640}), succeeds());
  ASSERT_THAT(lfs::remove(va, "/etc/issue", false), succeeds());
  ASSERT_THAT(lfs::remove(va, "/usr/share/zoneinfo/Etc", true), succeeds());
  ASSERT_THAT(lfs::write_file(va, "/usr/share/zoneinfo/Etc/mine", "m", {}), succeeds());
  ::chown((a.upper() / "work/hello").c_str(), 100123, 100456);

  auto s = lfs::snapshot(p_, {"sbx-a", a.upper(), {*image_}}, "first");
  ASSERT_THAT(s, succeeds());
  EXPECT_EQ(s.value().name, "first");
  EXPECT_EQ(s.value().source_sandbox, "sbx-a");
  EXPECT_GE(s.value().size_bytes, 5u);
  auto layer = p_.snapshot(s.value().id) / "layer";
  struct stat st{};
  ASSERT_EQ(::lstat((layer / "etc/issue").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0) << "the whiteout is kept";
  char val[8] = {};
  EXPECT_EQ(::lgetxattr((layer / "usr/share/zoneinfo/Etc").c_str(), "trusted.overlay.opaque", val, sizeof val), 1);
  ASSERT_EQ(::lstat((layer / "work/hello").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 100123u);
  EXPECT_EQ(st.st_gid, 100456u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  auto j = nlohmann::json::parse(slurp(p_.snapshot(s.value().id) / "snapshot.json"));
  EXPECT_EQ(j["lowers"], nlohmann::json::array({image_->string()}));
  EXPECT_TRUE(j["parent"].is_null());

  auto lowers = sbx::local_impl::snapshot_lowers(p_, s.value().id);
  ASSERT_THAT(lowers, succeeds_with(testing::ElementsAre(layer, *image_)));
  auto& b = live("sbx-b", {layer.string(), image_->string()});
  auto vb = b.view();
  EXPECT_THAT(lfs::read_file(vb, "/work/hello"), succeeds_with(std::string("hello")));
  EXPECT_THAT(lfs::exists(vb, "/etc/issue"), succeeds_with(false));
  EXPECT_THAT(lfs::exists(vb, "/etc/passwd"), succeeds_with(true));
  auto etc = lfs::list_dir(vb, "/usr/share/zoneinfo/Etc");
  ASSERT_THAT(etc, succeeds());
  ASSERT_EQ(etc.value().size(), 1u);
  EXPECT_EQ(etc.value()[0].name, "mine");
}

TEST_F(store, snapshots_stack_and_deletion_respects_users) {
  auto& a = live("sbx-a", {image_->string()});
  ASSERT_THAT(lfs::write_file(a.view(), "/one", "1", {}), succeeds());
  auto s1 = lfs::snapshot(p_, {"sbx-a", a.upper(), {*image_}}, "");
  ASSERT_THAT(s1, succeeds());
  EXPECT_EQ(s1.value().name, s1.value().id);
  EXPECT_THAT(lfs::snapshot(p_, {"sbx-a", a.upper(), {*image_}}, s1.value().name), fails_with(error_kind::already_exists));
  auto l1 = p_.snapshot(s1.value().id) / "layer";
  auto& b = live("sbx-b", {l1.string(), image_->string()});
  ASSERT_THAT(lfs::write_file(b.view(), "/two", "2", {}), succeeds());
  ASSERT_THAT(lfs::remove(b.view(), "/one", false), succeeds());
  auto s2 = lfs::snapshot(p_, {"sbx-b", b.upper(), {l1, *image_}}, "second");
  ASSERT_THAT(s2, succeeds());
  auto l2 = p_.snapshot(s2.value().id) / "layer";
  EXPECT_THAT(sbx::local_impl::snapshot_lowers(p_, s2.value().id), succeeds_with(testing::ElementsAre(l2, l1, *image_)));
  auto& c = live("sbx-c", {l2.string(), l1.string(), image_->string()});
  EXPECT_THAT(lfs::read_file(c.view(), "/two"), succeeds_with(std::string("2")));
  EXPECT_THAT(lfs::exists(c.view(), "/one"), succeeds_with(false));
  EXPECT_THAT(lfs::list_snapshots(p_), succeeds_with(testing::ElementsAre(Field(&sbx::snapshot_info::id, s1.value().id),
                                                                          Field(&sbx::snapshot_info::id, s2.value().id))));

  auto stacked = lfs::delete_snapshot(p_, s1.value().id);
  EXPECT_THAT(stacked, fails_with(error_kind::invalid_request));
  EXPECT_THAT(std::string(stacked.error().message()), HasSubstr(s2.value().id));
  auto booted = lfs::delete_snapshot(p_, s2.value().id);
  EXPECT_THAT(booted, fails_with(error_kind::invalid_request));
  EXPECT_THAT(std::string(booted.error().message()), HasSubstr("sbx-c"));
  end(2);
  EXPECT_THAT(lfs::delete_snapshot(p_, s2.value().id), succeeds());
  EXPECT_FALSE(stdfs::exists(p_.snapshot(s2.value().id)));
  EXPECT_THAT(lfs::delete_snapshot(p_, s1.value().id), fails_with(error_kind::invalid_request));  // sbx-b boots from it
  end(1);
  EXPECT_THAT(lfs::delete_snapshot(p_, s1.value().id), succeeds());
  EXPECT_THAT(lfs::delete_snapshot(p_, s1.value().id), fails_with(error_kind::not_found));
  EXPECT_THAT(sbx::local_impl::snapshot_lowers(p_, s1.value().id), fails_with(error_kind::not_found));
  EXPECT_THAT(sbx::local_impl::snapshot_lowers(p_, "../volumes"), fails_with(error_kind::not_found));
  EXPECT_THAT(lfs::list_snapshots(p_), succeeds_with(testing::IsEmpty()));
}

}  // namespace
