// SPDX-License-Identifier: Apache-2.0
// Commands and REPLs: `spawn` + `processWait` + the stdout/stderr streams (protocol §8.5,
// §9.2), and `spawnDenoRepl` / `denoReplEval` for kernel_session (§8.6).
#include "internal.hpp"

#include <thread>

namespace sbx {
namespace deno_impl {
namespace {

result<session*> live(deno::handle const& h) {
  if (!h.session) return make(error_kind::connection, "sandbox " + h.id + " has no session", h.id);
  return h.session.get();
}

exit_status to_exit_status(json const& v) {
  exit_status es;
  es.exit_code = static_cast<int>(jh::get_int(v, "code").value_or(-1));
  if (auto sig = jh::get_string(v, "signal")) {
    int n = signal_number(*sig);
    if (n) es.signal = n;
    if (es.exit_code < 0 && n) es.exit_code = 128 + n;
  }
  auto oom = v.find("oom");
  es.oom_killed = oom != v.end() && oom->is_string();
  return es;
}

/// `spawn` params for an exec_request (argv[0] through PATH, no shell).
result<json> spawn_params(exec_request const& r, std::optional<std::int64_t> stdin_sid) {
  if (r.argv.empty()) return make(error_kind::invalid_request, "exec: the command is empty");
  json p = {{"command", r.argv[0]}, {"stdout", "piped"}, {"stderr", "piped"}};
  if (r.argv.size() > 1) p["args"] = std::vector<std::string>(r.argv.begin() + 1, r.argv.end());
  if (!r.env.empty()) p["env"] = r.env;
  if (!r.cwd.empty()) p["cwd"] = r.cwd;
  if (stdin_sid) p["stdinStreamId"] = *stdin_sid;
  return p;
}

struct started {
  std::int64_t pid = 0;
  std::optional<std::int64_t> out, err, in;
  std::int64_t wait_rid = 0;
};

result<started> start_process(session& s, exec_request const& r, bool want_stdin, std::string_view method = "spawn",
                              json extra = {}, deadline by = std::nullopt) {
  started p;
  if (want_stdin) {
    SBX_TRY(sid, s.open_upload());
    p.in = sid;
  }
  json params;
  if (method == "spawn") {
    SBX_TRY(sp, spawn_params(r, p.in));
    params = std::move(sp);
  } else {
    params = std::move(extra);
  }
  // The call's own deadline bounds starting it too, not only waiting for it.
  auto start_by = s.default_deadline();
  if (by && *by < *start_by) start_by = by;
  auto res = s.call(method, std::move(params), start_by);
  if (!res) {
    if (p.in) (void)s.upload_end(*p.in);
    auto e = res.error();
    // "no such command" is the command's fault, not the sandbox's.
    if (e.kind() == error_kind::not_found || e.kind() == error_kind::invalid_request) {
      error_detail d = e.detail();
      return make_error(error_kind::exec_failed, std::move(d));
    }
    return e;
  }
  auto const& v = res.value();
  p.pid = jh::get_int(v, "pid").value_or(-1);
  if (p.pid < 0) return make(error_kind::internal, std::string(method) + ": the reply has no pid", s.id());
  if (auto o = jh::get_int(v, "stdoutStreamId")) { p.out = *o; s.bind(*o); }
  if (auto e = jh::get_int(v, "stderrStreamId")) { p.err = *e; s.bind(*e); }
  // §9.2: processWait right away; it stays pending until exit.
  SBX_TRY(rid, s.start("processWait", {{"pid", p.pid}}));
  p.wait_rid = rid;
  return p;
}

result<void> kill_pid(session& s, std::int64_t pid, int sig, deadline by = std::nullopt) {
  std::string_view name = signal_name(sig);
  json params = {{"pid", pid}};
  if (!name.empty()) params["signal"] = name;
  auto r = s.call("processKill", std::move(params), by ? by : s.default_deadline());
  // §8.5: ENOENT means it is already gone, which is what kill wanted.
  if (!r && r.error().kind() != error_kind::not_found) return r.error();
  return success();
}

class deno_process final : public process::impl {
 public:
  deno_process(std::shared_ptr<session> s, started p, output_callback cb)
      : s_(std::move(s)), p_(p), cb_(std::move(cb)) {}
  ~deno_process() override {
    if (p_.out) s_->unbind(*p_.out);
    if (p_.err) s_->unbind(*p_.err);
    if (p_.in && !stdin_closed_) (void)s_->upload_end(*p_.in);
    if (!status_) s_->forget(p_.wait_rid);
  }

