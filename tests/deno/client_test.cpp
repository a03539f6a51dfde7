// SPDX-License-Identifier: Apache-2.0
// sbx::deno against `sbx serve --dialect deno` in this process: every operation the provider
// offers, end to end over real local sandboxes.
#include "deno_support.hpp"

#include <sbx/any.hpp>

#include <matchers.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <fstream>
#include <thread>

namespace sbx::test {
namespace {

using namespace std::chrono_literals;
using testing::AllOf;
using testing::ElementsAre;
using testing::Field;
using testing::HasSubstr;
using testing::Not;
using testing::StartsWith;
using testing::UnorderedElementsAre;
namespace fs = std::filesystem;

struct deno_client : testing::Test {
  void SetUp() override { SBX_REQUIRE_DENO_SERVER(); }
  client<deno> c{deno_for_test_server()};

  sandbox<deno> make(request<deno> const& r = {}) {
    auto b = c.create(r);
    // Thrown, so that gtest fails this test and goes on with the next.
    if (!b) throw std::runtime_error("create failed: " + b.error().to_string());
    return std::move(b).value();
  }
};

TEST_F(deno_client, exec_returns_stdout_stderr_and_exit_code_as_values) {
  auto box = make();
  EXPECT_THAT(box.id(), testing::MatchesRegex("sbx_[a-z]{3}_[0-9a-hjkmnp-z]{20}"));
  auto r = box.exec({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_THAT(r, succeeds());
  EXPECT_EQ(r.value().stdout_data, "out\n");
  EXPECT_EQ(r.value().stderr_data, "err\n");
  EXPECT_EQ(r.value().exit_code, 3);
}

TEST_F(deno_client, sh_quotes_every_argument) {
  auto box = make();
  auto r = box.sh("printf '%s|' {} {}", "a b'c", "$HOME;x");
  ASSERT_THAT(r, succeeds());
  EXPECT_EQ(r.value().stdout_data, "a b'c|$HOME;x|");
}

TEST_F(deno_client, exec_feeds_stdin_and_sets_env_and_cwd) {
  auto box = make();
  auto r = box.exec(exec_request({"/bin/sh", "-c", "cat; echo \"$GREETING\"; pwd"})
                        .with_stdin("from stdin\n")
                        .with_env("GREETING", "hi there")
                        .in("/tmp"));
  ASSERT_THAT(r, succeeds());
  EXPECT_EQ(r.value().stdout_data, "from stdin\nhi there\n/tmp\n");
}

TEST_F(deno_client, exec_of_a_missing_program_is_exec_failed_or_127) {
  auto box = make();
  auto r = box.exec({"/no/such/program"});
  // Deno's spawn fails with NotFound; a server running it through a shell reports 127.
  if (r) EXPECT_EQ(r.value().exit_code, 127);
  else EXPECT_EQ(r.error().kind(), error_kind::exec_failed) << r.error().to_string();
}

TEST_F(deno_client, exec_timeout_kills_and_keeps_partial_output) {
  auto box = make();
  auto t0 = std::chrono::steady_clock::now();
  auto r = box.exec(exec_request({"/bin/sh", "-c", "echo started; sleep 30"}).with_timeout(1500ms));
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_THAT(r, fails_with(error_kind::timeout));
  EXPECT_EQ(r.error().detail().partial_stdout, "started\n");
  EXPECT_LT(took, 6s);
}

TEST_F(deno_client, exec_output_is_capped_and_flagged) {
  auto box = make();
  exec_request rq({"/bin/sh", "-c", "head -c 100000 /dev/zero"});
  rq.output_limit = 1000;
  auto r = box.exec(rq);
  ASSERT_THAT(r, succeeds());
  EXPECT_EQ(r.value().stdout_data.size(), 1000u);
  EXPECT_TRUE(r.value().stdout_truncated);
  EXPECT_FALSE(r.value().stderr_truncated);
}

TEST_F(deno_client, exec_streams_output_while_running) {
  auto box = make();
  std::vector<std::pair<output_stream, std::chrono::steady_clock::time_point>> seen;
  exec_request rq({"/bin/sh", "-c", "echo one; sleep 1; echo two >&2"});
  rq.on_output = [&](output_stream s, std::string_view) { seen.emplace_back(s, std::chrono::steady_clock::now()); };
  auto end_ok = box.exec(rq);
  auto end = std::chrono::steady_clock::now();
  ASSERT_THAT(end_ok, succeeds());
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front().first, output_stream::out);
  EXPECT_GT(end - seen.front().second, 500ms) << "the first line should arrive before the command ends";
}

TEST_F(deno_client, spawn_streams_writes_stdin_and_waits) {
  auto box = make();
  auto p = box.spawn({"cat"});
  ASSERT_THAT(p, succeeds());
  auto& proc = p.value();
  ASSERT_THAT(proc.write_stdin("ping\n"), succeeds());
  auto chunk = proc.read(5s);
  ASSERT_THAT(chunk, succeeds());
  ASSERT_TRUE(chunk.value().has_value());
  EXPECT_EQ(chunk.value()->data, "ping\n");
  EXPECT_EQ(chunk.value()->stream, output_stream::out);
  ASSERT_THAT(proc.close_stdin(), succeeds());
  auto st = proc.wait(5s);
  ASSERT_THAT(st, succeeds());
  EXPECT_EQ(st.value().exit_code, 0);
  auto eof = proc.read(5s);
  ASSERT_THAT(eof, succeeds());
  EXPECT_FALSE(eof.value().has_value());
}

TEST_F(deno_client, spawn_wait_times_out_while_running_and_kill_ends_it) {
  auto box = make();
  auto p = box.spawn({"sleep", "30"});
  ASSERT_THAT(p, succeeds());
  EXPECT_THAT(p.value().wait(300ms), fails_with(error_kind::timeout));
  ASSERT_THAT(p.value().kill(15), succeeds());
  auto st = p.value().wait(5s);
  ASSERT_THAT(st, succeeds());
  EXPECT_EQ(st.value().signal, 15);
  EXPECT_EQ(st.value().exit_code, 143);
  EXPECT_THAT(p.value().kill(9), succeeds());  // already gone: still success
}

TEST_F(deno_client, concurrent_execs_on_one_sandbox) {
  auto box = make();
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      auto r = box.exec({"/bin/sh", "-c", "sleep 0.3; echo " + std::to_string(i)});
      if (r && r.value().stdout_data == std::to_string(i) + "\n") ++ok;
    });
  auto t0 = std::chrono::steady_clock::now();
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok, 8);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2400ms) << "the execs should overlap, not queue";
}

