// SPDX-License-Identifier: Apache-2.0
#pragma once

// The conformance suite: ONE typed suite that every provider, and `any_sandbox` over it,
// must pass (design.md §7). A provider is done when it passes it.
//
// An environment type says how to reach the provider under test:
//
//   struct my_env {
//     using provider = sbx::local;                 // whose capabilities decide what runs
//     using client_type = sbx::client<sbx::local>;  // or sbx::any_client
//     static client_type make_client();
//     static std::optional<sbx::conformance::test_image> custom_image();  // for cap::custom_image
//     static std::vector<std::string> repl_languages();               // for cap::kernel_session
//   and, where the defaults do not fit the provider:
//     static sbx::memory memory();                 // the suite's request size (default 256 MiB)
//     static constexpr bool readonly_volumes = false;  // read-only mounts are unsupported there
//     static std::string reach(std::string url);   // how the host reaches an exposed URL
//                                                   // (a test server routing by Host header)
//   };
//
// Instantiate with SBX_CONFORMANCE(name, env) (see below). The core suite runs on every
// environment; each capability suite only where `supports<provider, cap::X>`. Every test goes
// through the same member names, so typed and type-erased surfaces are held to one contract.

#include "matchers.hpp"

#include <sbx/any.hpp>
#include <sbx/sbx.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace sbx::conformance {

using namespace std::chrono_literals;
using sbx::test::fails_with;
using sbx::test::succeeds;
using sbx::test::succeeds_with;
using testing::Field;
using testing::HasSubstr;

/// Unwraps a result that the test needs, failing the test (with the error's text) if it is
/// an error. Use only where a later assertion would be meaningless without the value.
#define SBX_ASSERT_OK(var, ...)                                                    \
  auto var##_result = (__VA_ARGS__);                                               \
  ASSERT_TRUE(var##_result) << var##_result.error().to_string();                   \
  auto var = std::move(var##_result).value()

inline std::string unique(std::string_view prefix) {
  static std::atomic<unsigned> n{0};
  return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

/// A fresh local directory, removed with this object.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "sbx-conf-XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline std::string read_local(std::filesystem::path const& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
inline void write_local(std::filesystem::path const& p, std::string_view data) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
}

/// GET `url` (http://host:port/path) with a plain socket; returns the whole response.
/// `host_header` replaces the Host the URL implies (a server that routes by Host).
inline std::string http_get(std::string const& url, std::string host_header = "") {
  std::string rest = url.substr(url.find("://") + 3);
  std::string hostport = rest.substr(0, rest.find('/'));
  std::string path = rest.find('/') == std::string::npos ? "/" : rest.substr(rest.find('/'));
  std::string host = hostport.substr(0, hostport.rfind(':'));
  std::string port = hostport.substr(hostport.rfind(':') + 1);
  if (host_header.empty()) host_header = hostport;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &ai) != 0) return {};
  int fd = ::socket(ai->ai_family, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string resp;
  if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host_header + "\r\nConnection: close\r\n\r\n";
    (void)::write(fd, req.data(), req.size());
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  ::freeaddrinfo(ai);
  return resp;
}

/// What a custom_image test boots: an image and a file only it has.
struct test_image {
  sbx::image image;
  std::string marker_path;
  std::string marker_content;
};

template <class Env>
class suite : public ::testing::Test {
 protected:
  using provider = typename Env::provider;
  using client_type = typename Env::client_type;

  static client_type& client() {
    static client_type c = Env::make_client();
    return c;
  }
  static common_request basic() {
    common_request r;
    if constexpr (requires { Env::memory(); }) r.memory = Env::memory();
    else r.memory = sbx::memory::mib(256);
    return r;
  }
  static constexpr bool readonly_volumes() {
    if constexpr (requires { Env::readonly_volumes; }) return Env::readonly_volumes;
    else return true;
  }
  /// GET an exposed URL the way the host reaches it.
  static std::string get_exposed(std::string const& url) {
    if constexpr (requires(std::string const& u) { Env::reach(u); }) {
      auto [address, host] = Env::reach(url);
      return http_get(address, host);
    } else {
      return http_get(url);
    }
  }
  /// A session sandbox, destroyed at the end of the test.
  auto create(common_request const& r = basic()) { return client().create(r); }
};

// ---------------------------------------------------------------------------------------
// The core suite: what every provider must do.
// ---------------------------------------------------------------------------------------

template <class Env>
class core : public suite<Env> {};
TYPED_TEST_SUITE_P(core);

TYPED_TEST_P(core, exec_runs_python_and_prints_42) {
  SBX_ASSERT_OK(box, this->create());
  EXPECT_THAT(box.exec({"python3", "-c", "print(6*7)"}),
              succeeds_with(AllOf(Field(&exec_result::exit_code, 0), Field(&exec_result::stdout_data, "42\n"))));
}

TYPED_TEST_P(core, exec_returns_nonzero_exit_as_value) {
  SBX_ASSERT_OK(box, this->create());
  EXPECT_THAT(box.exec({"sh", "-c", "exit 3"}), succeeds_with(Field(&exec_result::exit_code, 3)));
  EXPECT_THAT(box.exec({"false"}), succeeds_with(Field(&exec_result::exit_code, 1)));
}

TYPED_TEST_P(core, exec_keeps_stdout_and_stderr_apart) {
  SBX_ASSERT_OK(box, this->create());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "echo out; echo err >&2; echo out2"}));
  EXPECT_EQ(r.stdout_data, "out\nout2\n");
  EXPECT_EQ(r.stderr_data, "err\n");
  EXPECT_FALSE(r.stdout_truncated);
  EXPECT_FALSE(r.stderr_truncated);
}

