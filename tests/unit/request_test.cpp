// SPDX-License-Identifier: Apache-2.0
#include <sbx/client.hpp>
#include <sbx/request.hpp>

#include "fake_provider.hpp"
#include "matchers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using sbx::common_request;
using sbx::error_kind;
using sbx::test::fails_with;
using sbx::test::succeeds;
using testing::HasSubstr;

struct valid_case {
  const char* fact;
  friend void PrintTo(valid_case const& c, std::ostream* os) { *os << c.fact; }
  std::function<void(common_request&)> make;
};

class validate_accepts : public testing::TestWithParam<valid_case> {};

TEST_P(validate_accepts, the_request) {
  common_request r;
  GetParam().make(r);
  EXPECT_THAT(sbx::validate(r), succeeds());
}

INSTANTIATE_TEST_SUITE_P(
    table, validate_accepts,
    testing::Values(
        valid_case{"empty_request", [](common_request&) {}},
        valid_case{"env_names", [](common_request& r) { r.env = {{"PATH", "/bin"}, {"_x1", ""}, {"A_B", "v"}}; }},
        valid_case{"labels", [](common_request& r) { r.labels = {{"team", "a"}, {"k", ""}}; }},
        valid_case{"secret", [](common_request& r) { r.secrets = {{"TOKEN", "s3cret", {"api.example.com"}}}; }},
        valid_case{"two_secrets", [](common_request& r) {
                     r.secrets = {{"A", "1", {"a.example"}}, {"B", "2", {"b.example"}}};
                   }},
        valid_case{"volume", [](common_request& r) { r.volumes = {{"vol-1", "/data", true}}; }},
        valid_case{"ports", [](common_request& r) { r.ports = {8000, 65535}; }},
        valid_case{"fractional_cpus", [](common_request& r) { r.cpus = 0.5; }},
        valid_case{"lifetime", [](common_request& r) { r.lifetime = 5min; }},
        valid_case{"allow_hosts", [](common_request& r) { r.network = sbx::network_policy::allow({"example.com"}); }},
        valid_case{"allow_cidrs", [](common_request& r) {
                     r.network = sbx::network_policy::allow({}, {"10.0.0.0/8"});
                   }},
        valid_case{"open_network", [](common_request& r) { r.network = sbx::network_policy::open(); }},
        valid_case{"image", [](common_request& r) { r.image = sbx::image::ref("python:3.12"); }},
        valid_case{"memory", [](common_request& r) { r.memory = sbx::memory::gib(1); }}),
    [](testing::TestParamInfo<valid_case> const& i) { return std::string(i.param.fact); });

struct invalid_case {
  const char* fact;
  friend void PrintTo(invalid_case const& c, std::ostream* os) { *os << c.fact; }
  std::function<void(common_request&)> make;
  std::string_view field;
  std::string_view says;
};

class validate_rejects : public testing::TestWithParam<invalid_case> {};

TEST_P(validate_rejects, as_invalid_request_naming_the_field) {
  common_request r;
  GetParam().make(r);
  auto v = sbx::validate(r);
  ASSERT_THAT(v, fails_with(error_kind::invalid_request));
  EXPECT_EQ(v.error().field(), GetParam().field);
  EXPECT_THAT(std::string(v.error().message()), HasSubstr(std::string(GetParam().says)));
}

