// SPDX-License-Identifier: Apache-2.0
// Commands in a local sandbox: the client side of the exec channel (wire.hpp). One exec is
// one sendmsg to the agent carrying a fresh status socket and the stdio pipes; the agent
// forks and execs, and reports started / failed / exited on the status socket. Output flows
// through the pipes straight from the command to us.

#include "runtime.hpp"

#include "wire.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>

namespace sbx::local_impl {
namespace {

using clock = std::chrono::steady_clock;

error exec_error(error_kind k, std::string msg, std::string_view id) {
  error_detail d;
  d.message = std::move(msg);
  d.provider = "local";
  d.id = std::string(id);
  return make_error(k, std::move(d));
}

bool valid_env_name(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  for (char ch : n)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  return true;
}

struct launched {
  unique_fd status, in, out, err;
};

result<launched> launch(connection& c, std::vector<std::string> const& argv, std::map<std::string, std::string> const& env,
                        std::string const& cwd, bool want_stdin, bool pty, std::uint16_t cols, std::uint16_t rows,
                        bool want_started) {
  if (argv.empty() || argv[0].empty()) return exec_error(error_kind::invalid_request, "exec: the command is empty", c.id);
  for (auto const& a : argv)
    if (a.find('\0') != std::string::npos) return exec_error(error_kind::invalid_request, "exec: an argument contains a NUL byte", c.id);
  for (auto const& [k, v] : env) {
    if (!valid_env_name(k)) return exec_error(error_kind::invalid_request, fmt::format("exec: env name \"{}\" is not a valid variable name", k), c.id);
    if (forbidden_env(k))
      return exec_error(error_kind::invalid_request, fmt::format("exec: env {} is never passed into a sandbox (it changes how every program starts)", k), c.id);
    if (v.find('\0') != std::string::npos) return exec_error(error_kind::invalid_request, fmt::format("exec: env value of {} contains a NUL byte", k), c.id);
  }
  if (!cwd.empty() && cwd[0] != '/') return exec_error(error_kind::invalid_request, fmt::format("exec: cwd \"{}\" is not absolute", cwd), c.id);

  std::string payload;
  payload.reserve(64);
  payload.append(reinterpret_cast<char const*>(&cols), 2);
  payload.append(reinterpret_cast<char const*>(&rows), 2);
  for (auto const& a : argv) wire::put_string(payload, a);
  for (auto const& [k, v] : env) {
    payload.append(k);
    payload.push_back('=');
    wire::put_string(payload, v);
  }
  wire::put_string(payload, cwd);
  if (payload.size() + sizeof(wire::header) > wire::max_message)
    return exec_error(error_kind::invalid_request, fmt::format("exec: command line and environment are {} bytes, more than the {} the local provider takes", payload.size(), wire::max_message), c.id);

  launched l;
  int st[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, st) != 0)
    return exec_error(error_kind::internal, fmt::format("exec: socketpair failed: {}", std::strerror(errno)), c.id);
  l.status.reset(st[0]);
  unique_fd remote_status(st[1]);
  unique_fd in_r, out_w, err_w;
  int p[2];
  std::int32_t flags = 0;
  if (pty) {
    flags |= wire::use_pty | wire::want_started;
  } else {
    if (want_stdin) {
      if (::pipe2(p, O_CLOEXEC) != 0) return exec_error(error_kind::internal, fmt::format("exec: pipe failed: {}", std::strerror(errno)), c.id);
      in_r.reset(p[0]);
      l.in.reset(p[1]);
      flags |= wire::has_stdin;
    }
    if (::pipe2(p, O_CLOEXEC) != 0) return exec_error(error_kind::internal, fmt::format("exec: pipe failed: {}", std::strerror(errno)), c.id);
    l.out.reset(p[0]);
    out_w.reset(p[1]);
    if (::pipe2(p, O_CLOEXEC) != 0) return exec_error(error_kind::internal, fmt::format("exec: pipe failed: {}", std::strerror(errno)), c.id);
    l.err.reset(p[0]);
    err_w.reset(p[1]);
    flags |= wire::has_stdout | wire::has_stderr;
  }
  if (want_started) flags |= wire::want_started;
  int fds[4];
  int n = 0;
  fds[n++] = remote_status.get();
  if (in_r) fds[n++] = in_r.get();
  if (out_w) fds[n++] = out_w.get();
  if (err_w) fds[n++] = err_w.get();
  std::size_t envc = env.size();
  wire::header h{wire::type::exec, flags, static_cast<std::int64_t>(argv.size()), static_cast<std::int64_t>(envc)};
  if (c.released.load() || !c.chan) return gone(c.id);
  if (int e = wire::send(c.chan.get(), h, payload, fds, n); e != 0) {
    if (e == EPIPE || e == ECONNRESET || e == ENOTCONN) return gone(c.id);
    return exec_error(error_kind::connection, fmt::format("exec: sending the request failed: {}", std::strerror(e)), c.id);
  }
  return l;
}

// What the status socket said so far.
struct status_state {
  pid_t pid = -1;
  bool started = false;
  bool eof = false;
  std::optional<int> wait_status;
  std::optional<std::pair<int, std::string>> failure;
  unique_fd master;
};

void read_status(int fd, status_state& s) {
  char buf[1024];
  wire::header h{};
  std::string text;
  std::vector<int> fds;
  int r = wire::recv(fd, h, &text, &fds, buf, sizeof buf);
  if (r != 0) {
    s.eof = true;
    return;
  }
  switch (h.kind) {
    case wire::type::started:
      s.started = true;
      s.pid = static_cast<pid_t>(h.a);
      if (!fds.empty()) { s.master.reset(fds[0]); fds.erase(fds.begin()); }
      break;
    case wire::type::failed: s.failure = std::make_pair(h.code, text); break;
    case wire::type::exited: s.wait_status = static_cast<int>(h.a); break;
    default: break;
  }
  for (int x : fds) ::close(x);
}

error failure_error(std::pair<int, std::string> const& f, std::string const& argv0, std::string const& cwd, std::string_view id) {
  auto const& [e, step] = f;
  if (step == "exec") {
    if (e == ENOENT) return exec_error(error_kind::exec_failed, fmt::format("command not found: {}", argv0), id);
    if (e == EACCES) return exec_error(error_kind::exec_failed, fmt::format("{}: permission denied", argv0), id);
    return exec_error(error_kind::exec_failed, fmt::format("exec of {} failed: {}", argv0, std::strerror(e)), id);
  }
  if (step == "chdir")
    return exec_error(error_kind::exec_failed, fmt::format("cannot change to directory {}: {}", cwd, std::strerror(e)), id);
  return exec_error(error_kind::exec_failed, fmt::format("{} for {} failed: {}", step, argv0, std::strerror(e)), id);
}

void decode(int st, int& code, std::optional<int>& sig) {
  if (WIFEXITED(st)) {
    code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    sig = WTERMSIG(st);
    code = 128 + *sig;
  }
}

void send_signal(int status_fd, int sig) {
  wire::header h{wire::type::signal, 0, sig, 0};
  wire::send(status_fd, h);
}

// Waits for `started` or `failed` (spawn and pty return only once the command runs).
result<void> await_start(int fd, status_state& s, std::string const& argv0, std::string const& cwd, std::string_view id) {
  auto deadline = clock::now() + std::chrono::seconds(30);
  while (!s.started && !s.failure && !s.eof) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    if (left <= 0) return exec_error(error_kind::timeout, fmt::format("{} did not start within 30 s", argv0), id);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) > 0) read_status(fd, s);
  }
  if (s.failure) return failure_error(*s.failure, argv0, cwd, id);
  if (s.eof) return gone(id);
  return success();
}