TYPED_TEST_P(core, exec_passes_stdin_bytes) {
  SBX_ASSERT_OK(box, this->create());
  std::string data;
  for (int i = 0; i < 256; ++i) data += static_cast<char>(i);
  data += std::string(200000, 'x');  // more than a pipe buffer
  exec_request r{"cat"};
  r.stdin_data = data;
  EXPECT_THAT(box.exec(r), succeeds_with(Field(&exec_result::stdout_data, data)));
}

TYPED_TEST_P(core, exec_honours_cwd_and_env) {
  common_request cr = this->basic();
  cr.env["FROM_CREATE"] = "one";
  SBX_ASSERT_OK(box, this->create(cr));
  exec_request r{"sh", "-c", "pwd; echo $FROM_CREATE $FROM_EXEC"};
  r.cwd = "/tmp";
  r.env["FROM_EXEC"] = "two words";
  EXPECT_THAT(box.exec(r), succeeds_with(Field(&exec_result::stdout_data, "/tmp\none two words\n")));
}

TYPED_TEST_P(core, exec_environment_is_scrubbed) {
  ::setenv("SBX_CONFORMANCE_HOST_ONLY", "leak", 1);
  SBX_ASSERT_OK(box, this->create());
  SBX_ASSERT_OK(r, box.exec({"env"}));
  EXPECT_THAT(r.stdout_data, testing::Not(HasSubstr("SBX_CONFORMANCE_HOST_ONLY")));
  EXPECT_THAT(r.stdout_data, testing::Not(HasSubstr("LD_PRELOAD")));
  EXPECT_THAT(r.stdout_data, testing::Not(HasSubstr("BASH_ENV")));
  EXPECT_THAT(r.stdout_data, HasSubstr("PATH="));
}

TYPED_TEST_P(core, exec_timeout_is_an_error_that_keeps_partial_output) {
  SBX_ASSERT_OK(box, this->create());
  exec_request r{"sh", "-c", "echo before; echo oops >&2; sleep 30; echo after"};
  r.timeout = 1500ms;
  auto t0 = std::chrono::steady_clock::now();
  auto res = box.exec(r);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_THAT(res, fails_with(error_kind::timeout));
  EXPECT_EQ(res.error().detail().partial_stdout, "before\n");
  EXPECT_EQ(res.error().detail().partial_stderr, "oops\n");
  EXPECT_LT(took, 10s);
  // The sandbox is still usable after a timed-out command.
  EXPECT_THAT(box.exec({"true"}), succeeds_with(Field(&exec_result::exit_code, 0)));
}

TYPED_TEST_P(core, exec_output_cap_sets_truncated_flags) {
  SBX_ASSERT_OK(box, this->create());
  exec_request r{"sh", "-c", "head -c 100000 /dev/zero; head -c 10 /dev/zero >&2"};
  r.output_limit = 4096;
  SBX_ASSERT_OK(res, box.exec(r));
  EXPECT_EQ(res.exit_code, 0);
  EXPECT_EQ(res.stdout_data.size(), 4096u);
  EXPECT_TRUE(res.stdout_truncated);
  EXPECT_EQ(res.stderr_data.size(), 10u);
  EXPECT_FALSE(res.stderr_truncated);
}

TYPED_TEST_P(core, exec_streams_output_before_the_command_exits) {
  SBX_ASSERT_OK(box, this->create());
  auto t0 = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::duration> first;
  std::string seen;
  exec_request r{"sh", "-c", "echo first; sleep 2; echo second"};
  r.on_output = [&](output_stream, std::string_view d) {
    if (!first) first = std::chrono::steady_clock::now() - t0;
    seen += d;
  };
  SBX_ASSERT_OK(res, box.exec(r));
  auto total = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(first.has_value());
  EXPECT_LT(*first + 1500ms, total) << "the first line arrived only when the command ended";
  EXPECT_EQ(seen, "first\nsecond\n");
  EXPECT_EQ(res.stdout_data, "first\nsecond\n");
}

TYPED_TEST_P(core, exec_of_a_missing_command_is_exec_failed) {
  SBX_ASSERT_OK(box, this->create());
  auto r = box.exec({"no-such-command-sbx"});
  ASSERT_THAT(r, fails_with(error_kind::exec_failed));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("no-such-command-sbx"));
}

TYPED_TEST_P(core, exec_reports_death_by_signal_as_128_plus_n) {
  SBX_ASSERT_OK(box, this->create());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "kill -TERM $$"}));
  EXPECT_EQ(r.exit_code, 128 + 15);
}

