// SPDX-License-Identifier: Apache-2.0
#pragma once

// The Deno Sandbox semantics over sbx::local: sandboxes and their sockets, RPC methods,
// streams, the console REST routes. The network side (Beast) lives in server.cpp and talks to
// this through `peer` (one WebSocket) and plain strings.

#include <sbx/server/deno.hpp>

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sbx::server::deno_impl {

/// One accepted WebSocket, implemented by the network layer. Thread-safe.
class peer {
 public:
  virtual ~peer() = default;
  /// Queues one text frame.
  virtual void send(std::string text) = 0;
  /// Sends a close frame with `code` and `reason`, then closes.
  virtual void close(int code, std::string reason) = 0;
  /// Cuts the TCP connection without a close frame (fault injection).
  virtual void drop() = 0;
};

/// The active faults, shared by the network layer and the backend.
class fault_state {
 public:
  explicit fault_state(fault_options f) : f_(std::move(f)) {}
  fault_options get() const { std::lock_guard l(m_); return f_; }
  void set(fault_options f) { std::lock_guard l(m_); f_ = std::move(f); }
  /// Consumes one handshake failure if any is pending.
  bool take_handshake_failure() { std::lock_guard l(m_); return f_.handshake_failures > 0 && f_.handshake_failures-- > 0; }
  /// Consumes one 429 if any is pending; returns its Retry-After seconds.
  std::optional<int> take_rate_limit() {
    std::lock_guard l(m_);
    if (f_.rate_limited <= 0) return std::nullopt;
    --f_.rate_limited;
    return f_.rate_limit_retry_after_s;
  }

 private:
  mutable std::mutex m_;
  fault_options f_;
};

/// Appends trace lines to serve_options::trace_file.
class tracer {
 public:
  explicit tracer(std::string const& path);
  ~tracer();
  void write(std::string const& line);
  bool on() const noexcept { return file_ != nullptr; }

 private:
  std::mutex m_;
  std::FILE* file_ = nullptr;
};

/// An HTTP reply for the network layer to send.
struct http_reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

/// An HTTP request as the backend sees it.
struct http_request {
  std::string method;
  std::string target;      ///< path and query, as received
  std::string authorization;
  std::string host;        ///< the Host header (for absolute Link URLs)
  std::string body;
};

struct connection;  // one socket's state (backend.cpp)

class backend {
 public:
  backend(serve_options const& o, std::shared_ptr<fault_state> faults);
  ~backend();

  /// Checks `Authorization: Bearer <token>`; nullopt when accepted, else the 401 reply.
  std::optional<http_reply> check_auth(std::string_view authorization) const;

  struct attach {
    std::optional<http_reply> refusal;  ///< set: answer the handshake with this instead of 101
    std::string sandbox_id;
    std::shared_ptr<connection> conn;
  };
  /// Handshake of `/api/v3/sandboxes/create` (blocking: creates the sandbox).
  attach create(std::string_view config_header);
  /// Handshake of `/api/v3/sandbox/<id>/connect`.
  attach connect(std::string_view id);
  /// The socket was accepted: messages may now flow to `p`.
  void bind(std::shared_ptr<connection> const& c, std::shared_ptr<peer> p);
  /// One received text frame. Cheap: requests run on their own threads.
  void on_message(std::shared_ptr<connection> const& c, std::string_view text);
  /// The socket closed (either side) or the handshake failed after `create`/`connect`.
  void on_closed(std::shared_ptr<connection> const& c);

  /// A REST request (blocking; run off the network threads).
  http_reply handle_http(http_request const& r);
  /// The loopback URL behind an exposed domain (`Host` of a proxied request), if any.
  std::optional<std::string> exposed_url(std::string_view host);

  void write_trace(std::string const& line) { tracer_.write(line); }
  /// Closes every socket, destroys session sandboxes, waits for every handler thread.
  void stop();

  struct state;

 private:
  std::shared_ptr<state> s_;
  tracer tracer_;
};

}  // namespace sbx::server::deno_impl
