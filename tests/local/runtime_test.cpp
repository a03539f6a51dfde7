// SPDX-License-Identifier: Apache-2.0
// The local provider's runtime against the real thing: namespaces, overlay, cgroups,
// seccomp, the supervisor and its agent. Complements the provider-agnostic conformance suite.

#include "support.hpp"

#include <matchers.hpp>

#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

namespace sbx::test {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::Not;
using clock = std::chrono::steady_clock;

// A limit the host cannot enforce is `unsupported`; that is a fact about an unprivileged
// host, not a missing feature, so such a test is skipped there with the provider's reason.
// As root every limit must work.
#define MAKE_OR_SKIP(var, req)                                                          \
  auto var##_r = local_client().create(req);                                          \
  if (!var##_r && var##_r.error().kind() == error_kind::unsupported && ::geteuid() != 0) \
    GTEST_SKIP() << var##_r.error().to_string();                                        \
  ASSERT_THAT(var##_r, succeeds());                                                     \
  auto var = std::move(var##_r).value()

sandbox<local> make(request<local> const& r = {}) {
  auto c = local_client();
  auto b = c.create(r);
  if (!b) {
    ADD_FAILURE() << "create failed: " << b.error().to_string();
    std::abort();
  }
  return std::move(b).value();
}

exec_result run(sandbox<local>& b, exec_request const& r) {
  auto x = b.exec(r);
  if (!x) {
    ADD_FAILURE() << "exec failed: " << x.error().to_string();
    return {};
  }
  return std::move(x).value();
}

exec_result sh(sandbox<local>& b, std::string script) { return run(b, exec_request::shell(std::move(script))); }

// Polls `pred` for up to `limit`.
template <class F>
bool eventually(F pred, std::chrono::milliseconds limit = 3s) {
  auto end = clock::now() + limit;
  while (clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

bool listed(std::string const& id) {
  auto l = local_client().list();
  if (!l) return false;
  return std::any_of(l.value().begin(), l.value().end(), [&](auto const& i) { return i.id == id; });
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// ---------------------------------------------------------------------------------------

TEST(local_runtime, create_exec_destroy) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  auto r = run(b, {"echo", "hello"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data, "hello\n");
  EXPECT_EQ(r.stderr_data, "");
  std::string id = b.id();
  EXPECT_TRUE(listed(id));
  EXPECT_THAT(b.kill(), succeeds());
  EXPECT_FALSE(listed(id));
  EXPECT_THAT(local_client().connect(id), fails_with(error_kind::not_found));
}

TEST(local_runtime, stdout_and_stderr_are_kept_apart) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  auto r = sh(b, "echo out; echo err >&2; echo out2");
  EXPECT_EQ(r.stdout_data, "out\nout2\n");
  EXPECT_EQ(r.stderr_data, "err\n");
}

TEST(local_runtime, exit_codes_are_values) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  EXPECT_EQ(sh(b, "exit 3").exit_code, 3);
  EXPECT_EQ(run(b, {"false"}).exit_code, 1);
  auto k = sh(b, "kill -9 $$");
  EXPECT_EQ(k.exit_code, 137);
  EXPECT_EQ(k.signal, 9);
}

TEST(local_runtime, stdin_is_delivered_then_closed) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  std::string big(300000, 'x');
  auto r = run(b, exec_request({"wc", "-c"}).with_stdin(big));
  EXPECT_EQ(r.stdout_data, "300000\n");
  EXPECT_EQ(run(b, exec_request({"cat"})).stdout_data, "");  // no stdin: end of file at once
}

TEST(local_runtime, cwd_and_env_apply) {
  SBX_REQUIRE_LOCAL();
  auto b = make(request<local>{}.env("FROM_REQUEST", "r1"));
  EXPECT_EQ(run(b, exec_request({"pwd"}).in("/tmp")).stdout_data, "/tmp\n");
  EXPECT_EQ(run(b, exec_request({"pwd"})).stdout_data, "/\n");
  auto r = run(b, exec_request({"sh", "-c", "echo $FROM_REQUEST $FROM_EXEC"}).with_env("FROM_EXEC", "e1"));
  EXPECT_EQ(r.stdout_data, "r1 e1\n");
  auto over = run(b, exec_request({"sh", "-c", "echo $FROM_REQUEST"}).with_env("FROM_REQUEST", "over"));
  EXPECT_EQ(over.stdout_data, "over\n");
  EXPECT_THAT(b.exec(exec_request({"pwd"}).in("/no/such/dir")), fails_with(error_kind::exec_failed));
}

TEST(local_runtime, command_not_found_names_the_command) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  auto r = b.exec({"no-such-command-xyz"});
  ASSERT_THAT(r, fails_with(error_kind::exec_failed));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("no-such-command-xyz"));
  // PATH lookup happens inside the sandbox with its PATH.
  EXPECT_EQ(run(b, {"sh", "-c", "command -v ls"}).stdout_data, "/usr/bin/ls\n");
}

TEST(local_runtime, timeout_keeps_partial_output) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  auto t0 = clock::now();
  auto r = b.exec(exec_request::shell("echo before; echo warn >&2; sleep 30; echo after").with_timeout(500ms));
  auto took = clock::now() - t0;
  ASSERT_THAT(r, fails_with(error_kind::timeout));
  EXPECT_EQ(r.error().detail().partial_stdout, "before\n");
  EXPECT_EQ(r.error().detail().partial_stderr, "warn\n");
  EXPECT_LT(took, 5s);
  // The sandbox is still usable.
  EXPECT_EQ(run(b, {"echo", "ok"}).stdout_data, "ok\n");
}

TEST(local_runtime, output_cap_truncates_and_flags) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  exec_request r = exec_request::shell("head -c 100000 /dev/zero; head -c 10 /dev/zero >&2");
  r.output_limit = 1000;
  auto x = run(b, r);
  EXPECT_EQ(x.exit_code, 0);
  EXPECT_EQ(x.stdout_data.size(), 1000u);
  EXPECT_TRUE(x.stdout_truncated);
  EXPECT_EQ(x.stderr_data.size(), 10u);
  EXPECT_FALSE(x.stderr_truncated);
}