TYPED_TEST_P(core, exec_stop_token_cancels_the_command) {
  SBX_ASSERT_OK(box, this->create());
  std::stop_source stop;
  exec_request r{"sleep", "30"};
  r.stop = stop.get_token();
  std::jthread canceller([&] {
    std::this_thread::sleep_for(300ms);
    stop.request_stop();
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THAT(box.exec(r), fails_with(error_kind::cancelled));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TYPED_TEST_P(core, sh_quotes_every_argument) {
  SBX_ASSERT_OK(box, this->create());
  std::string nasty = "it's $HOME `id` $(id); rm -rf / \"\\\n*";
  EXPECT_THAT(box.sh("printf '%s|' {} {}", nasty, std::vector<std::string>{"a b", ""}),
              succeeds_with(Field(&exec_result::stdout_data, nasty + "|a b||")));
  EXPECT_THAT(box.sh("echo {}"), fails_with(error_kind::invalid_request));
}

TYPED_TEST_P(core, spawn_streams_output_and_waits) {
  SBX_ASSERT_OK(box, this->create());
  SBX_ASSERT_OK(p, box.spawn({"sh", "-c", "echo one; echo two >&2; sleep 0.2; echo three; exit 5"}));
  std::string out, err;
  for (;;) {
    SBX_ASSERT_OK(chunk, p.read(10s));
    if (!chunk) break;
    (chunk->stream == output_stream::out ? out : err) += chunk->data;
  }
  EXPECT_EQ(out, "one\nthree\n");
  EXPECT_EQ(err, "two\n");
  EXPECT_THAT(p.wait(10s), succeeds_with(Field(&exit_status::exit_code, 5)));
}

TYPED_TEST_P(core, spawn_takes_stdin_while_running) {
  SBX_ASSERT_OK(box, this->create());
  SBX_ASSERT_OK(p, box.spawn({"sh", "-c", "read a; echo got:$a; read b; echo got:$b"}));
  ASSERT_THAT(p.write_stdin("first\n"), succeeds());
  std::string out;
  while (out.find("got:first") == std::string::npos) {
    SBX_ASSERT_OK(chunk, p.read(10s));
    ASSERT_TRUE(chunk) << "ended early, output so far: " << out;
    out += chunk->data;
  }
  ASSERT_THAT(p.write_stdin("second\n"), succeeds());
  ASSERT_THAT(p.close_stdin(), succeeds());
  EXPECT_THAT(p.wait(10s), succeeds_with(Field(&exit_status::exit_code, 0)));
}

TYPED_TEST_P(core, spawn_kill_ends_the_process) {
  SBX_ASSERT_OK(box, this->create());
  SBX_ASSERT_OK(p, box.spawn({"sleep", "60"}));
  EXPECT_THAT(p.wait(200ms), fails_with(error_kind::timeout));
  ASSERT_THAT(p.kill(9), succeeds());
  SBX_ASSERT_OK(st, p.wait(10s));
  EXPECT_EQ(st.signal, 9);
  EXPECT_EQ(st.exit_code, 128 + 9);
}

TYPED_TEST_P(core, files_write_then_read_back_every_byte) {
  SBX_ASSERT_OK(box, this->create());
  std::string data;
  for (int i = 0; i < 4096; ++i) data += static_cast<char>(i % 256);
  ASSERT_THAT(box.write_file("/tmp/conf/bytes.bin", data), succeeds());
  EXPECT_THAT(box.read_file("/tmp/conf/bytes.bin"), succeeds_with(data));
  EXPECT_THAT(box.exec({"sh", "-c", "wc -c < /tmp/conf/bytes.bin"}), succeeds_with(Field(&exec_result::stdout_data, "4096\n")));
  // What a command writes, read_file sees.
  ASSERT_THAT(box.exec({"sh", "-c", "printf made-inside > /tmp/inside.txt"}), succeeds());
  EXPECT_THAT(box.read_file("/tmp/inside.txt"), succeeds_with(std::string("made-inside")));
}

TYPED_TEST_P(core, files_missing_path_is_not_found_and_relative_is_invalid) {
  SBX_ASSERT_OK(box, this->create());
  auto r = box.read_file("/no/such/file");
  ASSERT_THAT(r, fails_with(error_kind::not_found));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("/no/such/file"));
  EXPECT_THAT(box.stat("/no/such/file"), fails_with(error_kind::not_found));
  EXPECT_THAT(box.remove("/no/such/file"), fails_with(error_kind::not_found));
  EXPECT_THAT(box.list("/no/such/dir"), fails_with(error_kind::not_found));
  EXPECT_THAT(box.exists("/no/such/file"), succeeds_with(false));
  EXPECT_THAT(box.read_file("relative/path"), fails_with(error_kind::invalid_request));
}

TYPED_TEST_P(core, files_list_stat_mkdir_rename_remove) {
  SBX_ASSERT_OK(box, this->create());
  ASSERT_THAT(box.make_dir("/tmp/a/b/c"), succeeds());
  ASSERT_THAT(box.make_dir("/tmp/a/b/c"), succeeds());  // mkdir -p: existing is fine
  ASSERT_THAT(box.write_file("/tmp/a/one.txt", "1", {0600, true}), succeeds());
  ASSERT_THAT(box.write_file("/tmp/a/two.txt", "22"), succeeds());
  SBX_ASSERT_OK(entries, box.list("/tmp/a"));
  std::vector<std::string> names;
  for (auto const& e : entries) names.push_back(e.name);
  EXPECT_THAT(names, testing::UnorderedElementsAre("b", "one.txt", "two.txt"));
  SBX_ASSERT_OK(st, box.stat("/tmp/a/two.txt"));
  EXPECT_EQ(st.type, file_type::regular);
  EXPECT_EQ(st.size, 2u);
  SBX_ASSERT_OK(st1, box.stat("/tmp/a/one.txt"));
  EXPECT_EQ(st1.mode & 0777, 0600u);
  SBX_ASSERT_OK(dir, box.stat("/tmp/a/b"));
  EXPECT_EQ(dir.type, file_type::directory);
  ASSERT_THAT(box.rename("/tmp/a/two.txt", "/tmp/a/b/moved.txt"), succeeds());
  EXPECT_THAT(box.exists("/tmp/a/two.txt"), succeeds_with(false));
  EXPECT_THAT(box.read_file("/tmp/a/b/moved.txt"), succeeds_with(std::string("22")));
  EXPECT_THAT(box.remove("/tmp/a/b"), testing::Not(succeeds()));  // not empty, not recursive
  ASSERT_THAT(box.remove("/tmp/a", true), succeeds());
  EXPECT_THAT(box.exists("/tmp/a"), succeeds_with(false));
}

TYPED_TEST_P(core, files_stream_large_content_both_ways) {
  SBX_ASSERT_OK(box, this->create());
  constexpr std::size_t total = std::size_t{8} << 20;
  std::size_t sent = 0;
  std::mt19937 rng(7);
  std::uint64_t sum_out = 0;
  byte_source src = [&](std::span<char> buf) -> result<std::size_t> {
    std::size_t n = std::min(buf.size(), total - sent);
    for (std::size_t i = 0; i < n; ++i) { buf[i] = static_cast<char>(rng()); sum_out += static_cast<unsigned char>(buf[i]); }
    sent += n;
    return n;
  };
  ASSERT_THAT(box.write_file("/tmp/big.bin", std::move(src)), succeeds());
  std::size_t got = 0;
  std::uint64_t sum_in = 0;
  ASSERT_THAT(box.read_file("/tmp/big.bin", [&](std::string_view d) -> result<void> {
    got += d.size();
    for (unsigned char c : d) sum_in += c;
    return success();
  }), succeeds());
  EXPECT_EQ(got, total);
  EXPECT_EQ(sum_in, sum_out);
}

TYPED_TEST_P(core, files_upload_and_download_a_tree) {
  SBX_ASSERT_OK(box, this->create());
  temp_dir local;
  write_local(local.path / "src/top.txt", "top");
  write_local(local.path / "src/sub/deep.txt", "deep");
  std::filesystem::permissions(local.path / "src/top.txt", std::filesystem::perms(0640));
  ASSERT_THAT(box.upload((local.path / "src").string(), "/tmp/up"), succeeds());
  EXPECT_THAT(box.read_file("/tmp/up/sub/deep.txt"), succeeds_with(std::string("deep")));
  SBX_ASSERT_OK(st, box.stat("/tmp/up/top.txt"));
  EXPECT_EQ(st.mode & 0777, 0640u);
  ASSERT_THAT(box.exec({"sh", "-c", "echo made > /tmp/up/sub/new.txt"}), succeeds());
  ASSERT_THAT(box.download("/tmp/up", (local.path / "back").string()), succeeds());
  EXPECT_EQ(read_local(local.path / "back/top.txt"), "top");
  EXPECT_EQ(read_local(local.path / "back/sub/new.txt"), "made\n");
  EXPECT_THAT(box.upload((local.path / "nope").string(), "/tmp/x"), fails_with(error_kind::not_found));
}

TYPED_TEST_P(core, session_sandbox_is_gone_with_its_handle) {
  std::string id;
  {
    SBX_ASSERT_OK(box, this->create());
    id = box.id();
    ASSERT_THAT(box.exec({"true"}), succeeds());
  }
  // Give an asynchronous provider a moment, then the id must be unknown.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto again = this->client().connect(id);
    if (!again) {
      EXPECT_THAT(again, fails_with(error_kind::not_found));
      break;
    }
    auto r = again.value().exec({"true"});
    if (!r) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "session sandbox " << id << " outlived its handle";
    std::this_thread::sleep_for(100ms);
  }
}

TYPED_TEST_P(core, duration_sandbox_survives_close_and_reconnects) {
  common_request r = this->basic();
  r.lifetime = 5min;
  std::string label = unique("dur");
  r.labels["conformance"] = label;
  SBX_ASSERT_OK(box, this->create(r));
  std::string id = box.id();
  ASSERT_THAT(box.write_file("/tmp/kept.txt", "still here"), succeeds());
  box.close();
  SBX_ASSERT_OK(again, this->client().connect(id));
  EXPECT_THAT(again.read_file("/tmp/kept.txt"), succeeds_with(std::string("still here")));
  SBX_ASSERT_OK(info, again.info());
  EXPECT_EQ(info.id, id);
  EXPECT_EQ(info.status, sandbox_status::running);
  ASSERT_TRUE(info.expires.has_value());
  auto before = *info.expires;
  ASSERT_THAT(again.extend_timeout(20min), succeeds());
  SBX_ASSERT_OK(info2, again.info());
  ASSERT_TRUE(info2.expires.has_value());
  EXPECT_GT(*info2.expires, before);
  SBX_ASSERT_OK(listed, this->client().list({{"conformance", label}}));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);
  ASSERT_THAT(again.kill(), succeeds());
  EXPECT_THAT(this->client().connect(id), fails_with(error_kind::not_found));
}