  std::string id() const override { return std::to_string(p_.pid); }

  result<void> write_stdin(std::string_view data) override {
    if (!p_.in || stdin_closed_) return make(error_kind::invalid_request, "stdin of process " + id() + " is closed", s_->id());
    for (std::size_t at = 0; at < data.size(); at += chunk)
      SBX_TRYV(s_->upload_chunk(*p_.in, data.substr(at, chunk)));
    return success();
  }

  result<void> close_stdin() override {
    if (!p_.in || stdin_closed_) return success();
    stdin_closed_ = true;
    return s_->upload_end(*p_.in);
  }

  result<std::optional<output_chunk>> read(std::optional<std::chrono::milliseconds> timeout) override {
    auto by = after(timeout);
    for (;;) {
      for (auto [sid, which, done] : {std::tuple{p_.out, output_stream::out, &out_done_},
                                      std::tuple{p_.err, output_stream::err, &err_done_}}) {
        if (!sid || *done) continue;
        auto c = s_->next_chunk(*sid, clock::now());  // does not block
        if (!c) {
          if (c.error().kind() == error_kind::timeout) continue;
          return c.error();
        }
        if (!c.value()) {
          *done = true;
          continue;
        }
        if (cb_) cb_(which, *c.value());
        return std::optional<output_chunk>(output_chunk{which, std::move(*c.value())});
      }
      bool all_done = (!p_.out || out_done_) && (!p_.err || err_done_);
      if (all_done) return std::optional<output_chunk>();
      if (!s_->wait_any({p_.out && !out_done_ ? *p_.out : -1, p_.err && !err_done_ ? *p_.err : -1}, std::nullopt, by))
        return make(error_kind::timeout, "no output from process " + id() + " before the deadline", s_->id());
      if (auto f = s_->failure()) return *f;
    }
  }

  result<exit_status> wait(std::optional<std::chrono::milliseconds> timeout) override {
    if (status_) return *status_;
    auto by = after(timeout);
    if (by && !s_->has_response(p_.wait_rid)) {
      if (!s_->wait_any({}, p_.wait_rid, by) || !s_->has_response(p_.wait_rid)) {
        if (auto f = s_->failure()) return *f;
        return make(error_kind::timeout, "process " + id() + " still runs at the deadline", s_->id());
      }
    }
    SBX_TRY(v, s_->wait(p_.wait_rid, std::nullopt));
    status_ = to_exit_status(v);
    if (p_.in && !stdin_closed_) {
      stdin_closed_ = true;
      (void)s_->upload_end(*p_.in);
    }
    return *status_;
  }

  result<void> kill(int sig) override {
    if (status_) return success();
    if (s_->failure()) return success();  // the sandbox side is gone with the socket, or unreachable
    return kill_pid(*s_, p_.pid, sig);
  }

  std::shared_ptr<session> const& sess() const { return s_; }
  started const& proc() const { return p_; }