TEST(local_runtime, output_streams_before_exit) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  auto t0 = clock::now();
  std::optional<clock::duration> first;
  std::string seen;
  exec_request r = exec_request::shell("echo first; sleep 1; echo second");
  r.on_output = [&](output_stream s, std::string_view d) {
    if (s == output_stream::out && !first) first = clock::now() - t0;
    seen += d;
  };
  auto x = run(b, r);
  auto total = clock::now() - t0;
  ASSERT_TRUE(first.has_value());
  EXPECT_LT(*first, 500ms);
  EXPECT_GT(total, 900ms);
  EXPECT_EQ(seen, "first\nsecond\n");
  EXPECT_EQ(x.stdout_data, "first\nsecond\n");
}

TEST(local_runtime, stop_token_cancels) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  std::stop_source src;
  exec_request r({"sleep", "30"});
  r.stop = src.get_token();
  std::thread t([&] { std::this_thread::sleep_for(200ms); src.request_stop(); });
  auto t0 = clock::now();
  auto x = b.exec(r);
  t.join();
  EXPECT_THAT(x, fails_with(error_kind::cancelled));
  EXPECT_LT(clock::now() - t0, 5s);
}

TEST(local_runtime, spawn_streams_writes_waits_and_kills) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  auto p = b.spawn({"cat"});
  ASSERT_THAT(p, succeeds());
  auto& proc = p.value();
  EXPECT_THAT(proc.write_stdin("ping\n"), succeeds());
  auto chunk = proc.read(5s);
  ASSERT_THAT(chunk, succeeds());
  ASSERT_TRUE(chunk.value().has_value());
  EXPECT_EQ(chunk.value()->data, "ping\n");
  EXPECT_THAT(proc.close_stdin(), succeeds());
  auto st = proc.wait(5s);
  ASSERT_THAT(st, succeeds());
  EXPECT_EQ(st.value().exit_code, 0);

  auto s = b.spawn({"sleep", "60"});
  ASSERT_THAT(s, succeeds());
  EXPECT_THAT(s.value().wait(200ms), fails_with(error_kind::timeout));
  EXPECT_THAT(s.value().kill(), succeeds());
  auto ks = s.value().wait(5s);
  ASSERT_THAT(ks, succeeds());
  EXPECT_EQ(ks.value().signal, 9);
  EXPECT_EQ(ks.value().exit_code, 137);
  EXPECT_THAT(b.spawn({"no-such-command-xyz"}), fails_with(error_kind::exec_failed));
}

TEST(local_runtime, session_sandbox_dies_with_its_handle) {
  SBX_REQUIRE_LOCAL();
  std::string id;
  {
    auto b = make();
    id = b.id();
    EXPECT_TRUE(listed(id));
  }
  EXPECT_TRUE(eventually([&] { return !listed(id); }));
  EXPECT_THAT(local_client().connect(id), fails_with(error_kind::not_found));
}