TYPED_TEST_P(core, duration_sandbox_is_killed_at_its_deadline) {
  common_request r = this->basic();
  r.lifetime = 2s;
  SBX_ASSERT_OK(box, this->create(r));
  std::string id = box.id();
  box.close();
  std::this_thread::sleep_for(2s);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto again = this->client().connect(id);
    if (!again) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << id << " outlived its deadline";
    std::this_thread::sleep_for(200ms);
  }
}

TYPED_TEST_P(core, list_filters_by_labels) {
  std::string label = unique("list");
  common_request a = this->basic(), b = this->basic();
  a.labels = {{"conformance", label}, {"role", "a"}};
  b.labels = {{"conformance", label}, {"role", "b"}};
  SBX_ASSERT_OK(ba, this->create(a));
  SBX_ASSERT_OK(bb, this->create(b));
  SBX_ASSERT_OK(both, this->client().list({{"conformance", label}}));
  EXPECT_EQ(both.size(), 2u);
  SBX_ASSERT_OK(only_b, this->client().list({{"conformance", label}, {"role", "b"}}));
  ASSERT_EQ(only_b.size(), 1u);
  EXPECT_EQ(only_b[0].id, bb.id());
  EXPECT_EQ(only_b[0].labels.at("role"), "b");
}

TYPED_TEST_P(core, killed_sandbox_is_not_found) {
  SBX_ASSERT_OK(box, this->create());
  std::string id = box.id();
  ASSERT_THAT(box.kill(), succeeds());
  EXPECT_THAT(this->client().connect(id), fails_with(error_kind::not_found));
  EXPECT_THAT(this->client().connect("sbx-no-such-sandbox"), fails_with(error_kind::not_found));
}

