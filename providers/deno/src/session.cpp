// SPDX-License-Identifier: Apache-2.0
// One WebSocket to one sandbox: JSON-RPC requests in flight concurrently (protocol §6.2),
// in-band result envelopes (§6.3), and the stream sub-protocol (§7). The socket's I/O thread
// only files messages into tables under `mu_`; callers wait on `cv_`.
#include "internal.hpp"

#include <atomic>
#include <thread>

namespace sbx::deno_impl {

std::int64_t next_client_stream_id() {
  static std::atomic<std::int64_t> n{0};
  return n++;
}

result<session::open_result> session::open(std::shared_ptr<state> st, std::string url, http::header_list headers,
                                           std::string_view what, std::string_view id_hint) {
  auto s = std::shared_ptr<session>(new session());
  s->st_ = st;
  ws::options o;
  o.url = std::move(url);
  o.headers = std::move(headers);
  o.handshake_timeout = st->cfg.handshake_timeout;
  o.idle_timeout = st->cfg.idle_timeout;
  o.verify_peer = st->cfg.verify_tls;
  o.ca_file = st->cfg.ca_file;
  std::weak_ptr<session> weak = s;
  ws::handlers hs;
  hs.on_message = [weak](std::string&& m) {
    if (auto p = weak.lock()) p->on_message(std::move(m));
  };
  hs.on_close = [weak](ws::close_info const& ci) {
    if (auto p = weak.lock()) p->on_close(ci);
  };

  auto backoff = st->cfg.retry_backoff;
  for (int attempt = 0;; ++attempt) {
    ws::upgrade_response up;
    auto c = ws::connection::open(o, hs, up);
    if (c) {
      s->conn_ = std::move(c).value();
      auto id = up.header("x-deno-sandbox-id");
      if (!id || id->empty()) {
        s->close();
        return make(error_kind::internal, std::string(what) + ": the upgrade response has no x-deno-sandbox-id", id_hint);
      }
      s->id_ = *id;
      // sbx_<region>_...: the region picks the endpoint of later REST calls.
      if (s->id_.size() > 8 && s->id_.starts_with("sbx_")) s->region_ = s->id_.substr(4, 3);
      return open_result{s, *id};
    }
    if (up.status == 0) {
      auto e = c.error();
      error_detail d = e.detail();
      d.provider = "deno";
      d.id = std::string(id_hint);
      d.message = scrub(std::string(what) + ": " + d.message, st->cfg.token);
      return make_error(e.kind(), std::move(d));
    }
    // Protocol §3.4: only a transient 5xx of the handshake is worth another try.
    // A 5xx whose body names a failure we know (SANDBOX_CREATE_FAILED) is an answer, not a
    // hiccup: it is not retried.
    auto body = jh::parse(up.body);
    std::string code = body ? jh::get_string(*body, "code").value_or("") : "";
    bool transient = http::is_transient_status(up.status) && !is_known_body_code(code);
    if (transient && attempt < st->cfg.handshake_retries) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
      continue;
    }
    auto e = error_from_http(up.status, up.body, up.header("retry-after"), up.header("x-deno-trace-id"), what, id_hint,
                             st->cfg.token);
    if (transient) {
      // Still failing after the retries: the service is unreachable for now, which is a
      // connection failure a later call may get past.
      error_detail d = e.detail();
      d.message += " (after " + std::to_string(attempt) + " retries)";
      return make_error(error_kind::connection, std::move(d), e.http_status());
    }
    return e;
  }
}

session::~session() {
  // Joins the I/O thread before the tables go.
  conn_.reset();
}

