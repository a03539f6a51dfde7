// SPDX-License-Identifier: Apache-2.0
// The capability contract at run time: through any_sandbox / any_client, a gated operation or
// request field the provider lacks is `unsupported`, naming the marker and the field or
// operation; where the provider has the marker, the same call reaches the provider (the fake
// answers internal "fake provider reached: <op>", a create succeeds), so the gate is not
// blanket. One row per (operation or field, marker, expected field name).
#include <sbx/any.hpp>
#include <sbx/capabilities.hpp>
#include <sbx/client.hpp>

#include "fake_provider.hpp"
#include "matchers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using sbx::error_kind;
using sbx::test::fails_with;
using sbx::test::succeeds;
using testing::HasSubstr;

enum class fake { bare, full, deno_like };

std::string_view name_of(fake p) {
  switch (p) {
    case fake::bare: return "bare";
    case fake::full: return "full";
    case fake::deno_like: return "deno_like";
  }
  return "?";
}

void PrintTo(fake p, std::ostream* os) { *os << name_of(p); }

sbx::any_client make_client(fake p) {
  switch (p) {
    case fake::bare: return sbx::any_client(sbx::client<sbx::test::bare_provider>{});
    case fake::full: return sbx::any_client(sbx::client<sbx::test::full_provider>{});
    case fake::deno_like: return sbx::any_client(sbx::client<sbx::test::deno_like_provider>{});
  }
  return sbx::any_client(sbx::client<sbx::test::bare_provider>{});
}

/// The error of a result, or nothing if it succeeded; erases the value type so that one
/// table can hold operations of every signature.
template <class T>
std::optional<sbx::error> error_of(sbx::result<T> const& r) {
  if (r) return std::nullopt;
  return r.error();
}

std::string describe(std::optional<sbx::error> const& e) { return e ? e->to_string() : "success"; }

// --- operations ------------------------------------------------------------------------------

struct op_row {
  std::string_view op;      ///< the operation, and the field() an unsupported error names
  std::string_view marker;  ///< the capability() it names
  bool on_deno_like;        ///< whether deno_like_provider has the marker
  std::function<std::optional<sbx::error>(sbx::any_client&, sbx::any_sandbox&)> call;
};

std::ostream& operator<<(std::ostream& os, op_row const& r) { return os << r.op; }

const std::vector<op_row> operations = {
    {"update_network", "network_update", false,
     [](auto&, auto& box) { return error_of(box.update_network(sbx::network_policy::allow({"api.example.com"}))); }},
    {"snapshot", "snapshots", false, [](auto&, auto& box) { return error_of(box.snapshot("before-upgrade")); }},
    {"expose_port", "port_exposure", true, [](auto&, auto& box) { return error_of(box.expose_port(8000)); }},
    {"pause", "pause_resume", false, [](auto&, auto& box) { return error_of(box.pause()); }},
    {"resume", "pause_resume", false, [](auto&, auto& box) { return error_of(box.resume()); }},
    {"open_pty", "pty", false, [](auto&, auto& box) { return error_of(box.open_pty()); }},
    {"repl", "kernel_session", true, [](auto&, auto& box) { return error_of(box.repl("python")); }},
    {"create_volume", "volumes", true,
     [](auto& c, auto&) { return error_of(c.create_volume(sbx::volume_request{.name = "data", .capacity_bytes = {}, .labels = {}})); }},
    {"list_volumes", "volumes", true, [](auto& c, auto&) { return error_of(c.list_volumes()); }},
    {"delete_volume", "volumes", true, [](auto& c, auto&) { return error_of(c.delete_volume("vol-1")); }},
    {"list_snapshots", "snapshots", false, [](auto& c, auto&) { return error_of(c.list_snapshots()); }},
    {"delete_snapshot", "snapshots", false, [](auto& c, auto&) { return error_of(c.delete_snapshot("snap-1")); }},
};

bool has_marker(fake p, bool on_deno_like) {
  switch (p) {
    case fake::bare: return false;
    case fake::full: return true;
    case fake::deno_like: return on_deno_like;
  }
  return false;
}

class any_operation : public testing::TestWithParam<std::tuple<fake, op_row>> {};