class local_process final : public process::impl {
 public:
  local_process(launched l, status_state s, cg::group g, std::uint64_t oom0, output_callback cb, std::string id)
      : l_(std::move(l)), s_(std::move(s)), group_(std::move(g)), oom0_(oom0), cb_(std::move(cb)), id_(std::move(id)) {
    out_eof_ = !l_.out;
    err_eof_ = !l_.err;
  }
  std::string id() const override { return pid_; }
  void set_pid(std::string p) { pid_ = std::move(p); }

  result<void> write_stdin(std::string_view data) override {
    std::lock_guard lk(in_mu_);
    if (!l_.in) return exec_error(error_kind::invalid_request, "write_stdin: stdin is closed", id_);
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(l_.in.get(), data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EPIPE) return exec_error(error_kind::exec_failed, "write_stdin: the process closed its stdin", id_);
        return exec_error(error_kind::connection, fmt::format("write_stdin failed: {}", std::strerror(errno)), id_);
      }
      off += static_cast<std::size_t>(n);
    }
    return success();
  }
  result<void> close_stdin() override {
    std::lock_guard lk(in_mu_);
    l_.in.reset();
    return success();
  }

  result<std::optional<output_chunk>> read(std::optional<std::chrono::milliseconds> timeout) override {
    std::lock_guard lk(mu_);
    auto deadline = timeout ? std::optional(clock::now() + *timeout) : std::nullopt;
    for (;;) {
      if (!q_.empty()) {
        auto c = std::move(q_.front());
        q_.pop_front();
        return std::optional<output_chunk>(std::move(c));
      }
      if (out_eof_ && err_eof_) return std::optional<output_chunk>();
      if (!pump(deadline)) return exec_error(error_kind::timeout, "read: no output before the deadline", id_);
    }
  }

  result<exit_status> wait(std::optional<std::chrono::milliseconds> timeout) override {
    std::lock_guard lk(mu_);
    auto deadline = timeout ? std::optional(clock::now() + *timeout) : std::nullopt;
    while (!s_.wait_status) {
      if (s_.eof) return gone(id_);
      if (!pump(deadline)) return exec_error(error_kind::timeout, "wait: the process is still running at the deadline", id_);
    }
    exit_status es;
    decode(*s_.wait_status, es.exit_code, es.signal);
    es.oom_killed = !group_.memory_dir.empty() && cg::oom_kills(group_) > oom0_;
    return es;
  }

  result<void> kill(int sig) override {
    if (s_.wait_status) return success();
    send_signal(l_.status.get(), sig);
    return success();
  }

 private:
  // Moves whatever is ready (output into the queue, status messages) and returns false if
  // the deadline passed with nothing ready. Output is pumped even by wait(), so a command
  // that prints more than a pipe holds never blocks on a caller that only waits.
  bool pump(std::optional<clock::time_point> deadline) {
    pollfd p[3];
    int n = 0;
    int si = -1, oi = -1, ei = -1;
    if (!s_.eof && !s_.wait_status) { si = n; p[n++] = {l_.status.get(), POLLIN, 0}; }
    if (!out_eof_) { oi = n; p[n++] = {l_.out.get(), POLLIN, 0}; }
    if (!err_eof_) { ei = n; p[n++] = {l_.err.get(), POLLIN, 0}; }
    if (n == 0) return true;
    int ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock::now()).count();
      ms = left < 0 ? 0 : static_cast<int>(left);
    }
    int r = ::poll(p, static_cast<nfds_t>(n), ms);
    if (r < 0) return errno == EINTR;
    if (r == 0) return false;
    if (si >= 0 && p[si].revents) read_status(l_.status.get(), s_);
    auto take = [&](int idx, int fd, bool& eof, output_stream which) {
      if (idx < 0 || !p[idx].revents) return;
      char buf[65536];
      ssize_t k = ::read(fd, buf, sizeof buf);
      if (k <= 0) {
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) return;
        eof = true;
        return;
      }
      std::string_view chunk(buf, static_cast<std::size_t>(k));
      if (cb_) cb_(which, chunk);
      q_.push_back({which, std::string(chunk)});
    };
    take(oi, l_.out.get(), out_eof_, output_stream::out);
    take(ei, l_.err.get(), err_eof_, output_stream::err);
    return true;
  }

  std::mutex mu_, in_mu_;
  launched l_;
  status_state s_;
  cg::group group_;
  std::uint64_t oom0_;
  output_callback cb_;
  std::string id_, pid_;
  std::deque<output_chunk> q_;
  bool out_eof_ = false, err_eof_ = false;
};