void session::on_message(std::string&& text) {
  if (text == "pong" || text == "ping") return;
  auto msg = jh::parse(text);
  std::unique_lock lk(mu_);
  if (!msg || !msg->is_object()) {
    fail_locked(make(error_kind::internal, "the server sent a frame that is not JSON; connection closed", id_));
    lk.unlock();
    if (conn_) conn_->close_async(4000, "Invalid JSON");
    return;
  }
  auto& m = *msg;
  auto method = m.find("method");
  auto idit = m.find("id");
  if (method == m.end() && idit != m.end()) {
    if (!idit->is_number_integer()) return;  // not one of ours (we only send integer ids)
    auto it = pending_.find(idit->get<std::int64_t>());
    if (it == pending_.end()) return;  // forgotten after a timeout
    it->second.response = std::move(m);
    it->second.done = true;
    cv_.notify_all();
    return;
  }
  if (method == m.end() || !method->is_string()) {
    fail_locked(make(error_kind::internal, "the server sent a message that is not JSON-RPC 2.0; connection closed", id_));
    lk.unlock();
    if (conn_) conn_->close_async(4001, "Invalid message");
    return;
  }
  if (idit != m.end()) return;  // server-initiated requests are not part of the protocol
  auto const& name = method->get_ref<std::string const&>();
  auto const& params = m.contains("params") ? m["params"] : json();
  auto sid = jh::get_int(params, "streamId");
  if (!name.starts_with("$sandbox.stream.") || !sid) return;  // watcher restarts and unknown notifications
  auto& st = streams_[*sid];
  if (name == "$sandbox.stream.start") {
    st.started = true;
  } else if (name == "$sandbox.stream.enqueue") {
    if (st.discard || st.ended) return;
    auto data = jh::get_string(params, "data");
    auto bytes = data ? jh::base64_decode(*data) : std::nullopt;
    if (!bytes) {
      st.ended = true;
      st.failure = make(error_kind::internal, "stream " + std::to_string(*sid) + " carried data that is not base64", id_);
    } else {
      st.chunks.push_back(std::move(*bytes));
    }
  } else if (name == "$sandbox.stream.end") {
    st.ended = true;
  } else if (name == "$sandbox.stream.error") {
    st.ended = true;
    auto e = params.find("error");
    if (e != params.end() && e->is_object()) st.failure = error_from_object(*e, "stream " + std::to_string(*sid), id_);
    else st.failure = make(error_kind::internal, "stream " + std::to_string(*sid) + " failed", id_);
  } else if (name == "$sandbox.stream.cancel") {
    // The server no longer wants a stream we produce (stdin of an exited process): §7.3
    // allows nothing more on it, not even its end.
    streams_.erase(*sid);
    cancelled_.insert(*sid);
    return;
  }
  if (st.discard && st.ended) streams_.erase(*sid);
  cv_.notify_all();
}

void session::on_close(ws::close_info const& ci) {
  std::lock_guard lk(mu_);
  closed_ = true;
  if (!failure_) {
    std::string why = ci.by_peer ? "the server closed the connection" : "the connection was closed";
    if (ci.code) why += " (" + std::to_string(ci.code) + (ci.reason.empty() ? "" : " " + ci.reason) + ")";
    else if (!ci.reason.empty()) why += " (" + ci.reason + ")";
    failure_ = make(error_kind::connection, "sandbox " + id_ + ": " + why, id_);
  }
  cv_.notify_all();
}

void session::fail_locked(error e) {
  if (!failure_) failure_ = std::move(e);
  cv_.notify_all();
}

std::shared_ptr<session> session::detached(std::shared_ptr<state> st, std::string id,
                                           std::function<void(std::string const&)> sent) {
  auto s = std::shared_ptr<session>(new session());
  s->st_ = std::move(st);
  s->id_ = std::move(id);
  s->sent_ = std::move(sent);
  return s;
}

bool session::send(json const& msg) {
  if (sent_) {
    {
      std::lock_guard lk(mu_);
      if (failure_) return false;
    }
    sent_(jh::dump(msg));
    return true;
  }
  return conn_ && conn_->send(jh::dump(msg));
}

