// SPDX-License-Identifier: Apache-2.0
// The Deno provider's one error table: in-band ErrorObjects (protocol §6.4), JSON-RPC error
// codes (§6.5), and REST / upgrade bodies `{code, message}` (§3.4, §5) on top of the HTTP
// status table of src/http/status_map.cpp.
#include "internal.hpp"

#include <array>

namespace sbx::deno_impl {
namespace {

struct name_rule {
  std::string_view name;
  error_kind kind;
};

// errno names first: they are the most specific thing a server sends.
constexpr std::array errno_table{
    name_rule{"ENOENT", error_kind::not_found},
    name_rule{"ESRCH", error_kind::not_found},
    name_rule{"EEXIST", error_kind::already_exists},
    name_rule{"ENOTEMPTY", error_kind::invalid_request},
    name_rule{"EISDIR", error_kind::invalid_request},
    name_rule{"ENOTDIR", error_kind::invalid_request},
    name_rule{"EINVAL", error_kind::invalid_request},
    name_rule{"ELOOP", error_kind::invalid_request},
    name_rule{"EACCES", error_kind::invalid_request},
    name_rule{"EPERM", error_kind::invalid_request},
    name_rule{"EBUSY", error_kind::invalid_request},
    name_rule{"ENAMETOOLONG", error_kind::invalid_request},
    name_rule{"ENOTSUP", error_kind::unsupported},
    name_rule{"EOPNOTSUPP", error_kind::unsupported},
    name_rule{"ENOSYS", error_kind::unsupported},
    name_rule{"ENOSPC", error_kind::quota_exceeded},
    name_rule{"EDQUOT", error_kind::quota_exceeded},
    name_rule{"EMFILE", error_kind::quota_exceeded},
    name_rule{"ETIMEDOUT", error_kind::timeout},
    name_rule{"ECONNREFUSED", error_kind::network_policy_denied},
    name_rule{"ENETUNREACH", error_kind::network_policy_denied},
    name_rule{"EPIPE", error_kind::connection},
    name_rule{"ECONNRESET", error_kind::connection},
};

// Then the Deno error class, then the JS one.
constexpr std::array class_table{
    name_rule{"NotFound", error_kind::not_found},
    name_rule{"AlreadyExists", error_kind::already_exists},
    name_rule{"PermissionDenied", error_kind::invalid_request},
    name_rule{"NotCapable", error_kind::invalid_request},
    name_rule{"IsADirectory", error_kind::invalid_request},
    name_rule{"NotADirectory", error_kind::invalid_request},
    name_rule{"FilesystemLoop", error_kind::invalid_request},
    name_rule{"InvalidData", error_kind::invalid_request},
    name_rule{"Busy", error_kind::invalid_request},
    name_rule{"NotSupported", error_kind::unsupported},
    name_rule{"TimedOut", error_kind::timeout},
    name_rule{"ConnectionRefused", error_kind::network_policy_denied},
    name_rule{"NetworkUnreachable", error_kind::network_policy_denied},
    name_rule{"ConnectionReset", error_kind::connection},
    name_rule{"ConnectionAborted", error_kind::connection},
    name_rule{"NotConnected", error_kind::connection},
    name_rule{"BrokenPipe", error_kind::connection},
    name_rule{"BadResource", error_kind::not_found},
    name_rule{"TypeError", error_kind::invalid_request},
    name_rule{"RangeError", error_kind::invalid_request},
    name_rule{"SyntaxError", error_kind::invalid_request},
    name_rule{"URIError", error_kind::invalid_request},
};

// Body codes of failed REST calls and upgrades. The spec fixes INVALID_TOKEN; the others are
// the local server's choice and the real service's are uncertain (§3.4), so a code we do
// not know falls through to the HTTP status.
constexpr std::array body_table{
    name_rule{"INVALID_TOKEN", error_kind::auth_failed},
    name_rule{"UNAUTHORIZED", error_kind::auth_failed},
    name_rule{"FORBIDDEN", error_kind::auth_failed},
    name_rule{"SANDBOX_NOT_FOUND", error_kind::not_found},
    name_rule{"NOT_FOUND", error_kind::not_found},
    name_rule{"VOLUME_NOT_FOUND", error_kind::not_found},
    name_rule{"SNAPSHOT_NOT_FOUND", error_kind::not_found},
    name_rule{"SANDBOX_TERMINATED", error_kind::not_found},
    name_rule{"SANDBOX_ALREADY_TERMINATED", error_kind::not_found},
    name_rule{"ALREADY_EXISTS", error_kind::already_exists},
    name_rule{"SLUG_TAKEN", error_kind::already_exists},
    name_rule{"CONFLICT", error_kind::already_exists},
    name_rule{"TOO_MANY_REQUESTS", error_kind::quota_exceeded},
    name_rule{"RATE_LIMITED", error_kind::quota_exceeded},
    name_rule{"QUOTA_EXCEEDED", error_kind::quota_exceeded},
    name_rule{"SANDBOX_CREATE_FAILED", error_kind::create_failed},
    name_rule{"CREATE_FAILED", error_kind::create_failed},
    name_rule{"UNSUPPORTED", error_kind::unsupported},
    name_rule{"NOT_SUPPORTED", error_kind::unsupported},
    name_rule{"INVALID_CONFIG", error_kind::invalid_request},
    name_rule{"INVALID_REQUEST", error_kind::invalid_request},
    name_rule{"BAD_REQUEST", error_kind::invalid_request},
};

template <std::size_t N>
std::optional<error_kind> lookup(std::array<name_rule, N> const& t, std::string_view name) {
  for (auto const& r : t)
    if (r.name == name) return r.kind;
  return std::nullopt;
}

}  // namespace

std::string scrub(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
    text.replace(at, secret.size(), "<token>");
  return text;
}

error make(error_kind k, std::string message, std::string_view id) {
  error_detail d;
  d.message = std::move(message);
  d.provider = "deno";
  d.id = std::string(id);
  return make_error(k, std::move(d));
}

error_kind kind_for_error_object(json const& e) {
  if (auto code = jh::get_string(e, "code"))
    if (auto k = lookup(errno_table, *code)) return *k;
  if (auto n = jh::get_string(e, "name"); n && *n == "AbortError") return error_kind::cancelled;
  if (auto c = jh::get_string(e, "constructorName"))
    if (auto k = lookup(class_table, *c)) return *k;
  return error_kind::internal;
}

error_kind kind_for_rpc_code(long long code) {
  switch (code) {
    case 1: return error_kind::connection;         // WEBSOCKET_CLOSED
    case 2: return error_kind::cancelled;          // ABORTED
    case -32601: return error_kind::unsupported;   // METHOD_NOT_FOUND
    case -32600: return error_kind::internal;      // INVALID_REQUEST: we sent something the server could not read
    case -32602: return error_kind::invalid_request;  // INVALID_PARAMS
    default: return error_kind::internal;          // PARSE_ERROR, INTERNAL_ERROR, SERVER_ERROR, 3
  }
}

bool is_known_body_code(std::string_view body_code) { return lookup(body_table, body_code).has_value(); }

error_kind kind_for_http(long status, std::string_view body_code) {
  if (!body_code.empty())
    if (auto k = lookup(body_table, body_code)) return *k;
  return http::kind_for_status(status);
}

error error_from_object(json const& e, std::string_view what, std::string_view sandbox_id) {
  auto msg = jh::get_string(e, "message").value_or("error without a message");
  auto cls = jh::get_string(e, "constructorName").value_or("Error");
  auto code = jh::get_string(e, "code");
  error_detail d;
  d.provider = "deno";
  d.id = std::string(sandbox_id);
  d.message = std::string(what) + ": " + cls + (code ? " " + *code : std::string()) + ": " + msg;
  d.field = std::string(what.substr(0, what.find(' ')));
  return make_error(kind_for_error_object(e), std::move(d));
}

error error_from_http(long status, std::string_view body, std::optional<std::string> retry_after,
                      std::optional<std::string> trace_id, std::string_view what, std::string_view id,
                      std::string_view token) {
  std::string code, message;
  if (auto j = jh::parse(body)) {
    code = jh::get_string(*j, "code").value_or("");
    message = jh::get_string(*j, "message").value_or("");
  } else if (!body.empty()) {
    message = std::string(body.substr(0, 300));
  }
  error_detail d;
  d.provider = "deno";
  d.id = std::string(id);
  d.message = std::string(what) + " answered " + std::to_string(status);
  if (!code.empty()) d.message += " " + code;
  if (!message.empty()) d.message += ": " + message;
  d.message = scrub(std::move(d.message), token);
  if (trace_id) d.trace_id = *trace_id;
  auto kind = kind_for_http(status, code);
  if (kind == error_kind::quota_exceeded && retry_after)
    d.retry_after = http::parse_retry_after(*retry_after, std::chrono::system_clock::now());
  return make_error(kind, std::move(d), static_cast<std::uint16_t>(status));
}

}  // namespace sbx::deno_impl