TYPED_TEST_P(core, bad_requests_are_invalid_before_anything_is_created) {
  common_request r = this->basic();
  r.env["1BAD"] = "x";
  EXPECT_THAT(this->create(r), fails_with(error_kind::invalid_request));
  common_request tiny = this->basic();
  tiny.memory = sbx::memory(1);
  EXPECT_THAT(this->create(tiny), fails_with(error_kind::invalid_request));
}

REGISTER_TYPED_TEST_SUITE_P(core, exec_runs_python_and_prints_42, exec_returns_nonzero_exit_as_value,
                            exec_keeps_stdout_and_stderr_apart, exec_passes_stdin_bytes, exec_honours_cwd_and_env,
                            exec_environment_is_scrubbed, exec_timeout_is_an_error_that_keeps_partial_output,
                            exec_output_cap_sets_truncated_flags, exec_streams_output_before_the_command_exits,
                            exec_of_a_missing_command_is_exec_failed, exec_reports_death_by_signal_as_128_plus_n,
                            exec_stop_token_cancels_the_command, sh_quotes_every_argument,
                            spawn_streams_output_and_waits, spawn_takes_stdin_while_running,
                            spawn_kill_ends_the_process, files_write_then_read_back_every_byte,
                            files_missing_path_is_not_found_and_relative_is_invalid,
                            files_list_stat_mkdir_rename_remove, files_stream_large_content_both_ways,
                            files_upload_and_download_a_tree, session_sandbox_is_gone_with_its_handle,
                            duration_sandbox_survives_close_and_reconnects, duration_sandbox_is_killed_at_its_deadline,
                            list_filters_by_labels, killed_sandbox_is_not_found,
                            bad_requests_are_invalid_before_anything_is_created);

// ---------------------------------------------------------------------------------------
// Capability suites: instantiated only where the provider has the marker.
// ---------------------------------------------------------------------------------------

template <class Env>
class volumes : public suite<Env> {
  static_assert(supports<typename Env::provider, cap::volumes>, "instantiate the volumes suite only where the provider has cap::volumes");
};
TYPED_TEST_SUITE_P(volumes);

TYPED_TEST_P(volumes, volume_data_persists_across_sandboxes) {
  auto& c = this->client();
  SBX_ASSERT_OK(vol, c.create_volume({unique("vol"), {}, {}}));
  {
    common_request r = this->basic();
    r.volumes.push_back({vol.id, "/data", false});
    SBX_ASSERT_OK(box, this->create(r));
    ASSERT_THAT(box.exec({"sh", "-c", "echo persisted > /data/f.txt"}), succeeds_with(Field(&exec_result::exit_code, 0)));
  }
  if constexpr (TestFixture::readonly_volumes()) {
    common_request r = this->basic();
    r.volumes.push_back({vol.id, "/mnt/v", true});
    SBX_ASSERT_OK(box, this->create(r));
    EXPECT_THAT(box.read_file("/mnt/v/f.txt"), succeeds_with(std::string("persisted\n")));
    SBX_ASSERT_OK(w, box.exec({"sh", "-c", "echo x > /mnt/v/g.txt"}));
    EXPECT_NE(w.exit_code, 0) << "a readonly mount was writable";
  } else {
    // Where read-only mounts do not exist, asking for one is refused, never silently writable.
    common_request r = this->basic();
    r.volumes.push_back({vol.id, "/mnt/v", true});
    EXPECT_THAT(this->create(r), fails_with(error_kind::unsupported));
    r.volumes.back().readonly = false;
    SBX_ASSERT_OK(box, this->create(r));
    EXPECT_THAT(box.read_file("/mnt/v/f.txt"), succeeds_with(std::string("persisted\n")));
  }
  SBX_ASSERT_OK(all, c.list_volumes());
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](volume_info const& v) { return v.id == vol.id; }));
  ASSERT_THAT(c.delete_volume(vol.id), succeeds());
  EXPECT_THAT(c.delete_volume(vol.id), fails_with(error_kind::not_found));
  common_request r = this->basic();
  r.volumes.push_back({vol.id, "/data", false});
  EXPECT_THAT(this->create(r), fails_with(error_kind::not_found));
}

REGISTER_TYPED_TEST_SUITE_P(volumes, volume_data_persists_across_sandboxes);