TEST(local_runtime, duration_sandbox_outlives_its_handle_and_connects_from_another_process) {
  SBX_REQUIRE_LOCAL();
  std::string id;
  {
    auto b = make(request<local>{}.timeout("5m").label("suite", "connect"));
    id = b.id();
    EXPECT_EQ(sh(b, "printf from-parent > /tmp/marker").exit_code, 0);
    b.close();
  }
  ASSERT_TRUE(listed(id));
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(pipefd[0]);
    auto c = local_client();
    auto b = c.connect(id);
    std::string out = "connect failed";
    if (b) {
      auto r = b.value().exec({"cat", "/tmp/marker"});
      out = r ? r.value().stdout_data : "exec failed: " + r.error().to_string();
    }
    (void)!::write(pipefd[1], out.data(), out.size());
    _exit(0);
  }
  ::close(pipefd[1]);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int st;
  ::waitpid(child, &st, 0);
  EXPECT_EQ(got, "from-parent");
  // The other process's handle went away; the sandbox is still there.
  auto b = local_client().connect(id);
  ASSERT_THAT(b, succeeds());
  auto info = b.value().info();
  ASSERT_THAT(info, succeeds());
  EXPECT_EQ(info.value().status, sandbox_status::running);
  EXPECT_TRUE(info.value().expires.has_value());
  EXPECT_EQ(info.value().labels.at("suite"), "connect");
  EXPECT_THAT(b.value().kill(), succeeds());
  EXPECT_FALSE(listed(id));
}

TEST(local_runtime, deadline_kills_and_extend_moves_it) {
  SBX_REQUIRE_LOCAL();
  auto a = make(request<local>{}.timeout(1500ms));
  auto b = make(request<local>{}.timeout(1500ms));
  std::string ida = a.id(), idb = b.id();
  ASSERT_THAT(b.extend_timeout(10s), succeeds());
  auto ib = b.info();
  ASSERT_THAT(ib, succeeds());
  EXPECT_GT(*ib.value().expires, std::chrono::system_clock::now() + 8s);
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(eventually([&] { return !listed(ida); }, 3s));
  EXPECT_THAT(a.exec({"true"}), fails_with(error_kind::not_found));
  EXPECT_TRUE(listed(idb));
  EXPECT_EQ(run(b, {"echo", "alive"}).stdout_data, "alive\n");
  auto s = make();
  EXPECT_THAT(s.extend_timeout(10s), fails_with(error_kind::invalid_request));
}

TEST(local_runtime, list_filters_by_labels) {
  SBX_REQUIRE_LOCAL();
  auto a = make(request<local>{}.label("team", "red").label("tier", "1"));
  auto b = make(request<local>{}.label("team", "blue"));
  auto c = local_client();
  auto red = c.list({{"team", "red"}});
  ASSERT_THAT(red, succeeds());
  ASSERT_EQ(red.value().size(), 1u);
  EXPECT_EQ(red.value()[0].id, a.id());
  EXPECT_EQ(red.value()[0].labels.at("tier"), "1");
  auto none = c.list({{"team", "green"}});
  ASSERT_THAT(none, succeeds());
  EXPECT_TRUE(none.value().empty());
  auto all = c.list();
  ASSERT_THAT(all, succeeds());
  EXPECT_GE(all.value().size(), 2u);
}

TEST(local_runtime, pause_stops_a_counter_and_resume_restarts_it) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  if (::geteuid() != 0)
    if (auto p = b.pause(); !p && p.error().kind() == error_kind::unsupported) GTEST_SKIP() << p.error().to_string();
  auto p = b.spawn(exec_request::shell("i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done"));
  ASSERT_THAT(p, succeeds());
  auto& proc = p.value();
  ASSERT_THAT(proc.read(5s), succeeds());
  ASSERT_THAT(b.pause(), succeeds());
  auto info = b.info();
  ASSERT_THAT(info, succeeds());
  EXPECT_EQ(info.value().status, sandbox_status::paused);
  // Drain what was printed before the freeze took hold, then nothing more comes.
  while (true) {
    auto c = proc.read(300ms);
    if (!c) { EXPECT_EQ(c.error().kind(), error_kind::timeout); break; }
  }
  EXPECT_THAT(proc.read(500ms), fails_with(error_kind::timeout));
  ASSERT_THAT(b.resume(), succeeds());
  EXPECT_EQ(b.info().value().status, sandbox_status::running);
  auto c = proc.read(2s);
  ASSERT_THAT(c, succeeds());
  EXPECT_TRUE(c.value().has_value());
}

