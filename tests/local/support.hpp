// SPDX-License-Identifier: Apache-2.0
#pragma once

// The local runtime tests' environment: a temporary state dir per test binary and an image
// (the machine's default image when scripts/setup built it, otherwise one built here).

#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

namespace sbx::test {

/// The test binary's provider configuration.
local::config const& local_config();
/// A client over it.
client<local> local_client();
/// Why the local runtime cannot run here ("" when it can): a real absence of the host
/// (no user namespaces for an unprivileged user), which skips with that reason.
std::string const& skip_reason();
/// Why the test environment could not be set up ("" when it could): a failure, never a skip.
std::string const& setup_failure();

#define SBX_REQUIRE_LOCAL()                                                                \
  do {                                                                                     \
    if (!::sbx::test::setup_failure().empty()) FAIL() << ::sbx::test::setup_failure();     \
    if (!::sbx::test::skip_reason().empty()) GTEST_SKIP() << ::sbx::test::skip_reason();   \
  } while (false)

/// Counts what sandboxes of this test binary leave on the host: mounts in our mount
/// namespace, cgroup dirs named after one of `ids` (below any "sbx" cgroup dir),
/// sbx-supervisor processes holding a lock in our state dir, dirs in our sandboxes/.
/// Other test binaries running at the same time do not disturb the count.
struct leftovers {
  int mounts = 0, cgroups = 0, supervisors = 0, state_dirs = 0;
  friend bool operator==(leftovers const&, leftovers const&) = default;
};
leftovers count_leftovers(std::set<std::string> const& ids = {});
std::ostream& operator<<(std::ostream& os, leftovers const& l);

}  // namespace sbx::test