class local_pty final : public pty::impl {
 public:
  local_pty(launched l, status_state s, std::string id) : l_(std::move(l)), s_(std::move(s)), id_(std::move(id)) {}

  result<void> write(std::string_view data) override {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(s_.master.get(), data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return exec_error(error_kind::connection, fmt::format("pty write failed: {}", std::strerror(errno)), id_);
      }
      off += static_cast<std::size_t>(n);
    }
    return success();
  }
  result<std::optional<std::string>> read(std::optional<std::chrono::milliseconds> timeout) override {
    std::lock_guard lk(mu_);
    if (closed_) return std::optional<std::string>();
    pollfd p{s_.master.get(), POLLIN, 0};
    int ms = timeout ? static_cast<int>(timeout->count()) : -1;
    int r;
    while ((r = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {}
    if (r == 0) return exec_error(error_kind::timeout, "pty read: no output before the deadline", id_);
    char buf[65536];
    ssize_t n = ::read(s_.master.get(), buf, sizeof buf);
    if (n <= 0) {
      closed_ = true;  // EIO: every process holding the terminal is gone
      return std::optional<std::string>();
    }
    return std::optional<std::string>(std::string(buf, static_cast<std::size_t>(n)));
  }
  result<void> resize(std::uint16_t cols, std::uint16_t rows) override {
    winsize ws{rows, cols, 0, 0};
    if (::ioctl(s_.master.get(), TIOCSWINSZ, &ws) != 0)
      return exec_error(error_kind::internal, fmt::format("pty resize failed: {}", std::strerror(errno)), id_);
    return success();
  }
  result<exit_status> wait(std::optional<std::chrono::milliseconds> timeout) override {
    std::lock_guard lk(wait_mu_);
    auto deadline = timeout ? std::optional(clock::now() + *timeout) : std::nullopt;
    while (!s_.wait_status) {
      if (s_.eof) return gone(id_);
      int ms = -1;
      if (deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock::now()).count();
        if (left <= 0) return exec_error(error_kind::timeout, "pty wait: still running at the deadline", id_);
        ms = static_cast<int>(left);
      }
      pollfd p{l_.status.get(), POLLIN, 0};
      if (::poll(&p, 1, ms) > 0) read_status(l_.status.get(), s_);
    }
    exit_status es;
    decode(*s_.wait_status, es.exit_code, es.signal);
    return es;
  }
  result<void> kill(int sig) override {
    if (s_.wait_status) return success();
    send_signal(l_.status.get(), sig);
    return success();
  }

 private:
  std::mutex mu_, wait_mu_;
  launched l_;
  status_state s_;
  std::string id_;
  bool closed_ = false;
};