INSTANTIATE_TEST_SUITE_P(
    table, validate_rejects,
    testing::Values(
        invalid_case{"env_name_starting_with_digit", [](common_request& r) { r.env = {{"1X", "v"}}; }, "env",
                     "\"1X\" is not a valid variable name"},
        invalid_case{"env_name_with_dash", [](common_request& r) { r.env = {{"A-B", "v"}}; }, "env", "\"A-B\""},
        invalid_case{"empty_env_name", [](common_request& r) { r.env = {{"", "v"}}; }, "env", "not a valid"},
        invalid_case{"env_value_with_nul", [](common_request& r) { r.env = {{"A", std::string("x\0y", 3)}}; },
                     "env", "NUL"},
        invalid_case{"empty_label_key", [](common_request& r) { r.labels = {{"", "v"}}; }, "labels", "empty key"},
        invalid_case{"secret_name_invalid", [](common_request& r) { r.secrets = {{"my-token", "v", {"h"}}}; },
                     "secrets", "\"my-token\""},
        invalid_case{"secret_given_twice", [](common_request& r) {
                       r.secrets = {{"T", "1", {"h"}}, {"T", "2", {"h"}}};
                     }, "secrets", "given twice"},
        invalid_case{"secret_without_hosts", [](common_request& r) { r.secrets = {{"T", "v", {}}}; }, "secrets",
                     "no host"},
        invalid_case{"secret_with_empty_value", [](common_request& r) { r.secrets = {{"T", "", {"h"}}}; },
                     "secrets", "empty value"},
        invalid_case{"volume_without_id", [](common_request& r) { r.volumes = {{"", "/data", false}}; }, "volumes",
                     "empty volume id"},
        invalid_case{"relative_mount_path", [](common_request& r) { r.volumes = {{"v", "data", false}}; },
                     "volumes", "not absolute"},
        invalid_case{"empty_mount_path", [](common_request& r) { r.volumes = {{"v", "", false}}; }, "volumes",
                     "not absolute"},
        invalid_case{"port_zero", [](common_request& r) { r.ports = {80, 0}; }, "ports", "port 0"},
        invalid_case{"zero_cpus", [](common_request& r) { r.cpus = 0.0; }, "cpus", "positive"},
        invalid_case{"negative_cpus", [](common_request& r) { r.cpus = -1.0; }, "cpus", "positive"},
        invalid_case{"nan_cpus", [](common_request& r) { r.cpus = std::numeric_limits<double>::quiet_NaN(); },
                     "cpus", "positive"},
        invalid_case{"zero_lifetime", [](common_request& r) { r.lifetime = 0ms; }, "timeout", "positive"},
        invalid_case{"negative_lifetime", [](common_request& r) { r.lifetime = -5s; }, "timeout", "-5000ms"},
        invalid_case{"hosts_with_blocked_network", [](common_request& r) { r.network.hosts = {"example.com"}; },
                     "network", "other than allow"},
        invalid_case{"cidrs_with_open_network", [](common_request& r) {
                       r.network = sbx::network_policy::open();
                       r.network.cidrs = {"10.0.0.0/8"};
                     }, "network", "other than allow"},
        invalid_case{"empty_image", [](common_request& r) { r.image = sbx::image::ref(""); }, "image", "empty"},
        invalid_case{"bad_memory_text", [](common_request& r) { sbx::detail::set_memory(r, "5 parsecs"); },
                     "memory", "\"5 parsecs\""},
        invalid_case{"bad_timeout_text", [](common_request& r) { sbx::detail::set_lifetime(r, "soon"); },
                     "timeout", "\"soon\""},
        invalid_case{"first_problem_wins", [](common_request& r) {
                       sbx::detail::set_memory(r, "1e3");
                       sbx::detail::set_lifetime(r, "-5m");
                       r.env = {{"1X", "v"}};
                     }, "memory", "\"1e3\""}),
    [](testing::TestParamInfo<invalid_case> const& i) { return std::string(i.param.fact); });

// The full fake provider, counting what reaches it: `create` must refuse a bad request
// before the provider sees it.
struct counting_provider : sbx::test::full_provider {
  using base = sbx::test::full_provider;
  struct counts {
    std::vector<common_request> created;
    int kills = 0;
    int releases = 0;
  };
  std::shared_ptr<counts> seen = std::make_shared<counts>();