TEST(local_runtime, pty_echoes_and_sees_resize) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  auto t = b.open_pty({});
  ASSERT_THAT(t, succeeds());
  auto& term = t.value();
  auto read_until = [&](std::string const& want) {
    std::string acc;
    auto end = clock::now() + 5s;
    while (clock::now() < end && acc.find(want) == std::string::npos) {
      auto r = term.read(500ms);
      if (r && r.value()) acc += *r.value();
      if (r && !r.value()) break;
    }
    return acc;
  };
  ASSERT_THAT(term.write("echo hi-$((40+2))\n"), succeeds());
  EXPECT_THAT(read_until("hi-42\r\n"), HasSubstr("hi-42\r\n"));
  ASSERT_THAT(term.write("tty\n"), succeeds());
  EXPECT_THAT(read_until("/dev/pts/"), HasSubstr("/dev/pts/"));
  ASSERT_THAT(term.resize(100, 40), succeeds());
  ASSERT_THAT(term.write("stty size\n"), succeeds());
  EXPECT_THAT(read_until("40 100"), HasSubstr("40 100"));
  ASSERT_THAT(term.write("exit 5\n"), succeeds());
  auto st = term.wait(5s);
  ASSERT_THAT(st, succeeds());
  EXPECT_EQ(st.value().exit_code, 5);
}

TEST(local_runtime, memory_limit_kills_and_flags_oom) {
  SBX_REQUIRE_LOCAL();
  MAKE_OR_SKIP(b, request<local>{}.memory("64 MiB"));
  auto r = run(b, {"python3", "-c", "b = b'x' * (300 << 20); print('survived')"});
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_TRUE(r.oom_killed);
  EXPECT_THAT(r.stdout_data, Not(HasSubstr("survived")));
  auto ok = run(b, {"python3", "-c", "b = b'x' * (8 << 20); print('fine')"});
  EXPECT_EQ(ok.stdout_data, "fine\n");
  EXPECT_FALSE(ok.oom_killed);
}

TEST(local_runtime, memory_out_of_range_is_invalid) {
  SBX_REQUIRE_LOCAL();
  auto c = local_client();
  EXPECT_THAT(c.create(request<local>{}.memory("8 MiB")), fails_with(error_kind::invalid_request));
  EXPECT_THAT(c.create(request<local>{}.memory("100 TiB")), fails_with(error_kind::invalid_request));
}