TEST_F(deno_client, files_write_read_stat_list_rename_remove) {
  auto box = make();
  ASSERT_THAT(box.write_file("/tmp/d/sub/a.txt", "hello"), succeeds());  // parents created
  EXPECT_THAT(box.read_file("/tmp/d/sub/a.txt"), succeeds_with(std::string("hello")));
  auto st = box.stat("/tmp/d/sub/a.txt");
  ASSERT_THAT(st, succeeds());
  EXPECT_EQ(st.value().type, file_type::regular);
  EXPECT_EQ(st.value().size, 5u);
  EXPECT_EQ(st.value().name, "a.txt");
  EXPECT_EQ(st.value().mode, 0644u);
  ASSERT_THAT(box.make_dir("/tmp/d/x/y/z"), succeeds());
  ASSERT_THAT(box.make_dir("/tmp/d/x/y/z"), succeeds());  // -p: existing is fine
  EXPECT_THAT(box.make_dir("/tmp/d/sub/a.txt"), fails_with(error_kind::invalid_request));
  auto ls = box.list("/tmp/d");
  ASSERT_THAT(ls, succeeds());
  std::vector<std::pair<std::string, file_type>> names;
  for (auto const& f : ls.value()) names.emplace_back(f.name, f.type);
  EXPECT_THAT(names, UnorderedElementsAre(std::pair{std::string("sub"), file_type::directory},
                                          std::pair{std::string("x"), file_type::directory}));
  ASSERT_THAT(box.rename("/tmp/d/sub/a.txt", "/tmp/d/b.txt"), succeeds());
  EXPECT_THAT(box.exists("/tmp/d/sub/a.txt"), succeeds_with(false));
  EXPECT_THAT(box.exists("/tmp/d/b.txt"), succeeds_with(true));
  EXPECT_THAT(box.remove("/tmp/d/x"), testing::Not(succeeds()));  // not empty, not recursive
  ASSERT_THAT(box.remove("/tmp/d", true), succeeds());
  EXPECT_THAT(box.exists("/tmp/d"), succeeds_with(false));
}

