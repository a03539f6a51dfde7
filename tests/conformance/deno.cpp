// SPDX-License-Identifier: Apache-2.0
// The conformance suite on sbx::deno, typed and through any_client, against
// `sbx serve --dialect deno` running in this process (tests/deno/deno_support.hpp).
// Built by tests/deno/CMakeLists.txt, which owns the server fixture.
#include <sbx/memory.hpp>
#include <sbx/providers/deno.hpp>

#include "deno_support.hpp"

#include <cstdlib>
#include <string>

#include "suite.hpp"

namespace sbx::conformance {
namespace {

// The server in this process runs the sandboxes with the local provider, which reads its
// test-only name routes from this process's environment (as tests/conformance/local.cpp does).
void route_name(std::string const& name, std::string const& address) {
  std::string cur = std::getenv("SBX_NET_TEST_RESOLVE") ? std::getenv("SBX_NET_TEST_RESOLVE") : "";
  cur += (cur.empty() ? "" : ",") + name + "=" + address;
  ::setenv("SBX_NET_TEST_RESOLVE", cur.c_str(), 1);
  ::setenv("SBX_NET_TEST_NO_DNS", "1", 1);
}

std::pair<std::string, std::string> reach_exposed(std::string const& url) {
  std::string host = url.substr(url.find("://") + 3);
  std::string path = host.find('/') == std::string::npos ? "/" : host.substr(host.find('/'));
  host = host.substr(0, host.find('/'));
  return {"http://127.0.0.1:" + std::to_string(test::deno_test_server()->port()) + path, host};
}

struct deno_env {
  using provider = sbx::deno;
  // Deno's floor is 768 MiB; the suite's 256 MiB would be refused (rightly) before sending.
  static sbx::memory memory() { return sbx::memory::mib(sbx::deno::default_memory_mib); }
  // Deno mounts volumes read-write only; the client refuses a read-only mount as unsupported.
  static constexpr bool readonly_volumes = false;
  // The exposed URL is https://<token>-<id>.localhost; the local server routes it by Host.
  static std::pair<std::string, std::string> reach(std::string const& url) { return reach_exposed(url); }
  using client_type = sbx::client<sbx::deno>;
  static void route_test_name(std::string const& n, std::string const& a) { route_name(n, a); }
  static client_type make_client() { return client_type(test::deno_for_test_server()); }
  static std::optional<test_image> custom_image() { return std::nullopt; }
  static std::vector<std::string> repl_languages() { return {"javascript"}; }
};

struct any_deno_env {
  using provider = sbx::deno;
  // Deno's floor is 768 MiB; the suite's 256 MiB would be refused (rightly) before sending.
  static sbx::memory memory() { return sbx::memory::mib(sbx::deno::default_memory_mib); }
  // Deno mounts volumes read-write only; the client refuses a read-only mount as unsupported.
  static constexpr bool readonly_volumes = false;
  // The exposed URL is https://<token>-<id>.localhost; the local server routes it by Host.
  static std::pair<std::string, std::string> reach(std::string const& url) { return reach_exposed(url); }
  using client_type = sbx::any_client;
  static void route_test_name(std::string const& n, std::string const& a) { route_name(n, a); }
  static client_type make_client() { return sbx::any_client(sbx::client<sbx::deno>(test::deno_for_test_server())); }
  static std::optional<test_image> custom_image() { return std::nullopt; }
  static std::vector<std::string> repl_languages() { return {"javascript"}; }
};

using envs = ::testing::Types<deno_env, any_deno_env>;

}  // namespace

// Deno lacks these markers; their suites are not instantiated here.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(snapshots);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(pause_resume);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(pty);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(custom_image);

SBX_CONFORMANCE_CORE(deno, envs);
SBX_CONFORMANCE_CAP(deno, volumes, envs);
SBX_CONFORMANCE_CAP(deno, port_exposure, envs);
SBX_CONFORMANCE_CAP(deno, kernel_session, envs);
SBX_CONFORMANCE_CAP(deno, network_allowlist, envs);
SBX_CONFORMANCE_CAP(deno, secret_injection, envs);

}  // namespace sbx::conformance
