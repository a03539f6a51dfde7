// SPDX-License-Identifier: Apache-2.0
// Issue 5, done-when 3: one scenario through our C++ client and through the official SDK
// (@deno/sandbox, tests/sdk), each against its own traced `sbx serve --dialect deno`; per step,
// the C++ client must use the methods/routes with the parameter keys the SDK uses, except the
// differences named (with their reasons) in `allowed_differences`.
#include "traced_server.hpp"
#include "wire_compare.hpp"

#include <sbx/providers/deno.hpp>
#include <sbx/sbx.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

namespace sbx::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using wire::side;

// Differences that are not bugs: each says why our client's step legitimately differs from
// what the SDK sends for the same operation. Anything else that differs fails the test, and an
// entry here that no longer matches anything fails it too.
// Real bugs are never listed here.
constexpr std::string_view streamed_write = "files up to 4 MiB are sent inline as `content` (one frame each, many in "
                                            "flight, no stream); larger ones are streamed with contentStreamId like the SDK; "
                                            "options.mode keeps the local permission bits";
constexpr std::string_view small_reads = "files up to small_read_limit are read whole with readFile (pipelined); larger "
                                         "ones through open + fileRead like the SDK";
constexpr std::string_view http_wait = "the SDK asks denoHttpWait for every Deno process (DenoProcess.httpReady); a REPL "
                                       "serves no HTTP and sbx::repl has no such notion";
std::vector<wire::allowance> const allowed_differences = {
    {"sh_escaping", side::cpp_only, "rpc spawn {args,command,stderr,stdout}",
     "sandbox::sh is the facade's portable `/bin/sh -c` (exec_request::shell) with no extra env"},
    {"sh_escaping", side::sdk_only, "rpc spawn {args,command,env,stderr,stdout}",
     "the SDK's sh runs `bash -c` with env BASH_ENV=$HOME/.bashrc"},
    {"list_dir", side::cpp_only, "rpc lstat {path}",
     "file_info carries size, mode and mtime, which readDir does not: one lstat per entry, all in flight at once"},
    {"upload_dir", side::cpp_only, "rpc mkdir {options,path}",
     "upload makes remote_path itself the copy and merges into an existing directory (recursive), keeping the local "
     "mode; the SDK's mkdir is non-recursive (uploading onto an existing directory fails)"},
    {"upload_dir", side::sdk_only, "rpc mkdir {path}", "see the C++ mkdir of this step"},
    {"upload_dir", side::cpp_only, "rpc writeFile {content,options,path}", streamed_write},
    {"upload_dir", side::sdk_only, "rpc writeFile {contentStreamId,path}", streamed_write},
    {"upload_dir", side::sdk_only, "notify $sandbox.stream.start {streamId}", streamed_write},
    {"upload_dir", side::sdk_only, "notify $sandbox.stream.enqueue {data,streamId}", streamed_write},
    {"upload_dir", side::sdk_only, "notify $sandbox.stream.end {streamId}", streamed_write},
    {"download_dir", side::cpp_only, "rpc readFile {path}", small_reads},
    {"download_dir", side::sdk_only, "rpc open {options,path}", small_reads},
    {"download_dir", side::sdk_only, "rpc fileRead {fileHandleId,length}", small_reads},
    {"download_dir", side::cpp_only, "rpc readLink {path}",
     "links are recreated with their own target (readLink); the SDK links to realPath's answer made relative, which "
     "differs for chains of links and fails for dangling ones"},
    {"download_dir", side::cpp_only, "rpc walk {canonicalize,followSymlinks,path}",
     "followSymlinks:false (the default, explicit) and canonicalize:false, so that every entry path stays under the "
     "realPath'd root, which the client checks before writing anything locally"},
    {"download_dir", side::sdk_only, "rpc walk {path}", "see the C++ walk of this step"},
    {"download_file", side::cpp_only, "rpc readFile {path}", small_reads},
    {"download_file", side::sdk_only, "rpc open {options,path}", small_reads},
    {"download_file", side::sdk_only, "rpc fileRead {fileHandleId,length}", small_reads},
    {"download_file", side::sdk_only, "rpc realPath {path}",
     "lstat of the path itself tells file, directory or link, and a link is recreated, never followed: no realPath"},
    {"repl", side::sdk_only, "rpc denoHttpWait {pid}", http_wait},
    {"eval", side::sdk_only, "rpc denoHttpWait {pid}", http_wait},
};

