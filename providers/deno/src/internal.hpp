// SPDX-License-Identifier: Apache-2.0
#pragma once

// The Deno provider's internal contract: provider state, the JSON-RPC session over one
// WebSocket (requests in flight, the stream sub-protocol of protocol §7), the error tables.

#include <sbx/providers/deno.hpp>

#include "http/http.hpp"
#include "json/json.hpp"
#include "ws/ws.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace sbx::deno_impl {

using json = nlohmann::json;
namespace jh = sbx::json_util;
using clock = std::chrono::steady_clock;
using deadline = std::optional<clock::time_point>;

inline deadline after(std::optional<std::chrono::milliseconds> d) {
  if (!d) return std::nullopt;
  return clock::now() + *d;
}

// ---- errors (errors.cpp): the provider's one mapping table ----

/// Replaces every occurrence of `secret` in `text` (tokens never reach an error message).
std::string scrub(std::string text, std::string_view secret);
/// The kind for an in-band ErrorObject (§6.4): by errno `code`, then `constructorName`.
error_kind kind_for_error_object(json const& e);
/// The kind for a JSON-RPC error code (§6.5).
error_kind kind_for_rpc_code(long long code);
/// The kind for a failed REST call or upgrade: the body's `code` when it is one we know
/// (INVALID_TOKEN, SANDBOX_NOT_FOUND...), else the status table of src/http.
error_kind kind_for_http(long status, std::string_view body_code);
/// Whether the table knows `body_code`: a definite answer, not a transient failure.
bool is_known_body_code(std::string_view body_code);
/// An error from an ErrorObject, naming `what` (the method and path).
error error_from_object(json const& e, std::string_view what, std::string_view sandbox_id);
/// An error from a non-2xx REST reply or upgrade: body `{code, message}`, Retry-After,
/// x-deno-trace-id.
error error_from_http(long status, std::string_view body, std::optional<std::string> retry_after,
                      std::optional<std::string> trace_id, std::string_view what, std::string_view id,
                      std::string_view token);
error make(error_kind k, std::string message, std::string_view id = {});

// ---- provider state ----

struct state {
  deno::config cfg;
  http::client http;
  /// Deadlines this process set (create, extend), by sandbox id: the REST API reports none,
  /// so `info` of a reconnected sandbox reads them here.
  std::mutex expiries_mutex;
  std::map<std::string, std::chrono::system_clock::time_point> expiries;
  void note_expiry(std::string const& id, std::chrono::system_clock::time_point t);
  std::optional<std::chrono::system_clock::time_point> expiry(std::string const& id);

  /// Base URL (scheme://authority, query kept) of the sandbox endpoint for `region`.
  std::string sandbox_base(std::string_view region) const;
  /// URL for `path` on the sandbox endpoint (pathname replaced, query kept).
  std::string sandbox_url(std::string_view region, std::string_view path) const;
  /// URL for `path_and_query` on the console endpoint (base path and query dropped).
  std::string api_url(std::string_view path_and_query) const;
  http::header_list auth_headers() const;
  /// Checks what the SDK checks before any I/O: token, org, endpoints.
  result<void> check_config() const;

  /// A REST call; non-2xx becomes an error through the table. `body` none: no body.
  result<http::response> rest(std::string method, std::string url, std::optional<json> body, std::string_view what,
                              std::string_view id = {});
};

// ---- the JSON-RPC session ----

/// A byte stream the server produces (stdout, stderr, walk results).
struct inbound_stream {
  std::deque<std::string> chunks;
  bool started = false;
  bool ended = false;
  std::optional<error> failure;  ///< `$sandbox.stream.error`
  bool discard = false;          ///< the consumer went away: drop data
};

struct pending_call {
  std::string method;
  std::optional<json> response;  ///< the whole JSON-RPC response message
  bool done = false;
};

class session : public std::enable_shared_from_this<session> {
 public:
  struct open_result {
    std::shared_ptr<session> s;
    std::string id;
  };
  /// Opens the socket (create or connect), retrying 5xx handshakes as configured.
  static result<open_result> open(std::shared_ptr<state> st, std::string url, http::header_list headers,
                                  std::string_view what, std::string_view id_hint);
  ~session();

  /// A session with no socket, for framing tests: `sent` receives every outgoing message,
  /// `receive` plays the server's. Nothing else differs.
  static std::shared_ptr<session> detached(std::shared_ptr<state> st, std::string id,
                                           std::function<void(std::string const&)> sent);
  void receive(std::string text) { on_message(std::move(text)); }
  void receive_close(ws::close_info const& ci) { on_close(ci); }