TEST_P(any_operation, is_unsupported_exactly_without_its_marker) {
  auto const& [p, row] = GetParam();
  auto client = make_client(p);
  auto box = client.create();
  ASSERT_THAT(box, succeeds());

  auto e = row.call(client, box.value());

  ASSERT_TRUE(e.has_value()) << row.op << " on the fake never succeeds, got " << describe(e);
  if (has_marker(p, row.on_deno_like)) {
    // Reached the provider: the gate let it through.
    EXPECT_EQ(e->kind(), error_kind::internal) << describe(e);
    EXPECT_THAT(std::string(e->message()), HasSubstr("fake provider reached: " + std::string(row.op)));
  } else {
    EXPECT_EQ(e->kind(), error_kind::unsupported) << describe(e);
    EXPECT_EQ(e->capability(), row.marker);
    EXPECT_EQ(e->field(), row.op);
    EXPECT_EQ(e->provider(), "fake");
  }
}

// --- request fields through any_client::create(common_request) -----------------------------

struct field_row {
  std::string_view field;   ///< the field() an unsupported error names
  std::string_view marker;  ///< the capability() it names
  bool on_deno_like;
  std::function<void(sbx::common_request&)> set;
};

std::ostream& operator<<(std::ostream& os, field_row const& r) { return os << r.field; }

const std::vector<field_row> fields = {
    {"image", "custom_image", false, [](auto& r) { r.image = sbx::image::ref("python:3.12"); }},
    {"network.hosts", "hostname_allowlist", true, [](auto& r) { r.network = sbx::network_policy::allow({"api.example.com"}); }},
    {"network.cidrs", "cidr_allowlist", false, [](auto& r) { r.network = sbx::network_policy::allow({}, {"10.0.0.0/8"}); }},
    {"secrets", "secret_injection", true, [](auto& r) { r.secrets.push_back({"API_KEY", "s3cr3t", {"api.example.com"}}); }},
    {"volumes", "volumes", true, [](auto& r) { r.volumes.push_back({"vol-1", "/data", true}); }},
    {"snapshot", "snapshots", false, [](auto& r) { r.snapshot = "snap-1"; }},
    {"ports", "port_exposure", true, [](auto& r) { r.ports.push_back(8000); }},
};

class any_request_field : public testing::TestWithParam<std::tuple<fake, field_row>> {};

TEST_P(any_request_field, is_unsupported_exactly_without_its_marker) {
  auto const& [p, row] = GetParam();
  auto client = make_client(p);
  sbx::common_request r;
  r.memory = sbx::memory::mib(512);
  row.set(r);

  auto box = client.create(r);

  if (has_marker(p, row.on_deno_like)) {
    EXPECT_THAT(box, succeeds());  // the fake creates whatever reaches it
  } else {
    ASSERT_THAT(box, fails_with(error_kind::unsupported));
    EXPECT_EQ(box.error().capability(), row.marker);
    EXPECT_EQ(box.error().field(), row.field);
    EXPECT_EQ(box.error().provider(), "fake");
  }
}

TEST_P(any_request_field, typed_client_refuses_the_same_field_the_same_way) {
  auto const& [p, row] = GetParam();
  sbx::common_request r;
  row.set(r);
  auto typed = [&]() -> std::optional<sbx::error> {
    switch (p) {
      case fake::bare: return error_of(sbx::client<sbx::test::bare_provider>{}.create(r));
      case fake::full: return error_of(sbx::client<sbx::test::full_provider>{}.create(r));
      case fake::deno_like: return error_of(sbx::client<sbx::test::deno_like_provider>{}.create(r));
    }
    return std::nullopt;
  }();
  auto erased = error_of(make_client(p).create(r));

  ASSERT_EQ(typed.has_value(), erased.has_value()) << describe(typed) << " vs " << describe(erased);
  if (typed) {
    EXPECT_EQ(typed->kind(), erased->kind());
    EXPECT_EQ(typed->capability(), erased->capability());
    EXPECT_EQ(typed->field(), erased->field());
  }
}

template <class Row>
std::string row_name(testing::TestParamInfo<std::tuple<fake, Row>> const& info) {
  auto const& [p, row] = info.param;
  std::string name = std::string(name_of(p)) + "_";
  std::string_view what;
  if constexpr (std::is_same_v<Row, op_row>) what = row.op;
  else what = row.field;
  for (char c : what) name += (c == '.') ? '_' : c;
  return name;
}

INSTANTIATE_TEST_SUITE_P(fakes, any_operation,
                         testing::Combine(testing::Values(fake::bare, fake::full, fake::deno_like),
                                          testing::ValuesIn(operations)),
                         row_name<op_row>);
INSTANTIATE_TEST_SUITE_P(fakes, any_request_field,
                         testing::Combine(testing::Values(fake::bare, fake::full, fake::deno_like),
                                          testing::ValuesIn(fields)),
                         row_name<field_row>);

// --- the tables cover every marker, and agree with the run-time capability set ------------------