// ------------------------------------------------------------------ the C++ run

struct step_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void expect(bool cond, std::string const& what) {
  if (!cond) throw step_failed(what);
}

template <class T>
T need(result<T> r, std::string_view what) {
  if (!r) throw step_failed(std::string(what) + ": " + r.error().to_string());
  if constexpr (!std::is_void_v<T>) return std::move(r).value();
}
void need(result<void> r, std::string_view what) {
  if (!r) throw step_failed(std::string(what) + ": " + r.error().to_string());
}

class cpp_run {
 public:
  explicit cpp_run(std::string trace) : tail_(std::move(trace)) {}

  /// Runs `act` (its trace lines are the step's) and then `check` (whose lines are dropped).
  void step(std::string name, std::function<void()> act, std::function<void()> check = {}) {
    (void)tail_.next();
    wire::step_trace t;
    t.name = std::move(name);
    try {
      act();
    } catch (std::exception const& e) {
      t.ok = false;
      t.error = std::string("action: ") + e.what();
    }
    t.lines = tail_.next();
    if (t.ok && check) {
      try {
        check();
      } catch (std::exception const& e) {
        t.ok = false;
        t.error = std::string("check: ") + e.what();
      }
    }
    (void)tail_.next();
    std::cerr << (t.ok ? "ok   " : "FAIL ") << t.name << (t.ok ? "" : ": " + t.error) << "\n";
    steps_.push_back(std::move(t));
  }
  std::vector<wire::step_trace> take() { return std::move(steps_); }

 private:
  wire::trace_tail tail_;
  std::vector<wire::step_trace> steps_;
};

std::string slurp(fs::path const& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Reads stdout of `p` until it holds `want` (or 10 s pass).
std::string read_until(process& p, std::string_view want) {
  std::string got;
  auto until = std::chrono::steady_clock::now() + 10s;
  while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < until) {
    auto c = need(p.read(5s), "read");
    if (!c) break;
    if (c->stream == output_stream::out) got += c->data;
  }
  return got;
}