result<std::int64_t> session::start(std::string_view method, json params) {
  std::int64_t rid;
  {
    std::lock_guard lk(mu_);
    if (failure_) return *failure_;
    rid = next_id_++;
    pending_[rid].method = std::string(method);
  }
  json msg = {{"jsonrpc", "2.0"}, {"id", rid}, {"method", method}, {"params", params.is_null() ? json::object() : std::move(params)}};
  if (!send(msg)) {
    std::lock_guard lk(mu_);
    pending_.erase(rid);
    return failure_ ? *failure_ : make(error_kind::connection, "sandbox " + id_ + ": the connection is closed", id_);
  }
  return rid;
}

result<json> session::take_response(std::int64_t rid, std::unique_lock<std::mutex>&) {
  auto it = pending_.find(rid);
  auto method = it->second.method;
  json m = std::move(*it->second.response);
  pending_.erase(it);
  if (auto r = m.find("result"); r != m.end()) {
    if (r->is_object()) {
      auto ok = r->find("ok");
      auto err = r->find("error");
      if (err != r->end() && !err->is_null() && (ok == r->end() || ok->is_null())) {
        if (!err->is_object()) return make(error_kind::internal, method + ": the error is not an ErrorObject", id_);
        return error_from_object(*err, method, id_);
      }
      if (ok != r->end()) return std::move(*ok);
      // `{}`: tolerated for void methods by nobody; the SDK rejects it too.
    }
    return make(error_kind::internal, method + ": the result is not an {ok} / {error} envelope", id_);
  }
  if (auto e = m.find("error"); e != m.end() && e->is_object()) {
    auto code = jh::get_int(*e, "code").value_or(-32603);
    auto text = jh::get_string(*e, "message").value_or("");
    return make(kind_for_rpc_code(code), method + ": JSON-RPC error " + std::to_string(code) + " " + text, id_);
  }
  return make(error_kind::internal, method + ": a response with neither result nor error", id_);
}

result<json> session::wait(std::int64_t rid, deadline by) {
  std::unique_lock lk(mu_);
  auto ready = [&] {
    auto it = pending_.find(rid);
    return it == pending_.end() || it->second.done || failure_.has_value();
  };
  if (by) {
    if (!cv_.wait_until(lk, *by, ready)) {
      auto method = pending_[rid].method;
      pending_.erase(rid);
      return make(error_kind::timeout, method + ": no answer from sandbox " + id_ + " before the deadline", id_);
    }
  } else {
    cv_.wait(lk, ready);
  }
  auto it = pending_.find(rid);
  if (it == pending_.end()) return make(error_kind::internal, "request " + std::to_string(rid) + " waited for twice", id_);
  if (!it->second.done) {
    auto method = it->second.method;
    pending_.erase(it);
    error_detail d = failure_->detail();
    d.message = method + ": " + d.message;
    return make_error(failure_->kind(), std::move(d));
  }
  return take_response(rid, lk);
}

result<json> session::call(std::string_view method, json params, deadline by) {
  SBX_TRY(rid, start(method, std::move(params)));
  return wait(rid, by);
}

void session::forget(std::int64_t rid) {
  std::lock_guard lk(mu_);
  pending_.erase(rid);
}

bool session::has_response(std::int64_t rid) {
  std::lock_guard lk(mu_);
  auto it = pending_.find(rid);
  return it != pending_.end() && it->second.done;
}

void session::bind(std::int64_t sid) {
  std::lock_guard lk(mu_);
  streams_[sid];
}

result<std::optional<std::string>> session::next_chunk(std::int64_t sid, deadline by) {
  std::unique_lock lk(mu_);
  auto ready = [&] {
    auto& s = streams_[sid];
    return !s.chunks.empty() || s.ended || failure_.has_value();
  };
  if (by) {
    if (!cv_.wait_until(lk, *by, ready))
      return make(error_kind::timeout, "no output from sandbox " + id_ + " before the deadline", id_);
  } else {
    cv_.wait(lk, ready);
  }
  auto& s = streams_[sid];
  if (!s.chunks.empty()) {
    auto c = std::move(s.chunks.front());
    s.chunks.pop_front();
    return std::optional<std::string>(std::move(c));
  }
  if (s.ended) {
    if (s.failure) return *s.failure;
    return std::optional<std::string>();
  }
  error_detail d = failure_->detail();
  d.message = "output stream: " + d.message;
  return make_error(failure_->kind(), std::move(d));
}