  std::string const& id() const noexcept { return id_; }
  state& provider_state() noexcept { return *st_; }
  std::string const& region() const noexcept { return region_; }
  void set_region(std::string r) { region_ = std::move(r); }

  /// Sends a request and returns its id; its response is kept until `wait`ed for.
  result<std::int64_t> start(std::string_view method, json params);
  /// The `ok` value of request `rid`'s response, or the error it carried (in-band, JSON-RPC,
  /// malformed) or the transport's. Past `by`: timeout (the request is forgotten).
  result<json> wait(std::int64_t rid, deadline by);
  /// `start` + `wait` with the configured default deadline when `by` is none... unless
  /// `no_deadline` is set.
  result<json> call(std::string_view method, json params, deadline by);
  result<json> call(std::string_view method, json params) { return call(method, std::move(params), default_deadline()); }
  deadline default_deadline() const { return clock::now() + st_->cfg.request_timeout; }

  // Server -> client streams.
  /// Registers interest in stream `sid` (it may already have started).
  void bind(std::int64_t sid);
  /// The next chunk of `sid`: a value; none at its end. Errors: timeout, connection, the
  /// stream's own error. Unless `block`, returns timeout at once when nothing is queued.
  result<std::optional<std::string>> next_chunk(std::int64_t sid, deadline by);
  /// Forgets `sid`; sends `$sandbox.stream.cancel` when it has not ended.
  void unbind(std::int64_t sid);
  /// Waits until any of `sids` has data or ended, or `rid` got its response, or `by`.
  /// Returns false on timeout.
  bool wait_any(std::initializer_list<std::int64_t> sids, std::optional<std::int64_t> rid, deadline by);
  bool has_response(std::int64_t rid);
  /// Drops request `rid`; its response, if one comes, is ignored.
  void forget(std::int64_t rid);

  // Client -> server streams.
  /// A fresh id announced with `$sandbox.stream.start`.
  result<std::int64_t> open_upload();
  result<void> upload_chunk(std::int64_t sid, std::string_view bytes);
  result<void> upload_end(std::int64_t sid);
  /// Whether the server cancelled stream `sid` we produce.
  bool was_cancelled(std::int64_t sid);
  result<void> upload_error(std::int64_t sid, std::string_view message);

  /// Whether the socket is still up; the error that ended it otherwise.
  std::optional<error> failure();
  /// Closes the socket (close frame without a status, like the SDK).
  void close();
  /// Waits until the server closed the socket (after a DELETE), at most until `by`.
  bool wait_closed(deadline by);

  // Per-sandbox facts this process knows.
  std::optional<std::chrono::system_clock::time_point> expires;
  std::optional<deno::ssh_access> ssh;
  std::mutex facts_mutex;

 private:
  session() = default;
  void on_message(std::string&& text);
  void on_close(ws::close_info const& ci);
  void fail_locked(error e);
  bool send(json const& msg);
  result<json> take_response(std::int64_t rid, std::unique_lock<std::mutex>& lk);

  std::shared_ptr<state> st_;
  std::unique_ptr<ws::connection> conn_;
  std::function<void(std::string const&)> sent_;  // detached sessions only
  std::string id_;
  std::string region_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::int64_t next_id_ = 0;
  std::map<std::int64_t, pending_call> pending_;
  std::map<std::int64_t, inbound_stream> streams_;
  /// Streams we produce that the server cancelled (§7.3: nothing more may be sent on them).
  std::set<std::int64_t> cancelled_;
  std::optional<error> failure_;
  bool closed_ = false;
};

/// Process-wide counter for client stream ids (like the SDK's).
std::int64_t next_client_stream_id();

/// "SIGTERM" for 15 and so on; empty when unknown.
std::string_view signal_name(int sig);
/// 15 for "SIGTERM"; 0 when unknown.
int signal_number(std::string_view name);
/// Parses "2025-01-01T00:00:00.000Z" (and offsets); epoch when unparsable.
std::chrono::system_clock::time_point parse_date(std::string_view s);
/// A file_info from a FileInfo (§8.2).
file_info to_file_info(json const& fi, std::string path);
/// Must be absolute. Errors: invalid_request naming `what`.
result<void> check_path(std::string_view path, std::string_view what);

}  // namespace sbx::deno_impl