// The twin of sdk_scenario.mjs: same step names, same effect, our API.
std::vector<wire::step_trace> run_cpp_scenario(traced_server const& srv, std::string const& run_id) {
  deno::config cfg;
  cfg.token = traced_server::token;
  cfg.sandbox_endpoint = srv.endpoint();
  cfg.api_endpoint = srv.endpoint();
  client<deno> c{deno(cfg)};
  cpp_run run(srv.trace_file());

  fs::path local = srv.dir() / "cpp-local";
  fs::create_directories(local / "proj/nested");
  std::ofstream(local / "proj/top.txt") << "top";
  std::ofstream(local / "proj/nested/deep.bin", std::ios::binary) << std::string(200000, '\7');
  fs::create_symlink("top.txt", local / "proj/link");

  std::optional<sandbox<deno>> box, again;
  std::string id;
  std::string const tricky = "it's a $HOME `x` \"q\" ; rm -rf /";

  run.step("create", [&] {
    box.emplace(need(c.create(request<deno>{}
                                  .timeout("5m")
                                  .memory("1 GiB")
                                  .label("suite", "sdk-compare")
                                  .label("run", run_id)
                                  .env("GREETING", "hello from env")),
                     "create"));
    id = box->id();
  });
  if (!box) return run.take();

  exec_result r;
  run.step("exec", [&] { r = need(box->exec({"echo", "hello"}), "exec"); },
           [&] { expect(r.stdout_data == "hello\n" && r.exit_code == 0, "stdout " + r.stdout_data); });

  run.step("exec_env_cwd_stdin",
           [&] {
             r = need(box->exec(exec_request({"sh", "-c", "cat; echo \"$GREETING $EXTRA\"; pwd"})
                                    .with_stdin("in\n")
                                    .with_env("EXTRA", "x")
                                    .in("/tmp")),
                      "exec");
           },
           [&] { expect(r.stdout_data == "in\nhello from env x\n/tmp\n", "stdout " + r.stdout_data); });

  run.step("sh_escaping", [&] { r = need(box->sh("printf '%s' {}", tricky), "sh"); },
           [&] { expect(r.stdout_data == tricky, "stdout " + r.stdout_data); });

  run.step("spawn_stream_stdin", [&] {
    auto p = need(box->spawn({"sh", "-c", "echo ready; cat"}), "spawn");
    expect(read_until(p, "ready\n") == "ready\n", "first line");
    need(p.write_stdin("ping\n"), "write_stdin");
    expect(read_until(p, "ping\n") == "ping\n", "echoed stdin");
    need(p.close_stdin(), "close_stdin");
    auto st = need(p.wait(10s), "wait");
    expect(st.exit_code == 0, "exit code " + std::to_string(st.exit_code));
  });

  run.step("kill_process", [&] {
    auto p = need(box->spawn({"sleep", "30"}), "spawn");
    need(p.kill(15), "kill");
    auto st = need(p.wait(10s), "wait");
    expect(st.exit_code == 143 && st.signal == 15, "status " + std::to_string(st.exit_code));
  });

  run.step("make_dir", [&] { need(box->make_dir("/tmp/cmp/up"), "make_dir"); },
           [&] { expect(need(box->stat("/tmp/cmp/up"), "stat").type == file_type::directory, "not a dir"); });

  run.step("write_file", [&] { need(box->write_file("/tmp/cmp/f.txt", "hello file"), "write_file"); },
           [&] { expect(need(box->read_file("/tmp/cmp/f.txt"), "read") == "hello file", "content"); });

  std::string text;
  run.step("read_file", [&] { text = need(box->read_file("/tmp/cmp/f.txt"), "read_file"); },
           [&] { expect(text == "hello file", text); });

  file_info info;
  run.step("stat", [&] { info = need(box->stat("/tmp/cmp/f.txt"), "stat"); },
           [&] { expect(info.type == file_type::regular && info.size == 10, "size " + std::to_string(info.size)); });

  bool there = false;
  run.step("exists", [&] { there = need(box->exists("/tmp/cmp/f.txt"), "exists"); }, [&] { expect(there, "missing"); });

  std::vector<file_info> listing;
  run.step("list_dir", [&] { listing = need(box->list("/tmp/cmp"), "list"); }, [&] {
    std::set<std::string> names;
    for (auto const& f : listing) names.insert(f.name);
    expect(names == std::set<std::string>{"f.txt", "up"}, "names");
  });

  run.step("rename", [&] { need(box->rename("/tmp/cmp/f.txt", "/tmp/cmp/g.txt"), "rename"); },
           [&] { expect(need(box->read_file("/tmp/cmp/g.txt"), "read") == "hello file", "moved"); });

  run.step("remove", [&] { need(box->remove("/tmp/cmp/g.txt"), "remove"); },
           [&] { expect(!need(box->exists("/tmp/cmp/g.txt"), "exists"), "still there"); });

  run.step("remove_recursive",
           [&] {
             need(box->make_dir("/tmp/cmp/tree/sub"), "make_dir");
             need(box->remove("/tmp/cmp/tree", true), "remove");
           },
           [&] { expect(!need(box->exists("/tmp/cmp/tree"), "exists"), "still there"); });

  run.step("upload_dir", [&] { need(box->upload((local / "proj").string(), "/tmp/cmp/up/proj"), "upload"); }, [&] {
    expect(need(box->read_file("/tmp/cmp/up/proj/top.txt"), "read") == "top", "top.txt");
    expect(need(box->stat("/tmp/cmp/up/proj/nested/deep.bin"), "stat").size == 200000, "deep.bin");
    expect(need(box->stat("/tmp/cmp/up/proj/link"), "stat").link_target == "top.txt", "link");
  });

  fs::create_directories(local / "back");
  run.step("download_dir", [&] { need(box->download("/tmp/cmp/up/proj", (local / "back/proj").string()), "download"); },
           [&] {
             expect(slurp(local / "back/proj/top.txt") == "top", "top.txt");
             expect(slurp(local / "back/proj/nested/deep.bin") == std::string(200000, '\7'), "deep.bin");
           });

  run.step("download_file",
           [&] { need(box->download("/tmp/cmp/up/proj/top.txt", (local / "single.txt").string()), "download"); },
           [&] { expect(slurp(local / "single.txt") == "top", "single"); });

  run.step("env_set", [&] { need(box->env_set("NEW_VAR", "v 1"), "env_set"); },
           [&] { expect(need(box->env_get("NEW_VAR"), "env_get") == std::optional<std::string>("v 1"), "set"); });
  std::optional<std::string> value;
  run.step("env_get", [&] { value = need(box->env_get("GREETING"), "env_get"); },
           [&] { expect(value == std::optional<std::string>("hello from env"), value.value_or("(unset)")); });
  std::map<std::string, std::string> all;
  run.step("env_all", [&] { all = need(box->env_all(), "env_all"); },
           [&] { expect(all["NEW_VAR"] == "v 1" && all.count("PATH"), "NEW_VAR/PATH"); });
  run.step("env_delete", [&] { need(box->env_delete("NEW_VAR"), "env_delete"); },
           [&] { expect(!need(box->env_get("NEW_VAR"), "env_get"), "deleted"); });

  repl_output out;
  run.step("repl", [&] {
    auto repl = need(box->repl("javascript"), "repl");
    need(repl.eval("let counter = 40"), "eval");
    out = need(repl.eval("counter + 2"), "eval");
    need(repl.close(), "close");
  }, [&] { expect(out.value == "42", out.value + out.error); });

  run.step("eval", [&] { out = need(box->eval("6 * 7"), "eval"); }, [&] { expect(out.value == "42", out.value + out.error); });

  std::string url;
  run.step("expose_http", [&] { url = need(box->expose_port(8000), "expose_port"); },
           [&] { expect(url.rfind("https://", 0) == 0, url); });

  run.step("extend_timeout", [&] { need(box->extend_timeout(10min), "extend_timeout"); });

  std::vector<sandbox_info> found;
  run.step("list_by_labels", [&] { found = need(c.list({{"run", run_id}}), "list"); },
           [&] { expect(found.size() == 1 && found[0].id == id, "found " + std::to_string(found.size())); });

  run.step("close", [&] {
    box->close();
    box.reset();
  });

  run.step("connect", [&] { again.emplace(need(c.connect(id), "connect")); },
           [&] { expect(need(again->read_file("/tmp/cmp/up/proj/top.txt"), "read") == "top", "state kept"); });

  run.step("kill", [&] { need(again->kill(), "kill"); }, [&] {
    auto r2 = c.connect(id);
    expect(!r2 && r2.error().kind() == error_kind::not_found, "still connectable");
  });
  if (box) (void)box->kill();
  return run.take();
}

