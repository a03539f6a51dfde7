// SPDX-License-Identifier: Apache-2.0
// The one table from HTTP statuses and curl codes to error kinds (src/http/status_map.cpp),
// row by row, plus Retry-After parsing.
#include "http/http.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <matchers.hpp>

namespace sbx::http {
namespace {

using namespace std::chrono_literals;

struct status_row {
  long status;
  error_kind kind;
};

class status_table : public testing::TestWithParam<status_row> {};

TEST_P(status_table, maps_status_to_kind) {
  EXPECT_EQ(kind_for_status(GetParam().status), GetParam().kind) << "HTTP " << GetParam().status;
}

INSTANTIATE_TEST_SUITE_P(
    rows, status_table,
    testing::Values(status_row{400, error_kind::invalid_request}, status_row{401, error_kind::auth_failed},
                    status_row{403, error_kind::auth_failed}, status_row{404, error_kind::not_found},
                    status_row{405, error_kind::unsupported}, status_row{408, error_kind::timeout},
                    status_row{409, error_kind::already_exists}, status_row{410, error_kind::not_found},
                    status_row{413, error_kind::invalid_request}, status_row{422, error_kind::invalid_request},
                    status_row{429, error_kind::quota_exceeded}, status_row{451, error_kind::invalid_request},
                    status_row{500, error_kind::internal}, status_row{501, error_kind::unsupported},
                    status_row{502, error_kind::connection}, status_row{503, error_kind::connection},
                    status_row{504, error_kind::timeout}, status_row{507, error_kind::quota_exceeded},
                    status_row{599, error_kind::internal}, status_row{200, error_kind::internal},
                    status_row{0, error_kind::internal}));

struct curl_row {
  int code;
  error_kind kind;
};

class curl_table : public testing::TestWithParam<curl_row> {};

TEST_P(curl_table, maps_curl_code_to_kind) {
  EXPECT_EQ(kind_for_curl(GetParam().code), GetParam().kind) << curl_easy_strerror(static_cast<CURLcode>(GetParam().code));
}

INSTANTIATE_TEST_SUITE_P(
    rows, curl_table,
    testing::Values(curl_row{CURLE_COULDNT_CONNECT, error_kind::connection},
                    curl_row{CURLE_COULDNT_RESOLVE_HOST, error_kind::connection},
                    curl_row{CURLE_RECV_ERROR, error_kind::connection}, curl_row{CURLE_SEND_ERROR, error_kind::connection},
                    curl_row{CURLE_GOT_NOTHING, error_kind::connection},
                    curl_row{CURLE_SSL_CONNECT_ERROR, error_kind::connection},
                    curl_row{CURLE_PEER_FAILED_VERIFICATION, error_kind::connection},
                    curl_row{CURLE_PARTIAL_FILE, error_kind::connection},
                    curl_row{CURLE_OPERATION_TIMEDOUT, error_kind::timeout},
                    curl_row{CURLE_URL_MALFORMAT, error_kind::invalid_request},
                    curl_row{CURLE_UNSUPPORTED_PROTOCOL, error_kind::invalid_request},
                    curl_row{CURLE_LOGIN_DENIED, error_kind::auth_failed},
                    curl_row{CURLE_ABORTED_BY_CALLBACK, error_kind::cancelled},
                    curl_row{CURLE_OUT_OF_MEMORY, error_kind::internal},
                    curl_row{CURLE_BAD_FUNCTION_ARGUMENT, error_kind::internal}));

TEST(transient_status, only_5xx_gateway_and_server_errors) {
  for (long s : {500L, 502L, 503L, 504L}) EXPECT_TRUE(is_transient_status(s)) << s;
  for (long s : {200L, 400L, 401L, 404L, 429L, 501L, 505L}) EXPECT_FALSE(is_transient_status(s)) << s;
}

TEST(retry_after, parses_delta_seconds) {
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(parse_retry_after("2", now), 2000ms);
  EXPECT_EQ(parse_retry_after(" 120 ", now), 120000ms);
  EXPECT_EQ(parse_retry_after("0", now), 0ms);
}

TEST(retry_after, parses_http_date_relative_to_now) {
  auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), 30000ms);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), 0ms);  // in the past: now
}

TEST(retry_after, refuses_garbage) {
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("-5", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("1.5", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT trailing", now), std::nullopt);
}

TEST(percent_encode, encodes_like_encode_uri_component) {
  EXPECT_EQ(percent_encode("labels[team]"), "labels%5Bteam%5D");
  EXPECT_EQ(percent_encode("a b/c?d"), "a%20b%2Fc%3Fd");
  EXPECT_EQ(percent_encode("safe-_.~!*'()"), "safe-_.~!*'()");
}

TEST(http_client, unreachable_server_is_connection) {
  client c;
  request r;
  r.url = "http://127.0.0.1:1/";  // port 1: nothing listens
  r.timeout = 2000ms;
  EXPECT_THAT(c.perform(r), test::fails_with(error_kind::connection));
}

}  // namespace
}  // namespace sbx::http
