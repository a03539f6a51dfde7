// SPDX-License-Identifier: Apache-2.0
// The one table from HTTP statuses and libcurl codes to error kinds (design.md §6).
#include "http/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

namespace sbx::http {
namespace {

struct status_rule {
  long first, last;
  error_kind kind;
};

// Checked in order; the first matching range wins.
constexpr std::array status_table{
    status_rule{401, 401, error_kind::auth_failed},
    status_rule{403, 403, error_kind::auth_failed},
    status_rule{404, 404, error_kind::not_found},
    status_rule{405, 405, error_kind::unsupported},
    status_rule{408, 408, error_kind::timeout},
    status_rule{409, 409, error_kind::already_exists},
    status_rule{410, 410, error_kind::not_found},
    status_rule{429, 429, error_kind::quota_exceeded},
    status_rule{400, 499, error_kind::invalid_request},
    status_rule{501, 501, error_kind::unsupported},
    // A gateway that cannot reach the service, or a service shedding load: the transport
    // failed, not the request, and a retry can help.
    status_rule{502, 503, error_kind::connection},
    status_rule{504, 504, error_kind::timeout},
    status_rule{507, 507, error_kind::quota_exceeded},
    status_rule{500, 599, error_kind::internal},
};

struct curl_rule {
  CURLcode code;
  error_kind kind;
};

// curl reports a refused connection, a failed DNS lookup, a reset and a TLS failure with
// different codes; for a caller all are "the transport failed", so all are connection.
constexpr std::array curl_table{
    curl_rule{CURLE_COULDNT_RESOLVE_PROXY, error_kind::connection},
    curl_rule{CURLE_COULDNT_RESOLVE_HOST, error_kind::connection},
    curl_rule{CURLE_COULDNT_CONNECT, error_kind::connection},
    curl_rule{CURLE_WEIRD_SERVER_REPLY, error_kind::connection},
    curl_rule{CURLE_HTTP2, error_kind::connection},
    curl_rule{CURLE_PARTIAL_FILE, error_kind::connection},
    curl_rule{CURLE_SEND_ERROR, error_kind::connection},
    curl_rule{CURLE_RECV_ERROR, error_kind::connection},
    curl_rule{CURLE_GOT_NOTHING, error_kind::connection},
    curl_rule{CURLE_SSL_CONNECT_ERROR, error_kind::connection},
    curl_rule{CURLE_PEER_FAILED_VERIFICATION, error_kind::connection},
    curl_rule{CURLE_SSL_CACERT_BADFILE, error_kind::connection},
    curl_rule{CURLE_SSL_CERTPROBLEM, error_kind::connection},
    curl_rule{CURLE_HTTP2_STREAM, error_kind::connection},
    curl_rule{CURLE_HTTP3, error_kind::connection},
    curl_rule{CURLE_OPERATION_TIMEDOUT, error_kind::timeout},
    curl_rule{CURLE_UNSUPPORTED_PROTOCOL, error_kind::invalid_request},
    curl_rule{CURLE_URL_MALFORMAT, error_kind::invalid_request},
    curl_rule{CURLE_LOGIN_DENIED, error_kind::auth_failed},
    curl_rule{CURLE_ABORTED_BY_CALLBACK, error_kind::cancelled},
    curl_rule{CURLE_TOO_MANY_REDIRECTS, error_kind::invalid_request},
    curl_rule{CURLE_FILESIZE_EXCEEDED, error_kind::quota_exceeded},
    curl_rule{CURLE_OUT_OF_MEMORY, error_kind::internal},
};

}  // namespace

error_kind kind_for_status(long status) noexcept {
  for (auto const& r : status_table)
    if (status >= r.first && status <= r.last) return r.kind;
  return error_kind::internal;
}

error_kind kind_for_curl(int code) noexcept {
  for (auto const& r : curl_table)
    if (r.code == code) return r.kind;
  return error_kind::internal;
}

bool is_transient_status(long status) noexcept { return status == 500 || (status >= 502 && status <= 504); }

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v, std::chrono::system_clock::time_point now) {
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return std::nullopt;
    long long s = 0;
    for (char c : v) s = s * 10 + (c - '0');
    return std::chrono::milliseconds(s * 1000);
  }
  // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (the only form RFC 9110 asks senders to use).
  std::tm tm{};
  std::string s(v);
  char const* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(when - now);
  return d.count() < 0 ? std::chrono::milliseconds(0) : d;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '!' || c == '*' || c == '\'' ||
        c == '(' || c == ')') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace sbx::http
