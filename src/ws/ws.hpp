// SPDX-License-Identifier: Apache-2.0
#pragma once

// Internal WebSocket client (Boost.Beast; TLS through OpenSSL for wss://). Not installed; no
// Beast or Asio type leaks out of this header. One connection = one I/O thread that reads,
// writes queued messages, and sends a keepalive text every `ping_interval`.

#include <sbx/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sbx::ws {

using header_list = std::vector<std::pair<std::string, std::string>>;

/// What the server answered to the upgrade request (101 or not).
struct upgrade_response {
  unsigned status = 0;   ///< 0 when no HTTP response arrived (transport failure)
  header_list headers;   ///< names lower-cased
  std::string body;      ///< the body of a non-101 reply
  std::optional<std::string> header(std::string_view name) const;
};

/// How the connection ended.
struct close_info {
  std::uint16_t code = 0;      ///< the peer's close code; 0 when there was no close frame
  std::string reason;          ///< the peer's close reason, or what failed
  bool by_peer = false;        ///< the server closed it (close frame or dropped socket)
  bool clean = false;          ///< a close handshake happened
};

struct options {
  std::string url;             ///< ws://host[:port]/path[?query] or wss://...
  header_list headers;         ///< added to the upgrade request
  std::chrono::milliseconds handshake_timeout{30000};  ///< TCP + TLS + upgrade
  std::chrono::milliseconds ping_interval{2000};
  std::string ping_text = "ping";  ///< sent as a text frame every ping_interval; empty: none
  /// Once anything has been received, fail the connection when nothing more arrives for this
  /// long (a server that stopped answering, even to pings). None: never.
  std::optional<std::chrono::milliseconds> idle_timeout;
  /// The idle check starts only once a message equal to this has arrived (the server has
  /// shown it answers keepalives), so a server that never answers pings is not dropped.
  /// Empty: any message starts it.
  std::string liveness_text = "pong";
  std::size_t max_message_bytes = std::size_t{128} << 20;
  bool verify_peer = true;     ///< wss: check the certificate chain and host name
  std::string ca_file;         ///< wss: extra CA bundle; empty: the system's
};

struct handlers {
  /// Each complete text (or binary) message, on the connection's I/O thread. Must not block.
  std::function<void(std::string&&)> on_message;
  /// Once, on the I/O thread, when the connection ends for any reason.
  std::function<void(close_info const&)> on_close;
};

class connection {
 public:
  /// Connects and upgrades. `out` receives the upgrade response either way. Errors:
  /// connection (transport, TLS, or a non-101 reply: http_status says which), timeout,
  /// invalid_request (a URL that is not ws/wss).
  static result<std::unique_ptr<connection>> open(options o, handlers h, upgrade_response& out);

  ~connection();  ///< closes (if still open) and joins the I/O thread
  connection(connection const&) = delete;
  connection& operator=(connection const&) = delete;

  /// Queues a text message; thread-safe. False when the connection already ended.
  bool send(std::string text);
  /// Starts the close handshake (no status code when `code` is 0, like a browser close()),
  /// waits up to `wait` for it, then drops the socket, and joins the I/O thread. Idempotent.
  /// Must not be called from the I/O thread (use `close_async` there).
  void close(std::uint16_t code = 0, std::string reason = {}, std::chrono::milliseconds wait = std::chrono::milliseconds(2000));
  /// Starts the close handshake without waiting; safe from any thread, including handlers.
  void close_async(std::uint16_t code, std::string reason);
  bool is_open() const noexcept;

  struct impl;
 private:
  explicit connection(std::shared_ptr<impl> i) : impl_(std::move(i)) {}
  std::shared_ptr<impl> impl_;
};

/// I/O threads of connections in this process that have not ended yet (for leak tests).
int live_io_threads() noexcept;

}  // namespace sbx::ws