TEST_F(deno_client, file_errors_have_their_kinds) {
  auto box = make();
  EXPECT_THAT(box.read_file("/nonexistent/file"), fails_with(error_kind::not_found));
  EXPECT_THAT(box.stat("/nonexistent"), fails_with(error_kind::not_found));
  EXPECT_THAT(box.read_file("relative/path"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(box.remove("/nonexistent"), fails_with(error_kind::not_found));
}

TEST_F(deno_client, binary_and_large_files_stream_both_ways) {
  auto box = make();
  std::string big(9 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  ASSERT_THAT(box.write_file("/tmp/big.bin", big), succeeds());  // > 4 MiB: sent as a stream
  std::string back;
  ASSERT_THAT(box.read_file("/tmp/big.bin", [&](std::string_view piece) -> result<void> {
    back.append(piece);
    return success();
  }), succeeds());
  EXPECT_EQ(back.size(), big.size());
  EXPECT_TRUE(back == big);
  std::size_t at = 0;
  ASSERT_THAT(box.write_file("/tmp/big2.bin", byte_source([&](std::span<char> buf) -> result<std::size_t> {
    auto n = std::min(buf.size(), std::size_t{300000});
    n = std::min(n, big.size() - at);
    std::copy_n(big.data() + at, n, buf.data());
    at += n;
    return n;
  })), succeeds());
  auto whole = box.read_file("/tmp/big2.bin");
  ASSERT_THAT(whole, succeeds());
  EXPECT_TRUE(whole.value() == big);
}

TEST_F(deno_client, upload_and_download_a_directory_tree_with_a_link) {
  auto box = make();
  char tmpl[] = "/tmp/sbx-deno-updown-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  fs::path root(tmpl);
  fs::create_directories(root / "src/nested/deeper");
  std::ofstream(root / "src/a.txt") << "alpha";
  std::ofstream(root / "src/nested/b.bin") << std::string("\0\1\2\3", 4);
  std::ofstream(root / "src/nested/deeper/c.txt") << "gamma";
  fs::create_symlink("a.txt", root / "src/link");
  ASSERT_THAT(box.upload((root / "src").string(), "/tmp/up"), succeeds());
  EXPECT_THAT(box.read_file("/tmp/up/nested/deeper/c.txt"), succeeds_with(std::string("gamma")));
  auto link = box.stat("/tmp/up/link");
  ASSERT_THAT(link, succeeds());
  EXPECT_EQ(link.value().type, file_type::symlink);
  EXPECT_EQ(link.value().link_target, "a.txt");

  ASSERT_THAT(box.download("/tmp/up", (root / "back").string()), succeeds());
  std::ifstream a(root / "back/a.txt"), b(root / "back/nested/b.bin", std::ios::binary), c(root / "back/nested/deeper/c.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), "alpha");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(b), {}), std::string("\0\1\2\3", 4));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(c), {}), "gamma");
  EXPECT_TRUE(fs::is_symlink(root / "back/link"));
  EXPECT_EQ(fs::read_symlink(root / "back/link"), "a.txt");
  ASSERT_THAT(box.download("/tmp/up/a.txt", (root / "single.txt").string()), succeeds());
  std::ifstream s(root / "single.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(s), {}), "alpha");
  EXPECT_THAT(box.upload((root / "nope").string(), "/tmp/x"), fails_with(error_kind::not_found));
  fs::remove_all(root);
}

TEST_F(deno_client, sandbox_env_is_set_read_deleted_and_inherited) {
  auto box = make(request<deno>{}.env("FROM_CREATE", "1"));
  EXPECT_THAT(box.env_get("FROM_CREATE"), succeeds_with(std::optional<std::string>("1")));
  ASSERT_THAT(box.env_set("COLOR", "blue"), succeeds());
  EXPECT_THAT(box.env_get("COLOR"), succeeds_with(std::optional<std::string>("blue")));
  auto r = box.exec({"/bin/sh", "-c", "echo $COLOR"});
  ASSERT_THAT(r, succeeds());
  EXPECT_EQ(r.value().stdout_data, "blue\n");
  auto all = box.env_all();
  ASSERT_THAT(all, succeeds());
  EXPECT_EQ(all.value().at("COLOR"), "blue");
  ASSERT_THAT(box.env_delete("COLOR"), succeeds());
  EXPECT_THAT(box.env_get("COLOR"), succeeds_with(std::optional<std::string>()));
}

TEST_F(deno_client, duration_sandbox_survives_close_and_connect_reattaches) {
  std::string id;
  {
    auto box = make(request<deno>{}.timeout("5m").label("suite", "deno-client").label("case", "connect"));
    id = box.id();
    ASSERT_THAT(box.write_file("/tmp/mark", "still here"), succeeds());
    box.close();
  }
  auto again = c.connect(id);
  ASSERT_THAT(again, succeeds());
  EXPECT_THAT(again.value().read_file("/tmp/mark"), succeeds_with(std::string("still here")));
  auto listed = c.list({{"suite", "deno-client"}, {"case", "connect"}});
  ASSERT_THAT(listed, succeeds());
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].id, id);
  EXPECT_EQ(listed.value()[0].labels.at("suite"), "deno-client");
  auto other = c.list({{"suite", "no-such-suite"}});
  ASSERT_THAT(other, succeeds());
  EXPECT_TRUE(other.value().empty());
  ASSERT_THAT(again.value().extend_timeout(10min), succeeds());
  auto info = again.value().info();
  ASSERT_THAT(info, succeeds());
  EXPECT_EQ(info.value().status, sandbox_status::running);
  ASSERT_TRUE(info.value().expires.has_value());
  EXPECT_GT(*info.value().expires, std::chrono::system_clock::now() + 9min);
  EXPECT_THAT(again.value().extend_timeout(31min), fails_with(error_kind::invalid_request));
  ASSERT_THAT(again.value().kill(), succeeds());
  EXPECT_THAT(c.connect(id), fails_with(error_kind::not_found));
}

TEST_F(deno_client, session_sandbox_dies_with_its_handle) {
  std::string id;
  {
    auto box = make();
    id = box.id();
  }
  for (int i = 0; i < 50; ++i) {
    auto r = c.connect(id);
    if (!r) {
      EXPECT_EQ(r.error().kind(), error_kind::not_found) << r.error().to_string();
      return;
    }
    std::this_thread::sleep_for(100ms);
  }
  ADD_FAILURE() << "the session sandbox " << id << " is still connectable";
}

TEST_F(deno_client, connect_to_unknown_or_malformed_ids_is_not_found) {
  EXPECT_THAT(c.connect("sbx_ord_0000000000000000000a"), fails_with(error_kind::not_found));
  EXPECT_THAT(c.connect("not-a-deno-id"), fails_with(error_kind::not_found));
}

TEST_F(deno_client, expose_port_gives_an_https_url) {
  auto box = make();
  auto u = box.expose_port(8080);
  ASSERT_THAT(u, succeeds());
  EXPECT_THAT(u.value(), StartsWith("https://"));
  EXPECT_THAT(box.expose_port(0), fails_with(error_kind::invalid_request));
  auto at_create = make(request<deno>{}.expose(8000));
  (void)at_create;
}

TEST_F(deno_client, expose_ssh_returns_host_and_user_or_says_unsupported) {
  auto box = make();
  auto s = box.expose_ssh();
  // §4 lets a server leave SSH out; then the answer must be exactly unsupported.
  if (!s) {
    EXPECT_EQ(s.error().kind(), error_kind::unsupported) << s.error().to_string();
    EXPECT_THAT(c.create(request<deno>{}.expose_ssh()), fails_with(error_kind::unsupported));
    return;
  }
  EXPECT_FALSE(s.value().hostname.empty());
  EXPECT_FALSE(s.value().username.empty());
  auto at_create = make(request<deno>{}.expose_ssh());
  auto kept = at_create.provider().ssh(at_create.handle());
  ASSERT_TRUE(kept.has_value());
  EXPECT_FALSE(kept->username.empty());
}

TEST_F(deno_client, javascript_repl_keeps_state_and_reports_exceptions_as_values) {
  auto box = make();
  auto r = box.repl("javascript");
  ASSERT_THAT(r, succeeds());
  auto& repl = r.value();
  ASSERT_THAT(repl.eval("let counter = 40"), succeeds());
  auto v = repl.eval("counter + 2", 30s);
  ASSERT_THAT(v, succeeds());
  EXPECT_EQ(v.value().value, "42");
  auto s = repl.eval("'a' + 'b'");
  ASSERT_THAT(s, succeeds());
  EXPECT_EQ(s.value().value, "\"ab\"");
  auto thrown = repl.eval("throw new TypeError('boom')");
  ASSERT_THAT(thrown, succeeds());
  EXPECT_FALSE(thrown.value().ok());
  EXPECT_THAT(thrown.value().error, HasSubstr("boom"));
  auto after = repl.eval("counter");
  ASSERT_THAT(after, succeeds());
  EXPECT_EQ(after.value().value, "40");
  EXPECT_THAT(repl.close(), succeeds());
  EXPECT_THAT(box.repl("python"), fails_with(error_kind::invalid_request));
}

TEST_F(deno_client, eval_runs_code_in_a_fresh_repl) {
  auto box = make();
  auto v = box.eval("const n = 6 * 7; n");
  ASSERT_THAT(v, succeeds());
  EXPECT_EQ(v.value().value, "42") << v.value().error;
  EXPECT_TRUE(v.value().ok()) << v.value().error;
  auto thrown = box.eval("null.x");
  ASSERT_THAT(thrown, succeeds());
  EXPECT_THAT(thrown.value().error, HasSubstr("TypeError"));
}

TEST_F(deno_client, volumes_are_created_mounted_listed_and_deleted) {
  auto vol = c.create_volume({.name = "deno-test-vol", .capacity_bytes = std::uint64_t{1} << 30, .labels = {}});
  ASSERT_THAT(vol, succeeds());
  EXPECT_EQ(vol.value().name, "deno-test-vol");
  EXPECT_THAT(c.create_volume({.name = "deno-test-vol", .capacity_bytes = {}, .labels = {}}),
              fails_with(error_kind::already_exists));
  {
    auto box = make(request<deno>{}.mount(vol.value().id, "/data"));
    ASSERT_THAT(box.write_file("/data/kept.txt", "persisted"), succeeds());
  }
  {
    auto box = make(request<deno>{}.mount("deno-test-vol", "/mnt/v"));
    EXPECT_THAT(box.read_file("/mnt/v/kept.txt"), succeeds_with(std::string("persisted")));
  }
  auto all = c.list_volumes();
  ASSERT_THAT(all, succeeds());
  bool found = false;
  for (auto const& v : all.value()) found = found || v.id == vol.value().id;
  EXPECT_TRUE(found);
  EXPECT_THAT(c.provider().get_volume("deno-test-vol"), succeeds_with(Field(&volume_info::id, vol.value().id)));

  auto snap = c.provider().snapshot_volume("deno-test-vol", "deno-test-snap");
  ASSERT_THAT(snap, succeeds());
  EXPECT_EQ(snap.value().slug, "deno-test-snap");
  EXPECT_EQ(snap.value().volume_id, vol.value().id);
  auto snaps = c.provider().list_snapshots();
  ASSERT_THAT(snaps, succeeds());
  bool snap_found = false;
  for (auto const& s : snaps.value()) snap_found = snap_found || s.slug == "deno-test-snap";
  EXPECT_TRUE(snap_found);
  EXPECT_THAT(c.provider().get_snapshot("deno-test-snap"), succeeds_with(Field(&deno::snapshot::id, snap.value().id)));
  ASSERT_THAT(c.provider().delete_snapshot("deno-test-snap"), succeeds());
  EXPECT_THAT(c.provider().get_snapshot("deno-test-snap"), fails_with(error_kind::not_found));

  ASSERT_THAT(c.delete_volume(vol.value().id), succeeds());
  EXPECT_THAT(c.provider().get_volume("deno-test-vol"), fails_with(error_kind::not_found));
  EXPECT_THAT(c.delete_volume("deno-test-vol"), fails_with(error_kind::not_found));
}

TEST_F(deno_client, kill_then_use_is_not_found_or_connection) {
  auto box = make(request<deno>{}.timeout("2m"));
  auto id = box.id();
  ASSERT_THAT(box.kill(), succeeds());
  EXPECT_THAT(c.connect(id), fails_with(error_kind::not_found));
  auto again = box.provider().kill(box.handle());
  EXPECT_THAT(again, fails_with(error_kind::not_found));
}

TEST_F(deno_client, any_sandbox_over_deno_reports_missing_capabilities) {
  any_sandbox box(make());
  EXPECT_EQ(box.provider_name(), "deno");
  EXPECT_THAT(box.pause(), fails_with(error_kind::unsupported));
  EXPECT_THAT(box.open_pty(), fails_with(error_kind::unsupported));
  EXPECT_THAT(box.snapshot("s"), fails_with(error_kind::unsupported));
  EXPECT_THAT(box.update_network(network_policy::open()), fails_with(error_kind::unsupported));
  auto r = box.exec({"echo", "through any"});
  ASSERT_THAT(r, succeeds());
  EXPECT_EQ(r.value().stdout_data, "through any\n");
}

}  // namespace
}  // namespace sbx::test
