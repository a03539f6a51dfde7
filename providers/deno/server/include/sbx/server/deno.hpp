// SPDX-License-Identifier: Apache-2.0
#pragma once

// `sbx serve --dialect deno`: a server speaking the Deno Deploy Sandbox protocol
// (../shared/protocols/deno-sandbox.md, SDK @deno/sandbox 0.13.2) over sandboxes of the local
// provider, so that the official SDK and our own `sbx::deno` client run against this machine.
//
//     sbx::server::serve_options o;
//     o.listen = "127.0.0.1:8787";
//     o.token = "ddo_local";
//     return sbx::server::serve_deno(o, [](std::uint16_t port) { std::printf("listening on %u\n", port); });
//
// Point the SDK at it with DENO_DEPLOY_TOKEN=<token>, DENO_SANDBOX_ENDPOINT=http://127.0.0.1:PORT
// and DENO_DEPLOY_ENDPOINT=http://127.0.0.1:PORT (one server serves both the sandbox endpoint,
// /api/v3/..., and the console endpoint, /api/v2/...).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace sbx::server {

/// Faults a server injects on purpose, for protocol tests of clients. All off by default.
/// Set them at start (`serve_options::faults`), at run time with `deno_server::set_faults`,
/// or, when `serve_options::control` is on, with `POST /_sbx/faults` and a JSON body whose
/// keys are the member names below (`{"handshake_failures": 2}`; `GET /_sbx/faults` reads them
/// back, `DELETE /_sbx/faults` clears them). Counters count down as faults are delivered.
struct fault_options {
  /// The next N WebSocket handshakes (create and connect) are answered
  /// `500 {"code":"INTERNAL_SERVER_ERROR","message":...}`; then handshakes succeed again.
  int handshake_failures = 0;
  /// The next N HTTP requests (REST calls and handshakes alike) are answered
  /// `429 {"code":"TOO_MANY_REQUESTS",...}` with `Retry-After: <rate_limit_retry_after_s>`.
  int rate_limited = 0;
  int rate_limit_retry_after_s = 2;
  /// After sending this many `$sandbox.stream.enqueue` notifications on a socket (counted per
  /// socket from its start), the TCP connection is cut without a close frame. 0 = never.
  int drop_after_stream_chunks = 0;
  /// Requests of these methods are answered with a frame that is not JSON (`{"jsonrpc":"2.0",`).
  std::set<std::string> malformed_json_methods;
  /// Requests of these methods get the JSON-RPC error -32601 "Method not found" (an
  /// unknown method normally gets the in-band ENOTSUP error of protocol §13).
  std::set<std::string> method_not_found_methods;
  /// Requests of these methods ("*" = every method) are never answered; the socket stays open
  /// and keepalive `pong`s continue. With `stop_answering_pings` the `pong`s stop too.
  std::set<std::string> stop_answering_methods;
  bool stop_answering_pings = false;
};

/// How to run the server.
struct serve_options {
  /// "HOST:PORT" to listen on; port 0 picks a free port (reported to `on_listening`).
  std::string listen = "127.0.0.1:0";
  /// The accepted Bearer token. Empty: any non-empty token is accepted (a missing or empty
  /// `Authorization` is still refused with 401 INVALID_TOKEN).
  std::string token;
  /// One JSON line per received request appended to this file (empty: no trace): RPC
  /// requests and notifications `{"kind":"rpc","method":"spawn","params":["args","command",...]}`,
  /// HTTP `{"kind":"http","method":"DELETE","route":"/api/v3/sandbox/{id}","body":[...],"query":[...]}`,
  /// handshakes `{"kind":"ws","route":"/api/v3/sandboxes/create","config":[...]}`. Keys are
  /// sorted; values are never written (they may hold tokens or secrets).
  std::string trace_file;
  /// The local provider's state dir (sandboxes, volumes); empty: its default. The server keeps
  /// its own records (volume slugs, snapshots) in `<state_dir>/deno-server/`.
  std::string state_dir;
  /// Where `install-deno-runtime` put the Deno runtime (`<dir>/bin/deno`). Empty:
  /// $SBX_DENO_DIR, else /opt/sbx/deno. Without it the Deno-runtime methods (spawnDeno, the
  /// REPL, and the fs methods served by the in-sandbox agent) answer in-band NotSupported.
  std::string deno_dir;
  /// Region letters used in minted sandbox ids (`sbx_<region>_...`) and reported objects.
  std::string region = "ord";
  /// Accept `/_sbx/faults` control requests (same Bearer token as the API).
  bool control = false;
  /// Faults active from the start.
  fault_options faults;
  /// Worker threads for the network; RPC handlers run on their own threads.
  int io_threads = 2;
};

/// A server running in this process on its own threads, for tests.
///
///     sbx::server::deno_server s({.token = "ddo_t"});
///     std::uint16_t port = s.start();     // throws std::runtime_error if it cannot listen
///     ...
///     s.stop();                            // also done by the destructor
class deno_server {
 public:
  explicit deno_server(serve_options o = {});
  ~deno_server();
  deno_server(deno_server const&) = delete;
  deno_server& operator=(deno_server const&) = delete;

  /// Binds, starts serving and returns the bound port. Throws std::runtime_error on failure.
  std::uint16_t start();
  /// Closes every socket (1001 "server shutting down"), destroys session sandboxes, joins
  /// every thread. Duration-lifetime sandboxes keep running. Idempotent.
  void stop();
  /// Replaces the active faults.
  void set_faults(fault_options f);
  fault_options faults() const;
  std::uint16_t port() const noexcept;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

/// Runs the server until SIGINT or SIGTERM; calls `on_listening` with the bound port once it
/// accepts connections. Returns the process exit status: 0 after a signal, 1 if it could not
/// start (the reason is printed to stderr).
int serve_deno(serve_options const& o, std::function<void(std::uint16_t port)> on_listening = {});

}  // namespace sbx::server