void set_nonblock(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

}  // namespace

result<exec_result> run(connection& c, exec_request const& r) {
  auto t0 = clock::now();
  std::uint64_t oom0 = c.group.memory_dir.empty() ? 0 : cg::oom_kills(c.group);
  SBX_TRY(l, launch(c, r.argv, r.env, r.cwd, !r.stdin_data.empty(), false, 0, 0, false));
  set_nonblock(l.out.get());
  set_nonblock(l.err.get());
  if (l.in) set_nonblock(l.in.get());

  unique_fd stop_fd;
  std::optional<std::stop_callback<std::function<void()>>> on_stop;
  if (r.stop.stop_possible()) {
    stop_fd.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    int fd = stop_fd.get();
    on_stop.emplace(r.stop, std::function<void()>([fd] { std::uint64_t one = 1; (void)!::write(fd, &one, sizeof one); }));
  }

  exec_result res;
  status_state s;
  std::size_t in_off = 0;
  bool out_eof = false, err_eof = false;
  auto deadline = r.timeout ? std::optional(t0 + *r.timeout) : std::nullopt;
  enum class why { none, timeout, cancelled } killed = why::none;
  std::optional<clock::time_point> kill_deadline;

  auto keep = [&](output_stream which, char const* data, std::size_t n) {
    std::string& buf = which == output_stream::out ? res.stdout_data : res.stderr_data;
    bool& trunc = which == output_stream::out ? res.stdout_truncated : res.stderr_truncated;
    std::size_t room = r.output_limit > buf.size() ? r.output_limit - buf.size() : 0;
    if (n > room) trunc = true;
    buf.append(data, std::min(n, room));
    if (r.on_output) r.on_output(which, std::string_view(data, n));
  };
  auto drain = [&](int fd, bool& eof, output_stream which) {
    char buf[65536];
    for (;;) {
      ssize_t k = ::read(fd, buf, sizeof buf);
      if (k > 0) { keep(which, buf, static_cast<std::size_t>(k)); continue; }
      if (k == 0) eof = true;
      if (k < 0 && errno == EINTR) continue;
      return;
    }
  };
  auto kill_now = [&](why w) {
    if (killed != why::none) return;
    killed = w;
    send_signal(l.status.get(), SIGKILL);
    kill_deadline = clock::now() + std::chrono::seconds(5);
  };

  while (!s.wait_status && !s.eof) {
    pollfd p[5];
    int n = 0, si, oi = -1, ei = -1, ii = -1, xi = -1;
    si = n;
    p[n++] = {l.status.get(), POLLIN, 0};
    if (!out_eof) { oi = n; p[n++] = {l.out.get(), POLLIN, 0}; }
    if (!err_eof) { ei = n; p[n++] = {l.err.get(), POLLIN, 0}; }
    if (l.in) { ii = n; p[n++] = {l.in.get(), POLLOUT, 0}; }
    if (stop_fd && killed == why::none) { xi = n; p[n++] = {stop_fd.get(), POLLIN, 0}; }
    int ms = -1;
    auto limit = kill_deadline ? kill_deadline : (killed == why::none ? deadline : std::nullopt);
    if (limit) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*limit - clock::now()).count();
      ms = left < 0 ? 0 : static_cast<int>(left) + 1;
    }
    int k = ::poll(p, static_cast<nfds_t>(n), ms);
    if (k < 0) {
      if (errno == EINTR) continue;
      return exec_error(error_kind::internal, fmt::format("exec: poll failed: {}", std::strerror(errno)), c.id);
    }
    if (k == 0) {
      if (kill_deadline && clock::now() >= *kill_deadline) break;
      if (deadline && clock::now() >= *deadline) kill_now(why::timeout);
      continue;
    }
    if (xi >= 0 && p[xi].revents) kill_now(why::cancelled);
    if (oi >= 0 && p[oi].revents) drain(l.out.get(), out_eof, output_stream::out);
    if (ei >= 0 && p[ei].revents) drain(l.err.get(), err_eof, output_stream::err);
    if (ii >= 0 && p[ii].revents) {
      if (p[ii].revents & (POLLERR | POLLHUP)) {
        l.in.reset();
      } else {
        ssize_t w = ::write(l.in.get(), r.stdin_data.data() + in_off, r.stdin_data.size() - in_off);
        if (w > 0) in_off += static_cast<std::size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off >= r.stdin_data.size()) l.in.reset();
      }
    }
    if (p[si].revents) read_status(l.status.get(), s);
  }
  // The command is gone; whatever it wrote is in the pipes. Descendants that still hold them
  // open do not keep us waiting.
  if (!out_eof) drain(l.out.get(), out_eof, output_stream::out);
  if (!err_eof) drain(l.err.get(), err_eof, output_stream::err);
  res.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0);

  if (s.failure) return failure_error(*s.failure, r.argv[0], r.cwd, c.id);
  if (killed != why::none) {
    error_detail d;
    d.provider = "local";
    d.id = c.id;
    d.partial_stdout = std::move(res.stdout_data);
    d.partial_stderr = std::move(res.stderr_data);
    if (killed == why::timeout) {
      d.message = fmt::format("{} did not finish within {} ms and was killed", r.argv[0], r.timeout->count());
      return make_error(error_kind::timeout, std::move(d));
    }
    d.message = fmt::format("{} was cancelled and killed", r.argv[0]);
    return make_error(error_kind::cancelled, std::move(d));
  }
  if (!s.wait_status) return gone(c.id);
  decode(*s.wait_status, res.exit_code, res.signal);
  if (!c.group.memory_dir.empty()) res.oom_killed = cg::oom_kills(c.group) > oom0;
  return res;
}