 private:
  static constexpr std::size_t chunk = 1 << 20;
  std::shared_ptr<session> s_;
  started p_;
  output_callback cb_;
  bool stdin_closed_ = false;
  bool out_done_ = false, err_done_ = false;
  std::optional<exit_status> status_;
};

}  // namespace
}  // namespace deno_impl

using namespace deno_impl;

result<process> deno::spawn(handle const& h, exec_request const& r) {
  SBX_TRY(s, live(h));
  SBX_TRY(p, start_process(*s, r, true));
  auto impl = std::make_unique<deno_process>(h.session, p, r.on_output);
  if (!r.stdin_data.empty()) SBX_TRYV(impl->write_stdin(r.stdin_data));
  return process(std::move(impl));
}

result<exec_result> deno::exec(handle const& h, exec_request const& r) {
  SBX_TRY(s, live(h));
  auto t0 = clock::now();
  bool with_stdin = !r.stdin_data.empty();
  SBX_TRY(p, start_process(*s, r, with_stdin, "spawn", {}, r.timeout ? deadline(t0 + *r.timeout) : std::nullopt));
  if (with_stdin) {
    for (std::size_t at = 0; at < r.stdin_data.size(); at += 1 << 20)
      SBX_TRYV(s->upload_chunk(*p.in, std::string_view(r.stdin_data).substr(at, 1 << 20)));
    SBX_TRYV(s->upload_end(*p.in));
  }
  deadline by = r.timeout ? deadline(t0 + *r.timeout) : std::nullopt;
  exec_result out;
  bool out_done = !p.out, err_done = !p.err;
  auto drain = [&](std::optional<std::int64_t> sid, bool& done, std::string& buf, bool& truncated,
                   output_stream which) -> result<void> {
    while (sid && !done) {
      auto c = s->next_chunk(*sid, clock::now());
      if (!c) {
        // Nothing queued, or the socket is gone: the caller's loop decides, keeping the
        // output so far. Only the stream's own error ends the exec here.
        if (c.error().kind() == error_kind::timeout || s->failure()) return success();
        return c.error();
      }
      if (!c.value()) {
        done = true;
        s->unbind(*sid);
        return success();
      }
      auto& data = *c.value();
      if (r.on_output) r.on_output(which, data);
      if (buf.size() < r.output_limit) {
        auto room = r.output_limit - buf.size();
        buf.append(data, 0, std::min(room, data.size()));
        if (data.size() > room) truncated = true;
      } else if (!data.empty()) {
        truncated = true;
      }
    }
    return success();
  };
  auto stop_process = [&](error_kind kind, std::string why) -> result<exec_result> {
    // Bounded: the caller's deadline has passed already; a silent server must not add 30 s.
    (void)kill_pid(*s, p.pid, 9, clock::now() + std::chrono::seconds(2));
    // What it printed up to now, then whatever arrives while it dies.
    (void)drain(p.out, out_done, out.stdout_data, out.stdout_truncated, output_stream::out);
    (void)drain(p.err, err_done, out.stderr_data, out.stderr_truncated, output_stream::err);
    if (p.out) s->unbind(*p.out);
    if (p.err) s->unbind(*p.err);
    error_detail d;
    d.provider = "deno";
    d.id = h.id;
    d.message = std::move(why);
    d.partial_stdout = out.stdout_data;
    d.partial_stderr = out.stderr_data;
    return make_error(kind, std::move(d));
  };
  for (;;) {
    SBX_TRYV(drain(p.out, out_done, out.stdout_data, out.stdout_truncated, output_stream::out));
    SBX_TRYV(drain(p.err, err_done, out.stderr_data, out.stderr_truncated, output_stream::err));
    // §7.3: the status and both ends, in any order.
    if (out_done && err_done && s->has_response(p.wait_rid)) break;
    if (r.stop.stop_requested()) return stop_process(error_kind::cancelled, "exec of " + r.argv[0] + " was cancelled");
    auto step = by;
    if (r.stop.stop_possible()) {
      auto poll = clock::now() + std::chrono::milliseconds(50);
      if (!step || poll < *step) step = poll;
    }
    bool woke = s->wait_any({out_done ? -1 : p.out.value_or(-1), err_done ? -1 : p.err.value_or(-1)},
                            s->has_response(p.wait_rid) ? std::nullopt : std::optional<std::int64_t>(p.wait_rid), step);
    if (auto f = s->failure()) {
      // Drain first: data that arrived before the drop is still output.
      (void)drain(p.out, out_done, out.stdout_data, out.stdout_truncated, output_stream::out);
      (void)drain(p.err, err_done, out.stderr_data, out.stderr_truncated, output_stream::err);
      if (!(out_done && err_done && s->has_response(p.wait_rid))) {
        error_detail d = f->detail();
        d.message = "exec of " + r.argv[0] + ": " + d.message;
        d.partial_stdout = out.stdout_data;
        d.partial_stderr = out.stderr_data;
        return make_error(f->kind(), std::move(d));
      }
    }
    if (!woke && by && clock::now() >= *by)
      return stop_process(error_kind::timeout, "exec of " + r.argv[0] + " did not finish within " +
                                                   format_duration(*r.timeout) + "; it was killed");
  }
  SBX_TRY(v, s->wait(p.wait_rid, std::nullopt));
  auto es = to_exit_status(v);
  out.exit_code = es.exit_code;
  out.signal = es.signal;
  out.oom_killed = es.oom_killed;
  out.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0);
  return out;
}