TEST(any_capabilities, tables_name_every_marker) {
  std::vector<std::string_view> named;
  for (auto const& r : operations) named.push_back(r.marker);
  for (auto const& r : fields) named.push_back(r.marker);
  for (auto name : sbx::capability_names) EXPECT_THAT(named, testing::Contains(name)) << name;
  for (auto name : named) EXPECT_THAT(sbx::capability_names, testing::Contains(name)) << name;
}

TEST(any_capabilities, deno_like_column_matches_its_capability_set) {
  auto bits = sbx::capability_bits_of<sbx::test::deno_like_provider>();
  auto bit_of = [](std::string_view marker) {
    for (std::size_t i = 0; i < sbx::capability_names.size(); ++i)
      if (sbx::capability_names[i] == marker) return i;
    ADD_FAILURE() << "no marker " << marker;
    return std::size_t{0};
  };
  for (auto const& r : operations) EXPECT_EQ(bits.test(bit_of(r.marker)), r.on_deno_like) << r.op;
  for (auto const& r : fields) EXPECT_EQ(bits.test(bit_of(r.marker)), r.on_deno_like) << r.field;
}

TEST(any_capabilities, bits_follow_the_markers) {
  EXPECT_TRUE(sbx::capability_bits_of<sbx::test::bare_provider>().none());
  EXPECT_TRUE(sbx::capability_bits_of<sbx::test::full_provider>().all());
  EXPECT_EQ(sbx::capability_bits_of<sbx::test::fake_provider<sbx::cap::pty>>(),
            sbx::capability_set{}.set(sbx::cap::pty::bit));
  sbx::capability_set deno;
  for (unsigned b : {sbx::cap::hostname_allowlist::bit, sbx::cap::secret_injection::bit, sbx::cap::volumes::bit,
                     sbx::cap::port_exposure::bit, sbx::cap::kernel_session::bit})
    deno.set(b);
  EXPECT_EQ(sbx::capability_bits_of<sbx::test::deno_like_provider>(), deno);
  // One marker at a time: each sets exactly its own bit.
  auto one = [](auto cap) { return sbx::capability_bits_of<sbx::test::fake_provider<decltype(cap)>>(); };
  EXPECT_EQ(one(sbx::cap::hostname_allowlist{}), sbx::capability_set{}.set(sbx::cap::hostname_allowlist::bit));
  EXPECT_EQ(one(sbx::cap::cidr_allowlist{}), sbx::capability_set{}.set(sbx::cap::cidr_allowlist::bit));
  EXPECT_EQ(one(sbx::cap::secret_injection{}), sbx::capability_set{}.set(sbx::cap::secret_injection::bit));
  EXPECT_EQ(one(sbx::cap::snapshots{}), sbx::capability_set{}.set(sbx::cap::snapshots::bit));
  EXPECT_EQ(one(sbx::cap::volumes{}), sbx::capability_set{}.set(sbx::cap::volumes::bit));
  EXPECT_EQ(one(sbx::cap::port_exposure{}), sbx::capability_set{}.set(sbx::cap::port_exposure::bit));
  EXPECT_EQ(one(sbx::cap::pause_resume{}), sbx::capability_set{}.set(sbx::cap::pause_resume::bit));
  EXPECT_EQ(one(sbx::cap::pty{}), sbx::capability_set{}.set(sbx::cap::pty::bit));
  EXPECT_EQ(one(sbx::cap::kernel_session{}), sbx::capability_set{}.set(sbx::cap::kernel_session::bit));
  EXPECT_EQ(one(sbx::cap::custom_image{}), sbx::capability_set{}.set(sbx::cap::custom_image::bit));
  EXPECT_EQ(one(sbx::cap::network_update{}), sbx::capability_set{}.set(sbx::cap::network_update::bit));
}

TEST(any_capabilities, erased_client_and_sandbox_report_the_providers_bits) {
  for (auto [p, bits] : {std::pair{fake::bare, sbx::capability_bits_of<sbx::test::bare_provider>()},
                         std::pair{fake::full, sbx::capability_bits_of<sbx::test::full_provider>()},
                         std::pair{fake::deno_like, sbx::capability_bits_of<sbx::test::deno_like_provider>()}}) {
    auto client = make_client(p);
    EXPECT_EQ(client.capabilities(), bits) << name_of(p);
    auto box = client.create();
    ASSERT_THAT(box, succeeds());
    EXPECT_EQ(box.value().capabilities(), bits) << name_of(p);
    EXPECT_EQ(box.value().provider_name(), "fake");
  }
}

}  // namespace
