// SPDX-License-Identifier: Apache-2.0
#pragma once

// Our Deno client against `sbx serve --dialect deno` running in this test process (127.0.0.1,
// ephemeral port) over real local sandboxes, in a temporary state dir of its own.

#include <sbx/providers/deno.hpp>
#include <sbx/sbx.hpp>
#include <sbx/server/deno.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

namespace sbx::test {

inline constexpr char const* server_token = "ddo_sbx_test_token_6f1c";

/// The server of this test binary (started once, on first use); null when it could not
/// start, with the reason in `deno_skip_reason()`: the tests then fail with it, never skip.
server::deno_server* deno_test_server();
std::string const& deno_skip_reason();
/// A provider configured for the test server (token, both endpoints), with `tweak` applied.
deno deno_for_test_server(std::function<void(deno::config&)> tweak = {});
/// Threads of this process right now (/proc/self/task).
int thread_count();

#define SBX_REQUIRE_DENO_SERVER()                                                      \
  do {                                                                                 \
    if (!::sbx::test::deno_test_server()) FAIL() << ::sbx::test::deno_skip_reason(); \
  } while (false)

}  // namespace sbx::test
