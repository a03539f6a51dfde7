// SPDX-License-Identifier: Apache-2.0
#include <sbx/error.hpp>
#include <sbx/info.hpp>
#include <sbx/result.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

namespace sbx {

std::string_view to_string(error_kind kind) noexcept {
  switch (kind) {
    case error_kind::unsupported: return "unsupported";
    case error_kind::auth_failed: return "auth_failed";
    case error_kind::quota_exceeded: return "quota_exceeded";
    case error_kind::not_found: return "not_found";
    case error_kind::already_exists: return "already_exists";
    case error_kind::invalid_request: return "invalid_request";
    case error_kind::create_failed: return "create_failed";
    case error_kind::exec_failed: return "exec_failed";
    case error_kind::timeout: return "timeout";
    case error_kind::network_policy_denied: return "network_policy_denied";
    case error_kind::connection: return "connection";
    case error_kind::internal: return "internal";
    case error_kind::cancelled: return "cancelled";
  }
  return "internal";
}

bool is_retryable(error_kind kind) noexcept {
  return kind == error_kind::quota_exceeded || kind == error_kind::timeout || kind == error_kind::connection;
}

std::string_view to_string(sandbox_status s) noexcept {
  switch (s) {
    case sandbox_status::running: return "running";
    case sandbox_status::paused: return "paused";
    case sandbox_status::stopped: return "stopped";
    case sandbox_status::unknown: return "unknown";
  }
  return "unknown";
}

namespace {
error_detail const& empty_detail() {
  static error_detail const d;
  return d;
}
}  // namespace

error_detail const& error::detail() const noexcept { return detail_ ? *detail_ : empty_detail(); }

std::string error::to_string() const {
  auto const& d = detail();
  std::string out = fmt::format("{}: {}", sbx::to_string(kind_), d.message.empty() ? "(no message)" : d.message);
  std::string ctx;
  auto add = [&ctx](std::string_view k, std::string_view v) {
    if (v.empty()) return;
    ctx += ctx.empty() ? "" : ", ";
    ctx += fmt::format("{} {}", k, v);
  };
  add("provider", d.provider);
  add("capability", d.capability);
  add("field", d.field);
  add("id", d.id);
  if (http_status_ != 0) add("http", std::to_string(http_status_));
  if (d.retry_after) add("retry after", fmt::format("{}ms", d.retry_after->count()));
  add("trace", d.trace_id);
  if (!ctx.empty()) out += fmt::format(" ({})", ctx);
  return out;
}

error make_error(error_kind kind, std::string message) {
  error_detail d;
  d.message = std::move(message);
  return error(kind, std::make_shared<error_detail const>(std::move(d)));
}

error make_error(error_kind kind, error_detail detail, std::uint16_t http_status) {
  return error(kind, std::make_shared<error_detail const>(std::move(detail)), http_status);
}

error make_unsupported(std::string_view provider, std::string_view capability, std::string_view field) {
  error_detail d;
  d.message = fmt::format("provider {} does not support {} (needs cap::{})", provider, field, capability);
  d.provider = provider;
  d.capability = capability;
  d.field = field;
  return make_error(error_kind::unsupported, std::move(d));
}

namespace detail {

void abort_bad_value_access(error const* e) noexcept {
  if (e)
    std::fprintf(stderr, "sbx: value() of a failed result: %s\n", e->to_string().c_str());
  else
    std::fputs("sbx: value() of a result that holds neither a value nor an error\n", stderr);
  std::abort();
}

void abort_bad_error_access() noexcept {
  std::fputs("sbx: error() of a result that holds no error\n", stderr);
  std::abort();
}

}  // namespace detail
}  // namespace sbx
