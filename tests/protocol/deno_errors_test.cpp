// SPDX-License-Identifier: Apache-2.0
// The Deno provider's error table (providers/deno/src/errors.cpp), row by row.
#include "internal.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sbx::deno_impl {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::Not;

json object(std::string cls, std::optional<std::string> code, std::optional<std::string> name = std::nullopt) {
  json e = {{"constructorName", cls}, {"message", "m"}, {"code", nullptr}, {"name", nullptr}};
  if (code) e["code"] = *code;
  if (name) e["name"] = *name;
  return e;
}

struct object_row {
  std::string cls;
  std::optional<std::string> code;
  error_kind kind;
};

class error_object_table : public testing::TestWithParam<object_row> {};

TEST_P(error_object_table, maps_error_object_to_kind) {
  auto const& r = GetParam();
  EXPECT_EQ(kind_for_error_object(object(r.cls, r.code)), r.kind) << r.cls << " " << r.code.value_or("-");
}

INSTANTIATE_TEST_SUITE_P(
    rows, error_object_table,
    testing::Values(object_row{"NotFound", "ENOENT", error_kind::not_found},
                    object_row{"NotFound", std::nullopt, error_kind::not_found},
                    object_row{"Error", "ENOENT", error_kind::not_found},  // errno wins over the class
                    object_row{"AlreadyExists", "EEXIST", error_kind::already_exists},
                    object_row{"PermissionDenied", "EACCES", error_kind::invalid_request},
                    object_row{"IsADirectory", "EISDIR", error_kind::invalid_request},
                    object_row{"NotADirectory", "ENOTDIR", error_kind::invalid_request},
                    object_row{"Error", "ENOTEMPTY", error_kind::invalid_request},
                    object_row{"Error", "ENOTSUP", error_kind::unsupported},
                    object_row{"NotSupported", std::nullopt, error_kind::unsupported},
                    object_row{"Error", "ENOSPC", error_kind::quota_exceeded},
                    object_row{"TimedOut", "ETIMEDOUT", error_kind::timeout},
                    object_row{"ConnectionRefused", "ECONNREFUSED", error_kind::network_policy_denied},
                    object_row{"BrokenPipe", "EPIPE", error_kind::connection},
                    object_row{"TypeError", std::nullopt, error_kind::invalid_request},
                    object_row{"RangeError", std::nullopt, error_kind::invalid_request},
                    object_row{"Error", std::nullopt, error_kind::internal},
                    object_row{"SomethingNew", std::nullopt, error_kind::internal}));

TEST(error_object_table, abort_error_is_cancelled) {
  EXPECT_EQ(kind_for_error_object(object("DOMException", std::nullopt, "AbortError")), error_kind::cancelled);
}

TEST(rpc_codes, map_to_kinds) {
  EXPECT_EQ(kind_for_rpc_code(-32601), error_kind::unsupported);
  EXPECT_EQ(kind_for_rpc_code(-32602), error_kind::invalid_request);
  EXPECT_EQ(kind_for_rpc_code(-32700), error_kind::internal);
  EXPECT_EQ(kind_for_rpc_code(-32603), error_kind::internal);
  EXPECT_EQ(kind_for_rpc_code(1), error_kind::connection);
  EXPECT_EQ(kind_for_rpc_code(2), error_kind::cancelled);
}

struct http_row {
  long status;
  std::string code;
  error_kind kind;
};

class http_table : public testing::TestWithParam<http_row> {};

TEST_P(http_table, maps_status_and_body_code) {
  EXPECT_EQ(kind_for_http(GetParam().status, GetParam().code), GetParam().kind)
      << GetParam().status << " " << GetParam().code;
}

INSTANTIATE_TEST_SUITE_P(
    rows, http_table,
    testing::Values(http_row{401, "INVALID_TOKEN", error_kind::auth_failed}, http_row{403, "", error_kind::auth_failed},
                    http_row{404, "SANDBOX_NOT_FOUND", error_kind::not_found},
                    http_row{410, "SANDBOX_ALREADY_TERMINATED", error_kind::not_found},
                    http_row{400, "SANDBOX_TERMINATED", error_kind::not_found},
                    http_row{429, "TOO_MANY_REQUESTS", error_kind::quota_exceeded},
                    http_row{429, "", error_kind::quota_exceeded}, http_row{400, "INVALID_CONFIG", error_kind::invalid_request},
                    http_row{400, "UNSUPPORTED", error_kind::unsupported},
                    http_row{500, "SANDBOX_CREATE_FAILED", error_kind::create_failed},
                    http_row{409, "", error_kind::already_exists}, http_row{500, "INTERNAL_SERVER_ERROR", error_kind::internal},
                    http_row{503, "", error_kind::connection},
                    http_row{418, "SOME_UNKNOWN_CODE", error_kind::invalid_request}));

TEST(error_from_http, carries_retry_after_status_and_trace_id) {
  auto e = error_from_http(429, R"({"code":"TOO_MANY_REQUESTS","message":"slow down"})", "3", "trace-1", "create", "",
                           "ddo_secret");
  EXPECT_EQ(e.kind(), error_kind::quota_exceeded);
  EXPECT_EQ(e.http_status(), 429);
  EXPECT_EQ(e.retry_after(), 3000ms);
  EXPECT_EQ(e.detail().trace_id, "trace-1");
  EXPECT_THAT(std::string(e.message()), HasSubstr("slow down"));
}

TEST(error_from_http, never_quotes_the_token) {
  // A server echoing the Authorization header back must not leak it into our errors.
  auto e = error_from_http(401, R"({"code":"INVALID_TOKEN","message":"bad token ddo_s3cr3t"})", std::nullopt,
                           std::nullopt, "create", "", "ddo_s3cr3t");
  EXPECT_EQ(e.kind(), error_kind::auth_failed);
  EXPECT_THAT(e.to_string(), Not(HasSubstr("ddo_s3cr3t")));
  auto plain = error_from_http(500, "Bearer ddo_s3cr3t", std::nullopt, std::nullopt, "kill", "", "ddo_s3cr3t");
  EXPECT_THAT(plain.to_string(), Not(HasSubstr("ddo_s3cr3t")));
}

TEST(error_from_object, names_the_method_and_keeps_the_message) {
  auto e = error_from_object(object("NotFound", "ENOENT"), "readFile", "sbx_ord_x");
  EXPECT_EQ(e.kind(), error_kind::not_found);
  EXPECT_THAT(std::string(e.message()), HasSubstr("readFile"));
  EXPECT_THAT(std::string(e.message()), HasSubstr("ENOENT"));
  EXPECT_EQ(e.id(), "sbx_ord_x");
}

}  // namespace
}  // namespace sbx::deno_impl