// ------------------------------------------------------------------ the SDK run

std::vector<wire::step_trace> run_sdk_scenario(traced_server const& srv, std::string const& run_id, std::string& log) {
  auto out = srv.dir() / "sdk-steps.json";
  std::ostringstream cmd;
  cmd << "DENO_DEPLOY_TOKEN=" << traced_server::token << " DENO_SANDBOX_ENDPOINT=" << srv.endpoint()
      << " DENO_DEPLOY_ENDPOINT=" << srv.endpoint() << " SBX_TRACE=" << srv.trace_file() << " " << SBX_NODE << " "
      << SBX_COMPARE_DIR << "/sdk_scenario.mjs " << out.string() << " " << run_id << " 2>&1";
  log.clear();
  if (FILE* p = ::popen(cmd.str().c_str(), "r")) {
    char buf[4096];
    while (auto n = std::fread(buf, 1, sizeof buf, p)) log.append(buf, n);
    int st = ::pclose(p);
    if (st != 0) log += "\n(node exited with status " + std::to_string(st) + ")";
  }
  return wire::parse_steps(slurp(out));
}

std::string random_run_id() {
  std::random_device rd;
  return "r" + std::to_string(rd() % 1000000);
}

TEST(wire, cpp_client_uses_the_sdks_methods_and_parameter_keys) {
  auto run_id = random_run_id();
  std::vector<wire::step_trace> ours, theirs;
  std::string sdk_log;
  {
    std::unique_ptr<traced_server> a;
    try {
      a = std::make_unique<traced_server>();
    } catch (std::exception const& e) {
      FAIL() << "the deno server cannot run here: " << e.what();
    }
    ours = run_cpp_scenario(*a, run_id);
  }
  {
    std::unique_ptr<traced_server> b;
    try {
      b = std::make_unique<traced_server>();
    } catch (std::exception const& e) {
      FAIL() << "the deno server cannot run here: " << e.what();
    }
    theirs = run_sdk_scenario(*b, run_id, sdk_log);
  }
  ASSERT_FALSE(theirs.empty()) << "the SDK scenario wrote no steps:\n" << sdk_log;
  auto rep = wire::compare(ours, theirs, allowed_differences);
  if (rep.ok()) std::cout << rep.to_string();
  EXPECT_TRUE(rep.ok()) << "the C++ client and @deno/sandbox differ on the wire:\n"
                        << rep.to_string() << "\nSDK log:\n" << sdk_log;
}

