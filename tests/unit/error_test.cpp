// SPDX-License-Identifier: Apache-2.0
#include <sbx/error.hpp>
#include <sbx/result.hpp>

#include "matchers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sbx::error;
using sbx::error_detail;
using sbx::error_kind;
using testing::HasSubstr;

struct kind_case {
  error_kind kind;
  std::string_view name;
  bool retryable;
};

// Every kind, in declaration order. The last one is checked to be the enum's last, so a kind
// added without a row here fails `every_kind_is_in_the_table`.
std::vector<kind_case> const kinds = {
    {error_kind::unsupported, "unsupported", false},
    {error_kind::auth_failed, "auth_failed", false},
    {error_kind::quota_exceeded, "quota_exceeded", true},
    {error_kind::not_found, "not_found", false},
    {error_kind::already_exists, "already_exists", false},
    {error_kind::invalid_request, "invalid_request", false},
    {error_kind::create_failed, "create_failed", false},
    {error_kind::exec_failed, "exec_failed", false},
    {error_kind::timeout, "timeout", true},
    {error_kind::network_policy_denied, "network_policy_denied", false},
    {error_kind::connection, "connection", true},
    {error_kind::internal, "internal", false},
    {error_kind::cancelled, "cancelled", false},
};

TEST(error_kind, every_kind_is_in_the_table) {
  for (std::size_t i = 0; i < kinds.size(); ++i) EXPECT_EQ(static_cast<std::size_t>(kinds[i].kind), i);
  // One past the last kind is not a kind: to_string falls back to "internal" for it.
  EXPECT_EQ(sbx::to_string(static_cast<error_kind>(kinds.size())), "internal");
}

TEST(error_kind, to_string_is_the_documented_name) {
  std::set<std::string_view> seen;
  for (auto const& k : kinds) {
    EXPECT_EQ(sbx::to_string(k.kind), k.name);
    EXPECT_TRUE(seen.insert(sbx::to_string(k.kind)).second) << "duplicate name " << k.name;
  }
}

TEST(error_kind, only_quota_timeout_and_connection_are_retryable) {
  for (auto const& k : kinds) EXPECT_EQ(sbx::is_retryable(k.kind), k.retryable) << k.name;
}

TEST(error, to_string_is_kind_and_message) {
  EXPECT_EQ(sbx::make_error(error_kind::not_found, "no such file \"/x\"").to_string(), "not_found: no such file \"/x\"");
}

TEST(error, to_string_adds_the_context_that_is_known) {
  error_detail d;
  d.message = "no such file \"/x\"";
  d.provider = "local";
  d.id = "sbx-1";
  EXPECT_EQ(sbx::make_error(error_kind::not_found, d).to_string(),
            "not_found: no such file \"/x\" (provider local, id sbx-1)");
}

TEST(error, to_string_includes_http_status_retry_after_and_trace) {
  error_detail d;
  d.message = "slow down";
  d.provider = "deno";
  d.retry_after = 1500ms;
  d.trace_id = "abc123";
  auto e = sbx::make_error(error_kind::quota_exceeded, d, 429);
  EXPECT_EQ(e.http_status(), 429);
  EXPECT_EQ(e.retry_after(), 1500ms);
  EXPECT_EQ(e.to_string(), "quota_exceeded: slow down (provider deno, http 429, retry after 1500ms, trace abc123)");
}

TEST(error, to_string_names_the_field) {
  error_detail d;
  d.message = "memory \"5 parsecs\" has an unknown unit";
  d.field = "memory";
  EXPECT_EQ(sbx::make_error(error_kind::invalid_request, d).to_string(),
            "invalid_request: memory \"5 parsecs\" has an unknown unit (field memory)");
}

TEST(error, a_default_error_is_internal_with_an_empty_detail) {
  error e;
  EXPECT_EQ(e.kind(), error_kind::internal);
  EXPECT_EQ(e.http_status(), 0);
  EXPECT_EQ(e.message(), "");
  EXPECT_FALSE(e.retry_after().has_value());
  EXPECT_EQ(e.to_string(), "internal: (no message)");
}

TEST(error, copies_share_the_detail) {
  auto e = sbx::make_error(error_kind::timeout, "deadline passed");
  error copy = e;
  EXPECT_EQ(&copy.detail(), &e.detail());
  EXPECT_TRUE(copy == error_kind::timeout);
  EXPECT_FALSE(copy == error_kind::connection);
}

TEST(error, make_unsupported_names_provider_capability_and_field) {
  auto e = sbx::make_unsupported("deno", "cidr_allowlist", "network.cidrs");
  EXPECT_EQ(e.kind(), error_kind::unsupported);
  EXPECT_EQ(e.provider(), "deno");
  EXPECT_EQ(e.capability(), "cidr_allowlist");
  EXPECT_EQ(e.field(), "network.cidrs");
  EXPECT_THAT(std::string(e.message()), HasSubstr("deno"));
  EXPECT_THAT(std::string(e.message()), HasSubstr("network.cidrs"));
  EXPECT_THAT(std::string(e.message()), HasSubstr("cap::cidr_allowlist"));
  EXPECT_THAT(e.to_string(), HasSubstr("(provider deno, capability cidr_allowlist, field network.cidrs)"));
}

TEST(error, is_small_enough_to_store_inline) {
  EXPECT_LE(sizeof(error), 24u);
}

sbx::result<int> half(int n) {
  if (n % 2 != 0) return sbx::make_error(error_kind::invalid_request, "odd");
  return n / 2;
}

sbx::result<int> quarter(int n) {
  SBX_TRY(h, half(n));
  SBX_TRY(q, half(h));
  return q;
}

TEST(result, try_returns_the_first_error_or_the_value) {
  EXPECT_THAT(quarter(8), sbx::test::succeeds_with(2));
  EXPECT_THAT(quarter(6), sbx::test::fails_with(error_kind::invalid_request));
}

}  // namespace
