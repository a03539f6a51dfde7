// SPDX-License-Identifier: Apache-2.0
// What sbx::deno refuses before any I/O, and what it never says. The endpoints point at a
// port nothing listens on: an attempt to connect would fail with `connection`, so
// `invalid_request` / `auth_failed` prove nothing was sent.
#include <sbx/providers/deno.hpp>
#include <sbx/sbx.hpp>

#include <matchers.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace sbx::test {
namespace {

using testing::HasSubstr;
using testing::Not;

constexpr char const* secret_token = "ddo_never_print_me_7781";

deno offline(std::function<void(deno::config&)> tweak = {}) {
  deno::config c;
  c.token = secret_token;
  c.sandbox_endpoint = "http://127.0.0.1:1";
  c.api_endpoint = "http://127.0.0.1:1";
  c.handshake_timeout = std::chrono::milliseconds(2000);
  c.request_timeout = std::chrono::milliseconds(2000);
  c.handshake_retries = 0;
  if (tweak) tweak(c);
  return deno(std::move(c));
}

TEST(deno_validation, memory_outside_768_to_4096_mib_is_invalid_before_sending) {
  client<deno> c(offline());
  for (auto m : {"512 MiB", "767 MiB", "4097 MiB", "8 GiB"}) {
    auto r = c.create(request<deno>{}.memory(m));
    ASSERT_THAT(r, fails_with(error_kind::invalid_request)) << m;
    EXPECT_EQ(r.error().field(), "memory") << m;
  }
  // In range: it gets as far as the (absent) server.
  EXPECT_THAT(c.create(request<deno>{}.memory("768 MiB")), fails_with(error_kind::connection));
  EXPECT_THAT(c.create(request<deno>{}.memory("4 GiB")), fails_with(error_kind::connection));
}

TEST(deno_validation, more_than_five_labels_or_long_labels_are_invalid) {
  client<deno> c(offline());
  auto r = request<deno>{};
  for (int i = 0; i < 6; ++i) r.label("k" + std::to_string(i), "v");
  EXPECT_THAT(c.create(r), fails_with(error_kind::invalid_request));
  EXPECT_THAT(c.create(request<deno>{}.label(std::string(65, 'k'), "v")), fails_with(error_kind::invalid_request));
  EXPECT_THAT(c.create(request<deno>{}.label("k", std::string(129, 'v'))), fails_with(error_kind::invalid_request));
}

TEST(deno_validation, bad_timeouts_and_fields_are_invalid) {
  client<deno> c(offline());
  EXPECT_THAT(c.create(request<deno>{}.timeout("5 parsecs")), fails_with(error_kind::invalid_request));
  EXPECT_THAT(c.create(request<deno>{}.cpus(4)), fails_with(error_kind::invalid_request));
  EXPECT_THAT(c.create(request<deno>{}.mount("v", "/data", true)), fails_with(error_kind::unsupported));
  EXPECT_THAT(c.create(request<deno>{}.region("ORD!")), fails_with(error_kind::invalid_request));
}

TEST(deno_validation, run_time_fields_deno_lacks_are_unsupported) {
  client<deno> c(offline());
  common_request r;
  r.network = network_policy::allow({}, {"10.0.0.0/8"});
  auto e = c.create(r);
  ASSERT_THAT(e, fails_with(error_kind::unsupported));
  EXPECT_EQ(e.error().capability(), "cidr_allowlist");
  common_request i;
  i.image = image::ref("python:3.12");
  EXPECT_THAT(c.create(i), fails_with(error_kind::unsupported));
  common_request s;
  s.snapshot = "snap";
  EXPECT_THAT(c.create(s), fails_with(error_kind::unsupported));
}

TEST(deno_validation, missing_token_or_org_is_auth_failed) {
  ::unsetenv("DENO_DEPLOY_TOKEN");
  ::unsetenv("DENO_DEPLOY_ORG");
  client<deno> none(offline([](deno::config& c) { c.token.clear(); }));
  EXPECT_THAT(none.create(), fails_with(error_kind::auth_failed));
  EXPECT_THAT(none.connect("sbx_ord_0000000000000000000a"), fails_with(error_kind::auth_failed));
  EXPECT_THAT(none.list(), fails_with(error_kind::auth_failed));
  client<deno> personal(offline([](deno::config& c) { c.token = "ddp_personal"; }));
  EXPECT_THAT(personal.create(), fails_with(error_kind::auth_failed));
  client<deno> with_org(offline([](deno::config& c) { c.token = "ddp_personal"; c.org = "acme"; }));
  EXPECT_THAT(with_org.create(), fails_with(error_kind::connection));
}

TEST(deno_validation, endpoints_with_a_trailing_slash_are_invalid) {
  client<deno> c(offline([](deno::config& c) { c.sandbox_endpoint = "http://127.0.0.1:1/"; }));
  EXPECT_THAT(c.create(), fails_with(error_kind::invalid_request));
}

TEST(deno_config, defaults_come_from_the_environment) {
  ::setenv("DENO_DEPLOY_TOKEN", "ddo_from_env", 1);
  ::setenv("DENO_DEPLOY_ORG", "org-env", 1);
  ::setenv("DENO_DEPLOY_ENDPOINT", "http://console.example", 1);
  ::setenv("DENO_SANDBOX_ENDPOINT", "http://sandbox.example", 1);
  deno d;
  EXPECT_EQ(d.configuration().token, "ddo_from_env");
  EXPECT_EQ(d.configuration().org, "org-env");
  EXPECT_EQ(d.configuration().api_endpoint, "http://console.example");
  EXPECT_EQ(d.configuration().sandbox_endpoint, "http://sandbox.example");
  deno explicit_one(deno::config{.token = "ddo_explicit"});
  EXPECT_EQ(explicit_one.configuration().token, "ddo_explicit");
  for (auto v : {"DENO_DEPLOY_TOKEN", "DENO_DEPLOY_ORG", "DENO_DEPLOY_ENDPOINT", "DENO_SANDBOX_ENDPOINT"}) ::unsetenv(v);
  deno defaults(deno::config{.token = "ddo_x"});
  EXPECT_EQ(defaults.configuration().api_endpoint, "https://console.deno.com");
  EXPECT_EQ(defaults.configuration().region, "ord");
}

TEST(deno_validation, the_token_is_in_no_error_message) {
  client<deno> c(offline());
  std::vector<error> errors;
  auto keep = [&](auto r) {
    if (!r) errors.push_back(r.error());
  };
  keep(c.create());
  keep(c.create(request<deno>{}.memory("1 MiB")));
  keep(c.connect("sbx_ord_0000000000000000000a"));
  keep(c.list());
  keep(c.list_volumes());
  keep(c.create_volume({.name = "v", .capacity_bytes = {}, .labels = {}}));
  keep(c.provider().list_snapshots());
  ASSERT_GE(errors.size(), 7u);
  for (auto const& e : errors) {
    EXPECT_THAT(e.to_string(), Not(HasSubstr(secret_token)));
    EXPECT_THAT(e.to_string(), Not(HasSubstr("never_print_me")));
  }
}

}  // namespace
}  // namespace sbx::test