result<process> start(connection& c, exec_request const& r) {
  std::uint64_t oom0 = c.group.memory_dir.empty() ? 0 : cg::oom_kills(c.group);
  SBX_TRY(l, launch(c, r.argv, r.env, r.cwd, true, false, 0, 0, true));
  status_state s;
  SBX_TRYV(await_start(l.status.get(), s, r.argv[0], r.cwd, c.id));
  if (!r.stdin_data.empty()) {
    std::size_t off = 0;
    while (off < r.stdin_data.size()) {
      ssize_t n = ::write(l.in.get(), r.stdin_data.data() + off, r.stdin_data.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    l.in.reset();  // like exec: the given stdin, then end of file
  }
  std::string pid = std::to_string(s.pid);
  auto impl = std::make_unique<local_process>(std::move(l), std::move(s), c.group, oom0, r.on_output, c.id);
  impl->set_pid(std::move(pid));
  return process(std::move(impl));
}

result<pty> start_pty(connection& c, pty_request const& r) {
  if (r.cols == 0 || r.rows == 0) return exec_error(error_kind::invalid_request, "open_pty: cols and rows must be positive", c.id);
  auto env = r.env;
  SBX_TRY(l, launch(c, r.argv, env, r.cwd, false, true, r.cols, r.rows, true));
  status_state s;
  SBX_TRYV(await_start(l.status.get(), s, r.argv.empty() ? std::string() : r.argv[0], r.cwd, c.id));
  if (!s.master) return exec_error(error_kind::internal, "open_pty: the agent sent no terminal", c.id);
  return pty(std::make_unique<local_pty>(std::move(l), std::move(s), c.id));
}

}  // namespace sbx::local_impl