namespace deno_impl {
namespace {

std::string render_value(json const& v) {
  if (v.is_null()) return {};
  return jh::dump(v);
}

class deno_repl final : public repl::impl {
 public:
  deno_repl(std::shared_ptr<session> s, started p) : s_(std::move(s)), p_(p) {}
  ~deno_repl() override { (void)close(); }

  result<repl_output> eval(std::string_view code, std::optional<std::chrono::milliseconds> timeout) override {
    if (closed_) return make(error_kind::invalid_request, "the REPL is closed", s_->id());
    auto by = timeout ? after(timeout) : s_->default_deadline();
    SBX_TRY(rid, s_->start("denoReplEval", {{"pid", p_.pid}, {"code", code}}));
    auto v = s_->wait(rid, by);
    repl_output out;
    collect(out);
    if (v) {
      out.value = render_value(v.value());
      return out;
    }
    auto const& e = v.error();
    // An exception thrown by the evaluated code is a value; a missing REPL, a dropped socket
    // or a deadline is not.
    switch (e.kind()) {
      case error_kind::timeout:
      case error_kind::connection:
      case error_kind::not_found:
      case error_kind::unsupported:
      case error_kind::cancelled:
        return e;
      default:
        break;
    }
    auto msg = std::string(e.message());
    // error_from_object wrote "denoReplEval: <class> [code]: <message>".
    if (msg.starts_with("denoReplEval: ")) msg.erase(0, 14);
    out.error = msg;
    return out;
  }

  result<void> close() override {
    if (closed_) return success();
    closed_ = true;
    auto r = s_->failure() ? result<json>(json()) : s_->call("denoReplClose", {{"pid", p_.pid}});
    if (p_.out) s_->unbind(*p_.out);
    if (p_.err) s_->unbind(*p_.err);
    s_->forget(p_.wait_rid);
    if (!r && r.error().kind() != error_kind::not_found) return r.error();
    return success();
  }

 private:
  void collect(repl_output& out) {
    for (auto [sid, buf] : {std::pair{p_.out, &out.stdout_data}, std::pair{p_.err, &out.stderr_data}}) {
      while (sid) {
        auto c = s_->next_chunk(*sid, clock::now());
        if (!c || !c.value()) break;
        buf->append(*c.value());
      }
    }
  }
  std::shared_ptr<session> s_;
  started p_;
  bool closed_ = false;
};

}  // namespace
}  // namespace deno_impl

result<sbx::repl> deno::repl(handle const& h, std::string_view language) {
  if (language != "javascript" && language != "typescript" && language != "js" && language != "ts") {
    error_detail d;
    d.provider = "deno";
    d.field = "language";
    d.id = h.id;
    d.message = "Deno's REPL runs JavaScript and TypeScript, not \"" + std::string(language) + "\"";
    return make_error(error_kind::invalid_request, std::move(d));
  }
  SBX_TRY(s, live(h));
  SBX_TRY(p, start_process(*s, exec_request{}, false, "spawnDenoRepl", {{"stdout", "piped"}, {"stderr", "piped"}}));
  // §8.6: the SDK also asks denoHttpWait; its answer does not matter for a REPL.
  return sbx::repl(std::make_unique<deno_repl>(h.session, p));
}

result<repl_output> deno::eval(handle const& h, std::string_view code) {
  SBX_TRY(r, repl(h, "typescript"));
  auto out = r.eval(code);
  auto c = r.close();
  if (!out) return out.error();
  if (!c) return c.error();
  return out;
}

}  // namespace sbx