// ------------------------------------------------------------------ the comparison itself

std::string rpc(std::string_view method, std::string_view keys) {
  return R"({"kind":"rpc","method":")" + std::string(method) + R"(","params":[)" + std::string(keys) + "]}";
}

wire::step_trace step(std::string name, std::vector<std::string> lines) { return {std::move(name), true, "", std::move(lines)}; }

TEST(compare, identical_runs_are_the_same) {
  std::vector<wire::step_trace> a{step("exec", {rpc("spawn", R"("args","command","stderr","stdout")"), rpc("processWait", R"("pid")")})};
  auto rep = wire::compare(a, a, {});
  EXPECT_TRUE(rep.ok()) << rep.to_string();
  EXPECT_EQ(rep.steps.at(0).both.size(), 2u);
}

TEST(compare, a_differing_parameter_key_is_reported_on_both_sides) {
  std::vector<wire::step_trace> sdk{step("exec", {rpc("spawn", R"("args","command","stderr","stdout")"), rpc("processWait", R"("pid")")})};
  // Doctored: our client spelled a key differently.
  std::vector<wire::step_trace> cpp{step("exec", {rpc("spawn", R"("argv","command","stderr","stdout")"), rpc("processWait", R"("pid")")})};
  auto rep = wire::compare(cpp, sdk, {});
  ASSERT_FALSE(rep.ok());
  auto const& d = rep.steps.at(0);
  EXPECT_EQ(d.cpp_only, std::set<std::string>{"rpc spawn {argv,command,stderr,stdout}"});
  EXPECT_EQ(d.sdk_only, std::set<std::string>{"rpc spawn {args,command,stderr,stdout}"});
  EXPECT_EQ(d.both, std::set<std::string>{"rpc processWait {pid}"});
  auto text = rep.to_string();
  EXPECT_NE(text.find("DIFF exec"), std::string::npos) << text;
  EXPECT_NE(text.find("only C++: rpc spawn {argv,command,stderr,stdout}"), std::string::npos) << text;
  EXPECT_NE(text.find("only SDK: rpc spawn {args,command,stderr,stdout}"), std::string::npos) << text;
}

TEST(compare, a_missing_or_extra_method_and_a_different_route_are_reported) {
  std::vector<wire::step_trace> sdk{
      step("kill", {R"({"kind":"http","method":"DELETE","route":"/api/v3/sandbox/{id}","body":[],"query":[]})"}),
      step("env_set", {rpc("envSet", R"("key","value")")})};
  std::vector<wire::step_trace> cpp{
      step("kill", {R"({"kind":"http","method":"POST","route":"/api/v3/sandbox/{id}/kill","body":[],"query":[]})"}),
      step("env_set", {rpc("envSet", R"("key","value")"), rpc("envGet", R"("key")")})};
  auto rep = wire::compare(cpp, sdk, {});
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.steps.at(0).cpp_only, std::set<std::string>{"http POST /api/v3/sandbox/{id}/kill body{} query{}"});
  EXPECT_EQ(rep.steps.at(0).sdk_only, std::set<std::string>{"http DELETE /api/v3/sandbox/{id} body{} query{}"});
  EXPECT_EQ(rep.steps.at(1).cpp_only, std::set<std::string>{"rpc envGet {key}"});
  EXPECT_TRUE(rep.steps.at(1).sdk_only.empty());
}

TEST(compare, a_different_request_count_is_shown_but_is_not_a_difference) {
  std::vector<wire::step_trace> sdk{step("list", {rpc("readDir", R"("path")"), rpc("lstat", R"("path")")})};
  std::vector<wire::step_trace> cpp{step("list", {rpc("readDir", R"("path")"), rpc("lstat", R"("path")"), rpc("lstat", R"("path")")})};
  auto rep = wire::compare(cpp, sdk, {});
  EXPECT_TRUE(rep.ok()) << rep.to_string();
  EXPECT_EQ(rep.steps.at(0).counts.at("rpc lstat {path}"), (std::pair<std::size_t, std::size_t>{2, 1}));
  EXPECT_NE(rep.to_string().find("rpc lstat {path}   (C++ 2x, SDK 1x)"), std::string::npos) << rep.to_string();
}

