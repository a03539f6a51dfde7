// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sbx {

/// What went wrong, coarsely enough for a caller to decide what to do next.
/// `docs/errors.md` says when each kind is used and whether a retry can help.
enum class error_kind : std::uint8_t {
  unsupported,            ///< the provider cannot do this (names the capability / field)
  auth_failed,            ///< credentials missing, wrong or not allowed
  quota_exceeded,         ///< rate or resource limit; see `retry_after()`
  not_found,              ///< no such sandbox, file, volume, snapshot
  already_exists,         ///< the name or id is taken
  invalid_request,        ///< the request is malformed or out of range; nothing was done
  create_failed,          ///< the sandbox could not be created
  exec_failed,            ///< the command could not be started (not: it exited non-zero)
  timeout,                ///< a deadline passed; partial output is kept where there was any
  network_policy_denied,  ///< the network policy refused a connection
  connection,             ///< the transport failed (socket, TLS, handshake, dropped stream)
  internal,               ///< a bug or an unexpected reply; report it
  cancelled,              ///< a stop_token asked the operation to stop
};

/// The kind's name as written in docs and in `sbx` output: `"not_found"`.
std::string_view to_string(error_kind kind) noexcept;

/// Whether retrying the same call unchanged can help: quota_exceeded, timeout, connection.
bool is_retryable(error_kind kind) noexcept;

/// Everything an error can say beyond its kind. Empty strings mean "not known".
struct error_detail {
  std::string message;     ///< one sentence: what failed and where, quoting the bad input
  std::string provider;    ///< "local", "deno", ...
  std::string capability;  ///< for unsupported: the marker's name, e.g. "cidr_allowlist"
  std::string field;       ///< the request field or operation, e.g. "network.cidrs"
  std::string id;          ///< sandbox / volume / snapshot id the error is about
  std::string trace_id;    ///< the provider's request or trace id
  std::optional<std::chrono::milliseconds> retry_after;  ///< from Retry-After, on quota_exceeded
  std::string partial_stdout;  ///< timeout of an exec: what the command printed before the deadline
  std::string partial_stderr;
};

/// A failure: a kind, the HTTP status it came from (0 if none) and shared detail.
/// Small (16 bytes + kind) so that `result<T>` stores it inline; copies share the detail.
class error {
 public:
  error() = default;
  error(error_kind kind, std::shared_ptr<const error_detail> detail, std::uint16_t http_status = 0)
      : detail_(std::move(detail)), kind_(kind), http_status_(http_status) {}

  error_kind kind() const noexcept { return kind_; }
  std::uint16_t http_status() const noexcept { return http_status_; }
  /// The detail; never null for errors made by sbx.
  error_detail const& detail() const noexcept;
  std::string_view message() const noexcept { return detail().message; }
  std::string_view provider() const noexcept { return detail().provider; }
  std::string_view capability() const noexcept { return detail().capability; }
  std::string_view field() const noexcept { return detail().field; }
  std::string_view id() const noexcept { return detail().id; }
  std::optional<std::chrono::milliseconds> retry_after() const noexcept { return detail().retry_after; }

  /// One line for humans: `not_found: no such file "/x" (provider local, id sbx-1)`.
  std::string to_string() const;

  friend bool operator==(error const& e, error_kind k) noexcept { return e.kind_ == k; }

 private:
  std::shared_ptr<const error_detail> detail_;
  error_kind kind_ = error_kind::internal;
  std::uint16_t http_status_ = 0;
};

/// Makes an error with a message.
error make_error(error_kind kind, std::string message);
/// Makes an error from a filled-in detail.
error make_error(error_kind kind, error_detail detail, std::uint16_t http_status = 0);
/// `unsupported` naming the provider, the capability marker and the field or operation.
error make_unsupported(std::string_view provider, std::string_view capability, std::string_view field);

}  // namespace sbx