template <class Env>
class snapshots : public suite<Env> {
  static_assert(supports<typename Env::provider, cap::snapshots>, "instantiate the snapshots suite only where the provider has cap::snapshots");
};
TYPED_TEST_SUITE_P(snapshots);

TYPED_TEST_P(snapshots, new_sandbox_boots_from_a_snapshot) {
  auto& c = this->client();
  std::string snap_id;
  {
    SBX_ASSERT_OK(box, this->create());
    ASSERT_THAT(box.write_file("/opt/app/state.txt", "snapshotted"), succeeds());
    ASSERT_THAT(box.exec({"rm", "-f", "/etc/hostname.sbx-none", "/usr/bin/yes"}), succeeds());
    SBX_ASSERT_OK(snap, box.snapshot(unique("snap")));
    snap_id = snap.id;
  }
  common_request r = this->basic();
  r.snapshot = snap_id;
  {
    SBX_ASSERT_OK(box, this->create(r));
    EXPECT_THAT(box.read_file("/opt/app/state.txt"), succeeds_with(std::string("snapshotted")));
    EXPECT_THAT(box.exists("/usr/bin/yes"), succeeds_with(false)) << "a deletion was not kept";
    EXPECT_THAT(box.exists("/usr/bin/env"), succeeds_with(true));
  }
  SBX_ASSERT_OK(all, c.list_snapshots());
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](snapshot_info const& s) { return s.id == snap_id; }));
  ASSERT_THAT(c.delete_snapshot(snap_id), succeeds());
  EXPECT_THAT(c.delete_snapshot(snap_id), fails_with(error_kind::not_found));
  EXPECT_THAT(this->create(r), fails_with(error_kind::not_found));
}

REGISTER_TYPED_TEST_SUITE_P(snapshots, new_sandbox_boots_from_a_snapshot);

template <class Env>
class port_exposure : public suite<Env> {
  static_assert(supports<typename Env::provider, cap::port_exposure>, "instantiate the port_exposure suite only where the provider has cap::port_exposure");
};
TYPED_TEST_SUITE_P(port_exposure);