  sbx::result<handle> create(common_request const& r, options const& o) {
    seen->created.push_back(r);
    return base::create(r, o);
  }
  sbx::result<void> kill(handle const& h) {
    ++seen->kills;
    return base::kill(h);
  }
  void release(handle const& h) noexcept {
    ++seen->releases;
    base::release(h);
  }
};
static_assert(sbx::provider<counting_provider>);

using request = sbx::request<counting_provider>;

TEST(client_create, a_bad_memory_string_fails_before_the_provider_is_reached) {
  sbx::client<counting_provider> c;
  auto box = c.create(request{}.memory("5 parsecs"));
  ASSERT_THAT(box, fails_with(error_kind::invalid_request));
  EXPECT_EQ(box.error().field(), "memory");
  EXPECT_THAT(std::string(box.error().message()), HasSubstr("\"5 parsecs\""));
  EXPECT_THAT(box.error().to_string(), HasSubstr("field memory"));
  EXPECT_TRUE(c.provider().seen->created.empty());
}

TEST(client_create, a_bad_timeout_string_fails_before_the_provider_is_reached) {
  sbx::client<counting_provider> c;
  auto box = c.create(request{}.timeout("5 parsecs"));
  ASSERT_THAT(box, fails_with(error_kind::invalid_request));
  EXPECT_EQ(box.error().field(), "timeout");
  EXPECT_THAT(std::string(box.error().message()), HasSubstr("\"5 parsecs\""));
  EXPECT_TRUE(c.provider().seen->created.empty());
}

TEST(client_create, a_zero_timeout_is_refused_as_not_positive) {
  sbx::client<counting_provider> c;
  auto box = c.create(request{}.timeout("0s"));
  ASSERT_THAT(box, fails_with(error_kind::invalid_request));
  EXPECT_EQ(box.error().field(), "timeout");
  EXPECT_TRUE(c.provider().seen->created.empty());
}

TEST(client_create, a_good_memory_string_reaches_the_provider_as_bytes) {
  sbx::client<counting_provider> c;
  {
    auto box = c.create(request{}.memory("1.5 GiB"));
    ASSERT_THAT(box, succeeds());
  }
  ASSERT_EQ(c.provider().seen->created.size(), 1u);
  EXPECT_EQ(c.provider().seen->created[0].memory, sbx::memory(1610612736));
}

TEST(client_create, a_session_timeout_makes_a_sandbox_killed_with_its_handle) {
  sbx::client<counting_provider> c;
  {
    auto box = c.create(request{}.timeout("session"));
    ASSERT_THAT(box, succeeds());
    ASSERT_EQ(c.provider().seen->created.size(), 1u);
    EXPECT_FALSE(c.provider().seen->created[0].lifetime.has_value());
  }
  EXPECT_EQ(c.provider().seen->kills, 1);
}

TEST(client_create, a_duration_timeout_sets_the_lifetime_and_outlives_the_handle) {
  sbx::client<counting_provider> c;
  {
    auto box = c.create(request{}.timeout("5m"));
    ASSERT_THAT(box, succeeds());
    ASSERT_EQ(c.provider().seen->created.size(), 1u);
    EXPECT_EQ(c.provider().seen->created[0].lifetime, std::chrono::milliseconds(5min));
  }
  EXPECT_EQ(c.provider().seen->kills, 0);
}

TEST(client_create, a_later_session_timeout_replaces_an_earlier_duration) {
  auto r = request{}.timeout("5m").timeout("session");
  EXPECT_FALSE(r.common().lifetime.has_value());
  EXPECT_TRUE(r.common().problems.empty());
}

TEST(client_create, the_run_time_form_is_validated_the_same_way) {
  sbx::client<counting_provider> c;
  common_request r;
  r.volumes = {{"v", "relative", false}};
  auto box = c.create(r);
  ASSERT_THAT(box, fails_with(error_kind::invalid_request));
  EXPECT_EQ(box.error().field(), "volumes");
  EXPECT_TRUE(c.provider().seen->created.empty());
}

}  // namespace