TEST(local_runtime, fork_bomb_is_stopped_by_the_pids_limit) {
  SBX_REQUIRE_LOCAL();
  request<local> r;
  r.options().pids_max = 40;
  auto b = make(r);
  auto x = run(b, exec_request({"python3", "-c", R"(
import os, time, signal
kids, failed = [], 0
for i in range(200):
    try:
        pid = os.fork()
    except OSError:
        failed += 1
        continue
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
print(len(kids), failed)
for k in kids:
    os.kill(k, signal.SIGKILL)
for k in kids:
    os.waitpid(k, 0)
)"}).with_timeout(30s));
  int ok = -1, failed = -1;
  std::istringstream(x.stdout_data) >> ok >> failed;
  EXPECT_GT(ok, 0);
  EXPECT_LT(ok, 40);
  EXPECT_GT(failed, 150);
  // The host is fine and so is the sandbox.
  EXPECT_EQ(run(b, {"echo", "still-here"}).stdout_data, "still-here\n");
}

TEST(local_runtime, cpu_quota_is_enforced) {
  SBX_REQUIRE_LOCAL();
  MAKE_OR_SKIP(b, request<local>{}.cpus(0.25));
  auto x = run(b, {"python3", "-c", R"(
import time
t0 = time.monotonic(); c0 = time.process_time()
while time.monotonic() - t0 < 2.0:
    pass
print(round((time.process_time() - c0) / (time.monotonic() - t0), 3))
)"});
  double share = std::stod(x.stdout_data.empty() ? "9" : x.stdout_data);
  std::cerr << "[local tests] cpu share at cpus=0.25: " << share << "\n";
  EXPECT_LT(share, 0.4);
  EXPECT_GT(share, 0.1);
}

TEST(local_runtime, seccomp_and_capabilities_deny_the_kernel_surface) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  auto x = run(b, {"python3", "-c", R"(
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *args)
    return 'ok' if r >= 0 else os.strerror(ctypes.get_errno())
print('mount', call(165, b'none', b'/mnt', b'tmpfs', 0, None))
print('ptrace', call(101, 0, 0, 0, 0))
print('unshare', call(272, 0x10000000))
print('kexec', call(246, 0, 0, 0, 0))
print('init_module', call(175, 0, 0, b''))
print('bpf', call(321, 0, 0, 0))
print('settimeofday', call(164, 0, 0))
)"});
  for (char const* s : {"mount", "ptrace", "unshare", "kexec", "init_module", "bpf", "settimeofday"})
    EXPECT_THAT(x.stdout_data, HasSubstr(std::string(s) + " Operation not permitted")) << x.stdout_data;
  auto st = run(b, {"grep", "-E", "^(Seccomp|NoNewPrivs|CapBnd|CapEff):", "/proc/self/status"});
  EXPECT_THAT(st.stdout_data, HasSubstr("Seccomp:\t2"));
  EXPECT_THAT(st.stdout_data, HasSubstr("NoNewPrivs:\t1"));
  EXPECT_THAT(st.stdout_data, HasSubstr("CapBnd:\t00000000a80425fb"));
  EXPECT_THAT(st.stdout_data, HasSubstr("CapEff:\t00000000a80425fb"));
}

TEST(local_runtime, environment_is_scrubbed) {
  SBX_REQUIRE_LOCAL();
  ::setenv("SBX_TEST_HOST_SECRET", "leaked", 1);
  ::setenv("BASH_ENV", "/root/.bashrc", 1);
  auto b = make();
  auto x = run(b, {"env"});
  EXPECT_THAT(x.stdout_data, Not(HasSubstr("SBX_TEST_HOST_SECRET")));
  EXPECT_THAT(x.stdout_data, Not(HasSubstr("BASH_ENV")));
  EXPECT_THAT(x.stdout_data, HasSubstr("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
  EXPECT_THAT(x.stdout_data, HasSubstr("HOME=/root\n"));
  ::unsetenv("SBX_TEST_HOST_SECRET");
  ::unsetenv("BASH_ENV");
  EXPECT_THAT(b.exec(exec_request({"true"}).with_env("LD_PRELOAD", "/x.so")), fails_with(error_kind::invalid_request));
  EXPECT_THAT(local_client().create(request<local>{}.env("BASH_ENV", "/x")), fails_with(error_kind::invalid_request));
}

TEST(local_runtime, host_files_and_processes_are_not_visible) {
  SBX_REQUIRE_LOCAL();
  std::string marker = "/tmp/sbx-host-marker-" + std::to_string(::getpid());
  std::ofstream(marker) << "host";
  auto b = make();
  EXPECT_NE(run(b, {"cat", marker}).exit_code, 0);
  EXPECT_NE(run(b, {"ls", local_config().state_dir}).exit_code, 0);
  EXPECT_EQ(sh(b, "ls -A /root /home 2>/dev/null | grep -v ':$' | grep -c . || true").stdout_data, "0\n");
  EXPECT_NE(sh(b, "grep -q '^root:\\$' /etc/shadow").exit_code, 0);
  // Only the sandbox's own processes: pid 1 (the agent) and this shell's.
  auto ps = sh(b, "ls /proc | grep -E '^[0-9]+$' | sort -n | head -1");
  EXPECT_EQ(ps.stdout_data, "1\n");
  EXPECT_THAT(sh(b, "cat /proc/1/cmdline 2>/dev/null; echo").stdout_data, Not(HasSubstr("systemd")));
  EXPECT_EQ(run(b, {"id", "-u"}).stdout_data, "0\n");
  EXPECT_EQ(run(b, {"hostname"}).stdout_data, b.id() + "\n");
  // Writes stay in the sandbox. (Unprivileged, the image's own files are read-only: they
  // belong to an id outside the single-uid map; /tmp and /root are fresh tmpfs.)
  if (::geteuid() == 0) EXPECT_EQ(sh(b, "echo changed > /etc/motd && cat /etc/motd").stdout_data, "changed\n");
  EXPECT_EQ(sh(b, "echo changed > /tmp/motd && cat /tmp/motd").stdout_data, "changed\n");
  std::ifstream img(local_config().default_image + "/etc/motd");
  std::string line;
  std::getline(img, line);
  EXPECT_NE(line, "changed");
  // The network is blocked: only loopback.
  EXPECT_NE(sh(b, "python3 -c \"import socket; socket.create_connection(('10.0.0.1', 80), timeout=1)\"").exit_code, 0);
  EXPECT_EQ(sh(b, "python3 -c \"import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print('lo')\"").stdout_data, "lo\n");
  ::unlink(marker.c_str());
}

TEST(local_runtime, network_modes_beyond_blocked_reach_the_policy_engine) {
  SBX_REQUIRE_LOCAL();
  auto c = local_client();
  // allow: the sandbox is pointed at its proxy (the policy itself is tested in tests/network).
  auto allowed = c.create(request<local>{}.allow_hosts({"example.com"}));
  ASSERT_THAT(allowed, succeeds());
  EXPECT_THAT(run(allowed.value(), {"sh", "-c", "echo $HTTPS_PROXY"}).stdout_data, testing::HasSubstr("127.0.0.1:3128"));
  // A secret's value never enters the sandbox: its variable holds a placeholder.
  auto secret = c.create(request<local>{}.secret("TOKEN", "sk-real-value-123", {"example.com"}));
  ASSERT_THAT(secret, succeeds());
  auto token = run(secret.value(), {"sh", "-c", "echo $TOKEN"}).stdout_data;
  EXPECT_THAT(token, testing::Not(testing::HasSubstr("sk-real-value-123")));
  EXPECT_THAT(token, testing::StartsWith("SBX_SECRET_"));
  auto b = make();
  EXPECT_THAT(b.update_network(network_policy::open()), succeeds());
  EXPECT_THAT(b.update_network(network_policy::blocked()), succeeds());
}

// What earlier tests killed is removed off the hot path; the baseline is taken once that
// has happened.
leftovers settled_baseline() {
  leftovers l;
  eventually([&] { l = count_leftovers(); return l.supervisors == 0 && l.state_dirs == 0; }, 10s);
  return l;
}

TEST(local_runtime, nothing_leaks_after_create_kill_cycles) {
  SBX_REQUIRE_LOCAL();
  std::set<std::string> ids;
  auto before = settled_baseline();
  for (int i = 0; i < 20; ++i) {
    auto b = make(::geteuid() == 0 ? request<local>{}.memory("128 MiB") : request<local>{});
    ids.insert(b.id());
    EXPECT_EQ(run(b, {"true"}).exit_code, 0);
    EXPECT_THAT(b.kill(), succeeds());
  }
  EXPECT_TRUE(eventually([&] { return count_leftovers(ids) == before; })) << count_leftovers(ids) << " vs " << before;
}

TEST(local_runtime, killed_supervisor_takes_the_sandbox_and_gc_cleans_up) {
  SBX_REQUIRE_LOCAL();
  auto before = settled_baseline();
  std::set<std::string> ids;
  auto b = make(::geteuid() == 0 ? request<local>{}.timeout("5m").memory("64 MiB") : request<local>{}.timeout("5m"));
  ids.insert(b.id());
  ASSERT_THAT(b.spawn({"sleep", "600"}), succeeds());
  std::ifstream st(local_config().state_dir + "/sandboxes/" + b.id() + "/state.json");
  std::string s((std::istreambuf_iterator<char>(st)), {});
  auto pos = s.find("\"supervisor_pid\":");
  ASSERT_NE(pos, std::string::npos);
  pid_t sup = std::stoi(s.substr(pos + 17));
  auto init = s.find("\"init_pid\":");
  pid_t init_pid = std::stoi(s.substr(init + 11));
  ASSERT_EQ(::kill(sup, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return ::kill(init_pid, 0) != 0; })) << "pid 1 of the sandbox survived its supervisor";
  EXPECT_THAT(b.exec({"true"}), fails_with(error_kind::not_found));
  EXPECT_TRUE(eventually([&] {
    auto g = local_client().provider().gc();
    return g && count_leftovers(ids) == before;
  })) << count_leftovers(ids) << " vs " << before;
}

TEST(local_runtime, killed_client_takes_its_session_sandboxes_only) {
  SBX_REQUIRE_LOCAL();
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(pipefd[0]);
    auto c = local_client();
    auto s = c.create(request<local>{});
    auto d = c.create(request<local>{}.timeout("5m"));
    std::string ids = (s ? s.value().id() : "x") + " " + (d ? d.value().id() : "x") + "\n";
    (void)!::write(pipefd[1], ids.data(), ids.size());
    ::pause();
    _exit(0);
  }
  ::close(pipefd[1]);
  std::string got;
  char buf[256];
  ssize_t n;
  while (got.find('\n') == std::string::npos && (n = ::read(pipefd[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  std::string session_id, duration_id;
  std::istringstream(got) >> session_id >> duration_id;
  ASSERT_TRUE(listed(session_id));
  ASSERT_TRUE(listed(duration_id));
  ::kill(child, SIGKILL);
  int st;
  ::waitpid(child, &st, 0);
  EXPECT_TRUE(eventually([&] { return !listed(session_id); }));
  EXPECT_TRUE(listed(duration_id));
  auto d = local_client().connect(duration_id);
  ASSERT_THAT(d, succeeds());
  EXPECT_THAT(d.value().kill(), succeeds());
}

// Run from the root suite: a child drops to uid 65534 and uses the provider unprivileged
// (single-uid map, no cgroups): exec works, /tmp is writable, a memory limit is refused
// with the reason, never silently dropped.
TEST(local_runtime, unprivileged_mode_works_with_what_is_available) {
  SBX_REQUIRE_LOCAL();
  if (::geteuid() != 0) GTEST_SKIP() << "this test drops privileges from root; the suite itself runs unprivileged here";
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(pipefd[0]);
    std::string out;
    auto say = [&](std::string s) { out += s + "\n"; };
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      say("setuid failed");
    } else {
      char tmpl[] = "/tmp/sbx-unpriv-XXXXXX";
      if (!::mkdtemp(tmpl)) say("mkdtemp failed");
      local::config cfg;
      cfg.state_dir = tmpl;
      cfg.default_image = local_config().default_image;
      cfg.supervisor_path = local_config().supervisor_path;
      client<local> c{local(cfg)};
      auto limited = c.create(request<local>{}.memory("64 MiB"));
      say(std::string("memory: ") + (limited ? "created" : std::string(to_string(limited.error().kind()))));
      {
        auto b = c.create(request<local>{});
        if (!b) {
          say("create: " + b.error().to_string());
        } else {
          auto r = b.value().exec(exec_request::shell("id -u; echo hi > /tmp/f && cat /tmp/f; cat /proc/self/status | grep -c '^Seccomp:.2'"));
          say(r ? r.value().stdout_data : "exec: " + r.error().to_string());
          say(b.value().kill() ? "killed" : "kill failed");
        }
      }
      for (int i = 0; i < 50 && !c.provider().gc().value().empty(); ++i) ::usleep(50000);
      std::error_code ec;
      for (int i = 0; i < 50 && !std::filesystem::is_empty(std::string(tmpl) + "/sandboxes", ec); ++i) ::usleep(50000);
      std::filesystem::remove_all(tmpl, ec);
    }
    (void)!::write(pipefd[1], out.data(), out.size());
    _exit(0);
  }
  ::close(pipefd[1]);
  std::string got;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int st;
  ::waitpid(child, &st, 0);
  EXPECT_THAT(got, HasSubstr("memory: unsupported\n"));
  EXPECT_THAT(got, HasSubstr("0\nhi\n1\n"));
  EXPECT_THAT(got, HasSubstr("killed\n"));
}

// A sandbox claimed from a warm pool is one made for the request: its id as hostname, the
// requested environment, limits, labels and lifetime, an empty upper dir, cgroups of its own;
// and warm sandboxes are neither listed nor connectable.
TEST(local_runtime, a_warm_pool_sandbox_is_made_for_its_request) {
  SBX_REQUIRE_LOCAL();
  if (::geteuid() != 0) GTEST_SKIP() << "the limits checked here need root";
  local::config cfg = local_config();
  cfg.warm_pool = 2;
  client<local> pooled{local(cfg)};
  auto first = pooled.create();  // starts the pool
  ASSERT_THAT(first, succeeds());
  auto dir = std::filesystem::path(cfg.state_dir) / "sandboxes";
  auto warm_ids = [&] {
    std::vector<std::string> ids;
    std::error_code ec;
    for (auto const& e : std::filesystem::directory_iterator(dir, ec)) {
      std::ifstream in(e.path() / "state.json");
      std::string s((std::istreambuf_iterator<char>(in)), {});
      if (s.find("\"pooled\":true") != std::string::npos && s.find("\"init_pid\":-1") == std::string::npos)
        ids.push_back(e.path().filename());
    }
    return ids;
  };
  ASSERT_TRUE(eventually([&] { return warm_ids().size() >= 2; }, 30s)) << "the pool did not fill";
  auto warm = warm_ids();
  for (auto const& id : warm) {
    EXPECT_FALSE(listed(id)) << id;
    EXPECT_THAT(local_client().connect(id), fails_with(error_kind::not_found)) << id;
  }
  auto b_r = pooled.create(request<local>{}.memory("96 MiB").cpus(0.5).env("FROM_REQUEST", "w1").label("pool", "yes").timeout("5m"));
  ASSERT_THAT(b_r, succeeds());
  auto b = std::move(b_r).value();
  EXPECT_TRUE(std::find(warm.begin(), warm.end(), b.id()) != warm.end()) << b.id() << " was not claimed from the pool";
  EXPECT_EQ(run(b, {"hostname"}).stdout_data, b.id() + "\n");
  EXPECT_EQ(run(b, {"sh", "-c", "echo $FROM_REQUEST:$HOME"}).stdout_data, "w1:/root\n");
  // Its upper dir holds what a fresh sandbox's holds (the mount points its setup made), no more.
  auto upper_of = [&](std::string const& id) {
    std::set<std::string> names;
    std::error_code ec;
    auto up = dir / id / "upper";
    for (auto it = std::filesystem::recursive_directory_iterator(up, ec); it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      names.insert(std::filesystem::relative(it->path(), up).string());
    return names;
  };
  EXPECT_EQ(upper_of(b.id()), upper_of(first.value().id()));
  std::ifstream st(dir / b.id() / "state.json");
  std::string s((std::istreambuf_iterator<char>(st)), {});
  EXPECT_THAT(s, HasSubstr("\"ready\":true"));
  EXPECT_THAT(s, HasSubstr("\"pooled\":false"));
  auto mem = s.find("\"memory\":\"");
  ASSERT_NE(mem, std::string::npos);
  std::string memdir = s.substr(mem + 10, s.find('"', mem + 10) - mem - 10);
  std::ifstream lim(memdir + "/memory.limit_in_bytes");
  std::uint64_t bytes = 0;
  lim >> bytes;
  EXPECT_EQ(bytes, std::uint64_t{96} << 20);
  auto l = local_client().list({{"pool", "yes"}});
  ASSERT_THAT(l, succeeds());
  ASSERT_EQ(l.value().size(), 1u);
  EXPECT_EQ(l.value()[0].id, b.id());
  EXPECT_TRUE(l.value()[0].expires.has_value());
  // The memory limit is enforced like on a fresh sandbox.
  auto r = run(b, {"python3", "-c", "b = b'x' * (300 << 20); print('survived')"});
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_TRUE(r.oom_killed);
  EXPECT_THAT(b.kill(), succeeds());
}

TEST(local_runtime, host_report_names_what_was_detected) {
  SBX_REQUIRE_LOCAL();
  auto lines = local(local_config()).host_report();
  std::string all;
  for (auto const& l : lines) all += l + "\n";
  std::cerr << all;
  EXPECT_THAT(all, HasSubstr("cgroups: "));
  EXPECT_THAT(all, HasSubstr("mode: "));
}

TEST(local_runtime, exec_round_trip_is_close_to_host_fork_exec) {
  SBX_REQUIRE_LOCAL();
  auto b = make();
  for (int i = 0; i < 10; ++i) (void)b.exec({"/bin/true"});
  std::vector<double> sb, host, cycle;
  for (int i = 0; i < 100; ++i) {
    auto t0 = clock::now();
    auto r = b.exec({"/bin/true"});
    sb.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
    ASSERT_THAT(r, succeeds());
    t0 = clock::now();
    pid_t pid;
    char const* argv[] = {"/bin/true", nullptr};
    ASSERT_EQ(::posix_spawn(&pid, "/bin/true", nullptr, nullptr, const_cast<char* const*>(argv), nullptr), 0);
    int st;
    ::waitpid(pid, &st, 0);
    host.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
  }
  auto c = local_client();
  for (int i = 0; i < 30; ++i) {
    auto t0 = clock::now();
    auto x = c.create(request<local>{});
    ASSERT_THAT(x, succeeds());
    ASSERT_THAT(x.value().exec({"/bin/true"}), succeeds());
    ASSERT_THAT(x.value().kill(), succeeds());
    cycle.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
  }
  double ms = median(sb), mh = median(host);
  std::cerr << "[local tests] exec round trip p50 " << ms << " us, host fork+exec p50 " << mh << " us, ratio "
            << ms / mh << "; create->exec->kill p50 " << median(cycle) << " us\n";
  EXPECT_LT(ms / mh, 2.0);
}

}  // namespace
}  // namespace sbx::test