void session::unbind(std::int64_t sid) {
  bool cancel = false;
  {
    std::lock_guard lk(mu_);
    auto it = streams_.find(sid);
    if (it == streams_.end()) return;
    if (it->second.ended) {
      streams_.erase(it);
    } else {
      it->second.discard = true;
      it->second.chunks.clear();
      cancel = !failure_;
    }
  }
  if (cancel)
    send({{"jsonrpc", "2.0"}, {"method", "$sandbox.stream.cancel"}, {"params", {{"streamId", sid}, {"reason", nullptr}}}});
}

bool session::wait_any(std::initializer_list<std::int64_t> sids, std::optional<std::int64_t> rid, deadline by) {
  std::unique_lock lk(mu_);
  auto ready = [&] {
    if (failure_) return true;
    for (auto sid : sids) {
      if (sid < 0) continue;
      auto& s = streams_[sid];
      if (!s.chunks.empty() || s.ended) return true;
    }
    if (rid) {
      auto it = pending_.find(*rid);
      if (it == pending_.end() || it->second.done) return true;
    }
    return false;
  };
  if (by) return cv_.wait_until(lk, *by, ready);
  cv_.wait(lk, ready);
  return true;
}

result<std::int64_t> session::open_upload() {
  auto sid = next_client_stream_id();
  if (!send({{"jsonrpc", "2.0"}, {"method", "$sandbox.stream.start"}, {"params", {{"streamId", sid}}}}))
    return failure() ? *failure() : make(error_kind::connection, "sandbox " + id_ + ": the connection is closed", id_);
  return sid;
}

bool session::was_cancelled(std::int64_t sid) {
  std::lock_guard lk(mu_);
  return cancelled_.count(sid) != 0;
}

result<void> session::upload_chunk(std::int64_t sid, std::string_view bytes) {
  if (was_cancelled(sid))
    return make(error_kind::invalid_request, "sandbox " + id_ + ": stream " + std::to_string(sid) + " was cancelled by the server (the process exited)", id_);
  if (!send({{"jsonrpc", "2.0"}, {"method", "$sandbox.stream.enqueue"},
             {"params", {{"streamId", sid}, {"data", jh::base64_encode(bytes)}}}}))
    return failure() ? *failure() : make(error_kind::connection, "sandbox " + id_ + ": the connection is closed", id_);
  return success();
}

result<void> session::upload_end(std::int64_t sid) {
  if (was_cancelled(sid)) return success();
  if (!send({{"jsonrpc", "2.0"}, {"method", "$sandbox.stream.end"}, {"params", {{"streamId", sid}}}}))
    return failure() ? *failure() : make(error_kind::connection, "sandbox " + id_ + ": the connection is closed", id_);
  return success();
}

result<void> session::upload_error(std::int64_t sid, std::string_view message) {
  json e = {{"constructorName", "Error"}, {"message", message}, {"code", nullptr}, {"stack", nullptr},
            {"cause", nullptr},           {"errors", nullptr},  {"name", nullptr}, {"suppressed", nullptr},
            {"error", nullptr}};
  send({{"jsonrpc", "2.0"}, {"method", "$sandbox.stream.error"}, {"params", {{"streamId", sid}, {"error", e}}}});
  return success();
}

std::optional<error> session::failure() {
  std::lock_guard lk(mu_);
  return failure_;
}

void session::close() {
  if (conn_) conn_->close();
  std::lock_guard lk(mu_);
  closed_ = true;
  if (!failure_) failure_ = make(error_kind::connection, "sandbox " + id_ + ": this handle was closed", id_);
  cv_.notify_all();
}

bool session::wait_closed(deadline by) {
  std::unique_lock lk(mu_);
  auto ready = [&] { return closed_; };
  if (by) return cv_.wait_until(lk, *by, ready);
  cv_.wait(lk, ready);
  return true;
}

}  // namespace sbx::deno_impl
