// SPDX-License-Identifier: Apache-2.0
#pragma once

// Internal REST client over libcurl, shared by the remote providers. Not installed; no curl
// type leaks out of this header.

#include <sbx/result.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sbx::http {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct request {
  std::string method = "GET";
  std::string url;
  header_list headers;
  std::optional<std::string> body;  ///< sent as is; none sends no body at all
  /// The whole call (connect, send, receive) must finish within this.
  std::chrono::milliseconds timeout{30000};
};

struct response {
  long status = 0;
  header_list headers;  ///< names lower-cased, in arrival order
  std::string body;
  /// The first header named `name` (lower case), if any.
  std::optional<std::string> header(std::string_view name) const;
};

/// A thread-safe HTTP client: one connection pool (a curl share handle for connections, DNS
/// and TLS sessions, plus reused easy handles) per client object, HTTP/2 over TLS where the
/// server offers it. Copies share the pool.
class client {
 public:
  client();
  /// Runs `r`. A response with any status is a value; only transport failures are errors,
  /// mapped by `kind_for_curl` (connection, timeout, invalid_request...). Never retries.
  result<response> perform(request const& r) const;
  /// How many easy handles are idle in the pool (for tests of reuse).
  std::size_t idle_handles() const;

 private:
  struct pool;
  std::shared_ptr<pool> pool_;
};

/// The kind an HTTP status means when a provider has nothing more specific: 401/403
/// auth_failed, 404/410 not_found, 409 already_exists, 429 quota_exceeded, 408/504 timeout,
/// 502/503 connection, other 4xx invalid_request, other 5xx internal. `success` statuses
/// (1xx-3xx) also return internal: asking is a bug.
error_kind kind_for_status(long status) noexcept;
/// The kind for a libcurl result code (CURLcode as an int).
error_kind kind_for_curl(int curl_code) noexcept;
/// Whether a status is one a protocol may call transient (502, 503, 504 and 500).
bool is_transient_status(long status) noexcept;
/// `Retry-After`: delta-seconds or an HTTP-date (relative to `now`). None when unparsable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

/// `%XX`-encodes everything except unreserved characters (like JS encodeURIComponent).
std::string percent_encode(std::string_view s);

}  // namespace sbx::http