TYPED_TEST_P(port_exposure, exposed_port_reaches_a_server_inside) {
  SBX_ASSERT_OK(box, this->create());
  ASSERT_THAT(box.write_file("/srv/www/index.html", "hello from inside"), succeeds());
  SBX_ASSERT_OK(server, box.spawn({"python3", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", "/srv/www"}));
  SBX_ASSERT_OK(url, box.expose_port(8000));
  std::string resp;
  for (int i = 0; i < 100 && resp.find("hello from inside") == std::string::npos; ++i) {
    resp = this->get_exposed(url);
    // Not yet listening: an empty reply, a reset, or a gateway's 502, depending on the path.
    if (resp.find("hello from inside") == std::string::npos) std::this_thread::sleep_for(100ms);
  }
  EXPECT_THAT(resp, HasSubstr("hello from inside")) << "url " << url;
  EXPECT_THAT(box.expose_port(0), fails_with(error_kind::invalid_request));
}

REGISTER_TYPED_TEST_SUITE_P(port_exposure, exposed_port_reaches_a_server_inside);

template <class Env>
class pause_resume : public suite<Env> {
  static_assert(supports<typename Env::provider, cap::pause_resume>, "instantiate the pause_resume suite only where the provider has cap::pause_resume");
};
TYPED_TEST_SUITE_P(pause_resume);

TYPED_TEST_P(pause_resume, paused_sandbox_makes_no_progress_and_resumes) {
  SBX_ASSERT_OK(box, this->create());
  SBX_ASSERT_OK(counter, box.spawn({"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"}));
  std::this_thread::sleep_for(300ms);
  ASSERT_THAT(box.pause(), succeeds());
  SBX_ASSERT_OK(info, box.info());
  EXPECT_EQ(info.status, sandbox_status::paused);
  // Read from the host side: a command could not run in a frozen sandbox.
  auto a = box.read_file("/tmp/count");
  std::this_thread::sleep_for(500ms);
  auto b = box.read_file("/tmp/count");
  ASSERT_THAT(a, succeeds());
  EXPECT_EQ(a.value(), b.value()) << "the counter moved while paused";
  ASSERT_THAT(box.resume(), succeeds());
  std::this_thread::sleep_for(500ms);
  auto c = box.read_file("/tmp/count");
  ASSERT_THAT(c, succeeds());
  EXPECT_NE(a.value(), c.value()) << "the counter did not move after resume";
}

REGISTER_TYPED_TEST_SUITE_P(pause_resume, paused_sandbox_makes_no_progress_and_resumes);

template <class Env>
class pty : public suite<Env> {
  static_assert(supports<typename Env::provider, cap::pty>, "instantiate the pty suite only where the provider has cap::pty");
};
TYPED_TEST_SUITE_P(pty);

TYPED_TEST_P(pty, terminal_echoes_and_resizes) {
  SBX_ASSERT_OK(box, this->create());
  pty_request pr;
  pr.cols = 100;
  pr.rows = 30;
  SBX_ASSERT_OK(term, box.open_pty(pr));
  auto read_until = [&](std::string const& want) {
    std::string seen;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (seen.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      auto r = term.read(1s);
      if (r && r.value()) seen += *r.value();
      else if (r) break;  // closed
    }
    return seen;
  };
  ASSERT_THAT(term.write("stty size; echo tty:$(tty)\n"), succeeds());
  auto seen = read_until("tty:/dev/pts/");
  EXPECT_THAT(seen, HasSubstr("30 100"));
  EXPECT_THAT(seen, HasSubstr("tty:/dev/pts/"));
  ASSERT_THAT(term.resize(120, 40), succeeds());
  ASSERT_THAT(term.write("stty size\n"), succeeds());
  EXPECT_THAT(read_until("40 120"), HasSubstr("40 120"));
  ASSERT_THAT(term.write("exit 7\n"), succeeds());
  EXPECT_THAT(term.wait(10s), succeeds_with(Field(&exit_status::exit_code, 7)));
}

REGISTER_TYPED_TEST_SUITE_P(pty, terminal_echoes_and_resizes);

template <class Env>
class kernel_session : public suite<Env> {
  static_assert(supports<typename Env::provider, cap::kernel_session>, "instantiate the kernel_session suite only where the provider has cap::kernel_session");
};
TYPED_TEST_SUITE_P(kernel_session);

TYPED_TEST_P(kernel_session, repl_keeps_state_and_survives_exceptions) {
  SBX_ASSERT_OK(box, this->create());
  for (std::string lang : TypeParam::repl_languages()) {
    SCOPED_TRACE(lang);
    SBX_ASSERT_OK(repl, box.repl(lang));
    std::string set = lang == "python" ? "x = 41" : "var x = 41";
    ASSERT_THAT(repl.eval(set), succeeds());
    EXPECT_THAT(repl.eval("x + 1"), succeeds_with(Field(&repl_output::value, "42")));
    std::string boom = lang == "python" ? "raise ValueError('boom')" : "throw new Error('boom')";
    SBX_ASSERT_OK(err, repl.eval(boom));
    EXPECT_THAT(err.error, HasSubstr("boom"));
    std::string print = lang == "python" ? "print('printed')" : "console.log('printed')";
    EXPECT_THAT(repl.eval(print), succeeds_with(Field(&repl_output::stdout_data, HasSubstr("printed"))));
    EXPECT_THAT(repl.eval("x"), succeeds_with(Field(&repl_output::value, "41")));
  }
  EXPECT_THAT(box.repl("cobol"), fails_with(error_kind::invalid_request));
}

REGISTER_TYPED_TEST_SUITE_P(kernel_session, repl_keeps_state_and_survives_exceptions);

template <class Env>
class custom_image : public suite<Env> {
  static_assert(supports<typename Env::provider, cap::custom_image>, "instantiate the custom_image suite only where the provider has cap::custom_image");
};
TYPED_TEST_SUITE_P(custom_image);

TYPED_TEST_P(custom_image, sandbox_boots_from_the_given_image) {
  auto img = TypeParam::custom_image();
  ASSERT_TRUE(img.has_value()) << "the environment claims cap::custom_image but offers no image to test";
  common_request r = this->basic();
  r.image = img->image;
  SBX_ASSERT_OK(box, this->create(r));
  EXPECT_THAT(box.exec({"cat", img->marker_path}), succeeds_with(Field(&exec_result::stdout_data, img->marker_content)));
}

REGISTER_TYPED_TEST_SUITE_P(custom_image, sandbox_boots_from_the_given_image);

// ---------------------------------------------------------------------------------------
// Network policy and secrets (cap::hostname_allowlist, cap::secret_injection). The upstream
// is a plain HTTP server this test runs on the host's loopback; the environment points test
// names at it (`Env::route_test_name(name, address)`, a test-only resolver override) and the
// policy allows 127.0.0.1 explicitly, since names resolving into loopback are otherwise
// refused: as a CIDR where the provider has cap::cidr_allowlist, else as an address literal.
// ---------------------------------------------------------------------------------------

/// `hosts` plus an explicit allowance of 127.0.0.1.
template <class P>
network_policy allow_with_loopback(std::vector<std::string> hosts) {
  if constexpr (supports<P, cap::cidr_allowlist>) return network_policy::allow(std::move(hosts), {"127.0.0.1/32"});
  hosts.push_back("127.0.0.1");
  return network_policy::allow(std::move(hosts));
}

/// An HTTP/1.0 server on 127.0.0.1 that logs every request head and answers "upstream ok".
struct loopback_upstream {
  int fd = -1;
  std::uint16_t port = 0;
  std::mutex mu;
  std::string log;
  std::thread t;
  loopback_upstream() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), len);
    ::listen(fd, 64);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    t = std::thread([this] {
      for (;;) {
        int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return;
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          head.append(buf, static_cast<std::size_t>(n));
        }
        { std::lock_guard lk(mu); log += head; }
        std::string r = "HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nupstream ok\n";
        (void)!::write(c, r.data(), r.size());
        ::close(c);
      }
    });
  }
  ~loopback_upstream() {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    t.join();
  }
  std::string seen() { std::lock_guard lk(mu); return log; }
};

/// A python3 one-liner printing the body of GET `url` (through the proxy variables), or
/// "refused <reason>".
inline std::vector<std::string> fetch(std::string const& url, std::string const& header = "") {
  return {"python3", "-c",
          "import urllib.request,sys,os\n"
          "h={'Authorization':'Bearer '+os.environ[sys.argv[2]]} if len(sys.argv)>2 else {}\n"
          "try: print(urllib.request.urlopen(urllib.request.Request(sys.argv[1],headers=h),timeout=20).read().decode())\n"
          "except Exception as e: print('refused',e)\n",
          url, header};
}

template <class Env>
class network_allowlist : public suite<Env> {
  static_assert(supports<typename Env::provider, cap::hostname_allowlist>, "instantiate the network_allowlist suite only where the provider has cap::hostname_allowlist");
};
TYPED_TEST_SUITE_P(network_allowlist);