TEST(compare, an_allowance_explains_only_its_own_entry_and_step) {
  std::vector<wire::step_trace> sdk{step("a", {rpc("stat", R"("path")")}), step("b", {rpc("stat", R"("path")")})};
  std::vector<wire::step_trace> cpp{step("a", {rpc("lstat", R"("path")")}), step("b", {rpc("lstat", R"("path")")})};
  std::vector<wire::allowance> allow{{"a", side::cpp_only, "rpc lstat {path}", "reason"},
                                     {"a", side::sdk_only, "rpc stat {path}", "reason"}};
  auto rep = wire::compare(cpp, sdk, allow);
  EXPECT_TRUE(rep.steps.at(0).ok()) << rep.to_string();
  EXPECT_EQ(rep.steps.at(0).allowed.size(), 2u);
  EXPECT_FALSE(rep.steps.at(1).ok()) << "step b has no allowance";
  EXPECT_FALSE(rep.ok());
}

TEST(compare, an_allowance_that_explains_nothing_is_a_problem) {
  std::vector<wire::step_trace> a{step("a", {rpc("stat", R"("path")")})};
  auto rep = wire::compare(a, a, {{"a", side::cpp_only, "rpc lstat {path}", "stale"}});
  EXPECT_FALSE(rep.ok());
  ASSERT_EQ(rep.problems.size(), 1u);
  EXPECT_NE(rep.problems[0].find("explains nothing"), std::string::npos);
}

TEST(compare, failed_or_missing_steps_are_problems) {
  std::vector<wire::step_trace> sdk{step("a", {}), step("only_sdk", {})};
  auto failed = step("a", {});
  failed.ok = false;
  failed.error = "boom";
  auto rep = wire::compare({failed, step("only_cpp", {})}, sdk, {});
  EXPECT_FALSE(rep.ok());
  EXPECT_FALSE(rep.steps.at(0).ok());
  EXPECT_FALSE(rep.steps.at(1).ok());
  ASSERT_EQ(rep.problems.size(), 1u);
  EXPECT_NE(rep.problems[0].find("only_sdk"), std::string::npos);
}

TEST(compare, trace_lines_become_kind_method_and_sorted_keys) {
  EXPECT_EQ(wire::entry_of(R"({"kind":"ws","route":"/api/v3/sandboxes/create","config":["labels","memory_mb"]})"),
            "ws /api/v3/sandboxes/create config{labels,memory_mb}");
  EXPECT_EQ(wire::entry_of(R"({"kind":"notification","method":"$sandbox.stream.end","params":["streamId"]})"),
            "notify $sandbox.stream.end {streamId}");
  EXPECT_EQ(wire::entry_of(R"({"kind":"http","method":"GET","route":"/api/v2/sandboxes","body":[],"query":["labels"]})"),
            "http GET /api/v2/sandboxes body{} query{labels}");
  EXPECT_EQ(wire::entry_of("not json"), "unparsable not json");
}

TEST(compare, the_node_scripts_output_is_parsed) {
  auto s = wire::parse_steps(R"({"sdk":"0.13.2","steps":[{"name":"exec","ok":false,"error":"e","lines":["x","y"]}]})");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].name, "exec");
  EXPECT_FALSE(s[0].ok);
  EXPECT_EQ(s[0].lines, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(wire::parse_steps("garbage").empty());
}

TEST(compare, the_trace_tail_returns_each_line_once) {
  auto p = fs::temp_directory_path() / ("sbx-cmp-tail-" + std::to_string(::getpid()));
  { std::ofstream(p) << "one\ntwo\n"; }
  wire::trace_tail t(p.string(), 30);
  EXPECT_EQ(t.next(), (std::vector<std::string>{"one", "two"}));
  { std::ofstream(p, std::ios::app) << "three\npart"; }
  EXPECT_EQ(t.next(), (std::vector<std::string>{"three"}));
  { std::ofstream(p, std::ios::app) << "ial\n"; }
  EXPECT_EQ(t.next(), (std::vector<std::string>{"partial"}));
  fs::remove(p);
}

}  // namespace
}  // namespace sbx::test