TYPED_TEST_P(network_allowlist, only_allowed_hosts_are_reachable) {
  loopback_upstream up;
  auto port = std::to_string(up.port);
  TypeParam::route_test_name("conf-allowed.test", "127.0.0.1");
  TypeParam::route_test_name("conf-denied.test", "127.0.0.1");
  common_request r = this->basic();
  r.network = allow_with_loopback<typename TypeParam::provider>({"conf-allowed.test"});
  SBX_ASSERT_OK(box, this->create(r));
  auto ok = fetch("http://conf-allowed.test:" + port + "/a");
  ok.pop_back();
  EXPECT_THAT(box.exec(exec_request{ok}), succeeds_with(Field(&exec_result::stdout_data, HasSubstr("upstream ok"))));
  auto no = fetch("http://conf-denied.test:" + port + "/b");
  no.pop_back();
  EXPECT_THAT(box.exec(exec_request{no}), succeeds_with(Field(&exec_result::stdout_data, HasSubstr("refused"))));
  EXPECT_THAT(up.seen(), HasSubstr("GET /a"));
  EXPECT_THAT(up.seen(), testing::Not(HasSubstr("GET /b")));
  // A blocked sandbox reaches neither.
  SBX_ASSERT_OK(blocked, this->create());
  EXPECT_THAT(blocked.exec(exec_request{ok}), succeeds_with(Field(&exec_result::stdout_data, HasSubstr("refused"))));
  if constexpr (supports<typename TypeParam::provider, cap::network_update>) {
    ASSERT_THAT(box.update_network(network_policy::blocked()), succeeds());
    EXPECT_THAT(box.exec(exec_request{ok}), succeeds_with(Field(&exec_result::stdout_data, HasSubstr("refused"))));
    ASSERT_THAT(box.update_network(allow_with_loopback<typename TypeParam::provider>({"conf-denied.test"})), succeeds());
    EXPECT_THAT(box.exec(exec_request{no}), succeeds_with(Field(&exec_result::stdout_data, HasSubstr("upstream ok"))));
    EXPECT_THAT(box.exec(exec_request{ok}), succeeds_with(Field(&exec_result::stdout_data, HasSubstr("refused"))));
  }
}

REGISTER_TYPED_TEST_SUITE_P(network_allowlist, only_allowed_hosts_are_reachable);

template <class Env>
class secret_injection : public suite<Env> {
  static_assert(supports<typename Env::provider, cap::secret_injection>, "instantiate the secret_injection suite only where the provider has cap::secret_injection");
};
TYPED_TEST_SUITE_P(secret_injection);

TYPED_TEST_P(secret_injection, the_value_reaches_only_its_hosts_and_never_the_sandbox) {
  loopback_upstream up;
  auto port = std::to_string(up.port);
  TypeParam::route_test_name("conf-secret.test", "127.0.0.1");
  TypeParam::route_test_name("conf-other.test", "127.0.0.1");
  std::string value = "conf-secret-" + unique("v") + "-0123456789";
  common_request r = this->basic();
  r.network = allow_with_loopback<typename TypeParam::provider>({"conf-secret.test", "conf-other.test"});
  r.secrets.push_back({"CONF_TOKEN", value, {"conf-secret.test"}});
  SBX_ASSERT_OK(box, this->create(r));
  SBX_ASSERT_OK(env, box.exec({"sh", "-c", "printenv CONF_TOKEN"}));
  EXPECT_THAT(env.stdout_data, testing::Not(HasSubstr(value)));
  EXPECT_FALSE(env.stdout_data.empty());
  EXPECT_THAT(box.exec(exec_request{fetch("http://conf-secret.test:" + port + "/bound", "CONF_TOKEN")}),
              succeeds_with(Field(&exec_result::stdout_data, HasSubstr("upstream ok"))));
  EXPECT_THAT(box.exec(exec_request{fetch("http://conf-other.test:" + port + "/unbound", "CONF_TOKEN")}),
              succeeds_with(Field(&exec_result::stdout_data, HasSubstr("upstream ok"))));
  auto seen = up.seen();
  auto bound = seen.substr(seen.find("GET /bound"));
  bound = bound.substr(0, bound.find("\r\n\r\n"));
  auto unbound = seen.substr(seen.find("GET /unbound"));
  unbound = unbound.substr(0, unbound.find("\r\n\r\n"));
  EXPECT_THAT(bound, HasSubstr("Authorization: Bearer " + value));
  EXPECT_THAT(unbound, testing::Not(HasSubstr(value)));
  EXPECT_THAT(unbound, HasSubstr("Authorization: Bearer " + env.stdout_data.substr(0, env.stdout_data.find('\n'))));
}

REGISTER_TYPED_TEST_SUITE_P(secret_injection, the_value_reaches_only_its_hosts_and_never_the_sandbox);

}  // namespace sbx::conformance

/// Runs the core suite and every capability suite that `Env::provider` supports.
/// The suite's name is part of the prefix, so ctest names read `conformance.local_volumes.<test>`.
#define SBX_CONFORMANCE_CORE(name, Env) INSTANTIATE_TYPED_TEST_SUITE_P(name##_core, core, Env)
#define SBX_CONFORMANCE_CAP(name, suite_name, Env) INSTANTIATE_TYPED_TEST_SUITE_P(name##_##suite_name, suite_name, Env)
