// SPDX-License-Identifier: Apache-2.0
#include "backend.hpp"

#include "protocol.hpp"

#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <sys/stat.h>

namespace sbx::server::deno_impl {

extern std::string_view const agent_js;
extern std::string_view const repl_js;
extern std::string_view const preload_js;

namespace {
namespace proto = deno_proto;
using json = nlohmann::json;
using namespace std::chrono_literals;
using clock = std::chrono::system_clock;

constexpr char const* home_dir = "/home/app";
constexpr char const* runtime_mount = "/opt/sbx/deno";
constexpr char const* script_dir = "/opt/sbx/deno";  // in the runtime image
constexpr char const* work_dir = "/tmp/.sbx-deno";    // the runtime's cache and code modules
constexpr std::size_t chunk_bytes = 64 * 1024;
constexpr auto poll = 200ms;

std::int64_t now_ms() { return proto::epoch_ms(clock::now()); }

/// A parameter of the wrong type or missing: answered as an in-band TypeError.
struct bad_param : std::runtime_error { using std::runtime_error::runtime_error; };

std::string str(json const& p, char const* k) {
  auto it = p.find(k);
  if (it == p.end() || !it->is_string()) throw bad_param(fmt::format("\"{}\" must be a string", k));
  return it->get<std::string>();
}
std::optional<std::string> opt_str(json const& p, char const* k) {
  auto it = p.find(k);
  if (it == p.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw bad_param(fmt::format("\"{}\" must be a string", k));
  return it->get<std::string>();
}
std::int64_t num(json const& p, char const* k) {
  auto it = p.find(k);
  if (it == p.end() || !it->is_number_integer()) throw bad_param(fmt::format("\"{}\" must be an integer", k));
  return it->get<std::int64_t>();
}
std::optional<std::int64_t> opt_num(json const& p, char const* k) {
  auto it = p.find(k);
  if (it == p.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) throw bad_param(fmt::format("\"{}\" must be an integer", k));
  return it->get<std::int64_t>();
}
bool flag(json const& p, char const* k) {
  auto it = p.find(k);
  return it != p.end() && it->is_boolean() && it->get<bool>();
}
json obj(json const& p, char const* k) {
  auto it = p.find(k);
  if (it == p.end() || it->is_null()) return json::object();
  if (!it->is_object()) throw bad_param(fmt::format("\"{}\" must be an object", k));
  return *it;
}
std::map<std::string, std::string> str_map(json const& p, char const* k) {
  std::map<std::string, std::string> out;
  auto const o = obj(p, k);
  for (auto const& [key, v] : o.items()) {
    if (!v.is_string()) throw bad_param(fmt::format("\"{}.{}\" must be a string", k, key));
    out[key] = v.get<std::string>();
  }
  return out;
}
std::vector<std::string> str_list(json const& p, char const* k) {
  std::vector<std::string> out;
  auto it = p.find(k);
  if (it == p.end() || it->is_null()) return out;
  if (!it->is_array()) throw bad_param(fmt::format("\"{}\" must be an array of strings", k));
  for (auto const& v : *it) {
    if (!v.is_string()) throw bad_param(fmt::format("\"{}\" must be an array of strings", k));
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::string absolute(std::string const& p) {
  if (!p.empty() && p[0] == '/') return p;
  if (p.empty() || p == ".") return home_dir;
  return std::string(home_dir) + "/" + p;
}
std::string parent_of(std::string const& p) {
  auto s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  auto slash = s.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return s.substr(0, slash);
}

/// An ErrorObject for a local-provider error: the errno is recovered from the message's
/// strerror text where the provider put one.
json error_from(sbx::error const& e, std::string_view op, std::string_view path) {
  auto msg = std::string(e.message());
  static constexpr int errnos[] = {ENOENT, EEXIST, EISDIR, ENOTDIR, ENOTEMPTY, EACCES, EPERM, ELOOP, EINVAL,
                                   EROFS, EXDEV, EBUSY, ENOSPC, ENAMETOOLONG, ETXTBSY};
  for (int n : errnos) {
    std::string_view s = std::strerror(n);
    if (msg.size() >= s.size() && msg.compare(msg.size() - s.size(), s.size(), s) == 0) return proto::errno_error(n, op, path);
  }
  switch (e.kind()) {
    case error_kind::not_found: return proto::errno_error(ENOENT, op, path);
    case error_kind::already_exists: return proto::errno_error(EEXIST, op, path);
    case error_kind::unsupported: return proto::error_object("NotSupported", msg, "ENOTSUP");
    case error_kind::invalid_request: return proto::error_object("TypeError", msg);
    case error_kind::timeout: return proto::error_object("TimedOut", msg, "ETIMEDOUT");
    default: return proto::error_object("Error", msg);
  }
}

json not_supported(std::string_view what) {
  return proto::error_object("NotSupported", fmt::format("{} is not supported by this server", what), "ENOTSUP");
}

std::string read_file_text(std::filesystem::path const& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// A client-produced byte stream (§7): data may arrive before anything consumes it.
struct in_stream {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::string> chunks;
  bool ended = false;
  bool failed = false;
  bool consumer_gone = false;

  void push(std::string d) { { std::lock_guard l(m); chunks.push_back(std::move(d)); } cv.notify_all(); }
  void end(bool error) { { std::lock_guard l(m); ended = true; failed = error; } cv.notify_all(); }
  enum class status { data, end, error, stopped };
  /// The next chunk, waiting for it; `stopped` when `stop()` says to give up.
  template <class Stop>
  status pop(std::string& out, Stop stop) {
    std::unique_lock l(m);
    for (;;) {
      if (!chunks.empty()) { out = std::move(chunks.front()); chunks.pop_front(); return status::data; }
      if (ended) return failed ? status::error : status::end;
      if (stop()) return status::stopped;
      cv.wait_for(l, poll);
    }
  }
};

}  // namespace

// ---- tracer ----
tracer::tracer(std::string const& path) {
  if (!path.empty()) file_ = std::fopen(path.c_str(), "a");
}
tracer::~tracer() { if (file_) std::fclose(file_); }
void tracer::write(std::string const& line) {
  if (!file_) return;
  std::lock_guard l(m_);
  std::fputs(line.c_str(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

struct sandbox_rec;
struct proc_rec;

/// One socket's state.
struct connection {
  std::shared_ptr<sandbox_rec> box;
  bool primary = false;
  std::shared_ptr<fault_state> faults;
  std::mutex m;
  std::shared_ptr<peer> p;
  bool closed = false;
  std::map<std::int64_t, std::shared_ptr<in_stream>> in;
  std::set<std::int64_t> cancelled;
  std::set<std::int64_t> handles;
  int enqueues = 0;

  bool is_closed() { std::lock_guard l(m); return closed; }
  void send(std::string s) {
    std::shared_ptr<peer> pp;
    { std::lock_guard l(m); if (closed) return; pp = p; }
    if (pp) pp->send(std::move(s));
  }
  std::shared_ptr<in_stream> stream(std::int64_t id) {
    std::lock_guard l(m);
    auto& s = in[id];
    if (!s) s = std::make_shared<in_stream>();
    return s;
  }
  bool is_cancelled(std::int64_t id) { std::lock_guard l(m); return cancelled.count(id) > 0; }
  /// Sends one chunk of a server stream unless the client cancelled it; applies the
  /// drop-mid-stream fault.
  void send_data(std::int64_t id, std::string_view bytes) {
    std::shared_ptr<peer> pp;
    bool drop = false;
    {
      std::lock_guard l(m);
      if (closed || cancelled.count(id) || !p) return;
      pp = p;
      int limit = faults->get().drop_after_stream_chunks;
      drop = limit > 0 && ++enqueues > limit;
    }
    if (drop) { pp->drop(); return; }
    pp->send(proto::stream_enqueue(id, bytes));
  }
  void send_end(std::int64_t id) {
    if (is_cancelled(id)) return;  // §7.3 rule 4: nothing after a cancel, not even `end`
    send(proto::stream_end(id));
  }
};

/// A process started by spawn, spawnDeno or spawnDenoRepl.
struct proc_rec {
  enum class kind { plain, deno, repl } type = kind::plain;
  int pid = 0;
  sbx::process proc;
  std::weak_ptr<connection> owner;
  std::optional<std::int64_t> out_id, err_id, stdin_id;
  std::string nonce;
  std::optional<std::string> watcher_id;

  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  exit_status status;
  std::optional<int> http_port;
  int starts = 0;
  std::map<std::int64_t, json> replies;
  std::int64_t next_call = 1;
  std::mutex stdin_m;  // one writer at a time
};

/// The in-sandbox Deno agent serving the fs methods local's file API lacks.
struct agent {
  sbx::process proc;
  std::mutex wm;
  std::mutex m;
  std::condition_variable cv;
  std::map<std::int64_t, json> replies;
  std::int64_t next = 1;
  bool dead = false;
};

struct sandbox_rec {
  std::string id;
  std::string local_id;
  std::string region;
  std::map<std::string, std::string> labels;
  clock::time_point created = clock::now();
  std::optional<std::int64_t> stop_at_ms;
  bool session = true;
  std::shared_ptr<sbx::sandbox<sbx::local>> box;
  std::vector<std::string> volume_ids;

  std::mutex m;
  std::map<std::string, std::optional<std::string>> env;  // overrides; nullopt = deleted
  std::optional<std::map<std::string, std::string>> base_env;
  std::map<int, std::shared_ptr<proc_rec>> procs;
  std::vector<std::weak_ptr<connection>> conns;
  bool dead = false;
  std::optional<bool> files_probe;
  std::shared_ptr<agent> ag;
  std::mutex setup_m;  // serializes agent start and script writing
};

struct backend::state : std::enable_shared_from_this<backend::state> {
  serve_options opt;
  std::shared_ptr<fault_state> faults;
  tracer* tr = nullptr;
  sbx::client<sbx::local> client;

  std::mutex m;
  std::map<std::string, std::shared_ptr<sandbox_rec>> boxes;
  std::deque<json> stopped;                       // listing of killed sandboxes
  std::map<std::string, std::string> domains;     // exposed domain -> loopback URL ("" until bound)

  std::atomic<bool> stopping{false};
  std::mutex tm;
  std::condition_variable tcv;
  int threads = 0;
  std::atomic<std::int64_t> next_stream{1000};
  std::atomic<int> next_pid{100};
  std::thread reaper;

  std::mutex rt_m;
  bool rt_checked = false;
  std::optional<std::string> rt_volume;
  std::string rt_error;

  std::filesystem::path meta_dir;
  std::mutex meta_m;

  explicit state(serve_options const& o)
      : opt(o), client(sbx::local(sbx::local::config{o.state_dir, {}, {}})) {}

  /// Runs `f` on its own thread, counted so that stop() can wait for it.
  void go(std::function<void()> f) {
    { std::lock_guard l(tm); ++threads; }
    std::thread([self = shared_from_this(), f = std::move(f)] {
      try { f(); } catch (std::exception const& e) { std::fprintf(stderr, "sbx serve: handler failed: %s\n", e.what()); }
      std::lock_guard l(self->tm);
      --self->threads;
      self->tcv.notify_all();
    }).detach();
  }

  std::int64_t new_stream() { return next_stream++; }

  // ---------------------------------------------------------------- metadata (volumes)
  json load_meta() {
    auto p = meta_dir / "store.json";
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) return json{{"volumes", json::array()}, {"snapshots", json::array()}};
    auto j = json::parse(read_file_text(p), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return json{{"volumes", json::array()}, {"snapshots", json::array()}};
    if (!j.contains("volumes")) j["volumes"] = json::array();
    if (!j.contains("snapshots")) j["snapshots"] = json::array();
    return j;
  }
  void save_meta(json const& j) {
    std::error_code ec;
    std::filesystem::create_directories(meta_dir, ec);
    auto tmp = meta_dir / "store.json.tmp";
    { std::ofstream f(tmp, std::ios::binary | std::ios::trunc); f << j.dump(2); }
    std::filesystem::rename(tmp, meta_dir / "store.json", ec);
  }

  // ---------------------------------------------------------------- Deno runtime
  std::string deno_dir() const {
    if (!opt.deno_dir.empty()) return opt.deno_dir;
    if (char const* e = std::getenv("SBX_DENO_DIR"); e && *e) return e;
    return "/opt/sbx/deno";
  }

  /// The image sandboxes boot from: the local provider's default image plus the Deno binary
  /// at /opt/sbx/deno/deno, as a hard-linked copy (images are read-only overlay layers, so
  /// sharing inodes between two images is safe and costs no space). Rebuilt when the default
  /// image or the binary changes (the stamp records both). nullopt with rt_error set when the
  /// runtime is not installed; sandboxes then boot from the default image.
  std::optional<std::string> runtime_image() {
    std::lock_guard l(rt_m);
    if (rt_checked) return rt_volume;
    rt_checked = true;
    namespace fs = std::filesystem;
    fs::path bin = fs::path(deno_dir()) / "bin" / "deno";
    std::error_code ec;
    auto size = fs::file_size(bin, ec);
    if (ec) {
      rt_error = fmt::format("the Deno runtime is not installed ({} missing; run providers/deno/server/install-deno-runtime)",
                             bin.string());
      return std::nullopt;
    }
    auto const& cfg = client.provider().configuration();
    fs::path base = cfg.default_image.empty() ? fs::path(cfg.state_dir) / "images" / "default" : fs::path(cfg.default_image);
    auto stamp = fmt::format("{}:{}:{:x}", size, fs::last_write_time(bin, ec).time_since_epoch().count(),
                             std::hash<std::string>{}(read_file_text(base / "etc" / "sbx-image") + std::string(agent_js) +
                                                      std::string(repl_js) + std::string(preload_js)));
    fs::path dir = fs::path(cfg.state_dir) / "images" / "deno-runtime";
    if (read_file_text(dir / "etc" / "sbx-deno-runtime") == stamp) { rt_volume = dir.string(); return rt_volume; }
    fs::path tmp = dir.string() + ".new";
    fs::remove_all(tmp, ec);
    fs::copy(base, tmp, fs::copy_options::recursive | fs::copy_options::create_hard_links | fs::copy_options::copy_symlinks, ec);
    if (!ec) fs::create_directories(tmp / "opt" / "sbx" / "deno", ec);
    if (!ec) fs::copy_file(bin, tmp / "opt" / "sbx" / "deno" / "deno", ec);
    if (!ec) fs::permissions(tmp / "opt" / "sbx" / "deno" / "deno", fs::perms(0755), ec);
    for (auto [name, text] : {std::pair{"agent.js", agent_js}, std::pair{"repl.js", repl_js}, std::pair{"preload.js", preload_js}})
      if (!ec) std::ofstream(tmp / "opt" / "sbx" / "deno" / name, std::ios::binary | std::ios::trunc) << text;
    if (!ec) {
      fs::remove(tmp / "etc" / "sbx-deno-runtime", ec);  // a hard link into the base image otherwise
      std::ofstream(tmp / "etc" / "sbx-deno-runtime", std::ios::trunc) << stamp;
      ec.clear();
      fs::path old = dir.string() + ".old";
      fs::remove_all(old, ec);
      if (fs::exists(dir)) fs::rename(dir, old, ec);
      ec.clear();
      fs::rename(tmp, dir, ec);
      fs::remove_all(old);
    }
    if (ec) {
      rt_error = fmt::format("cannot build the Deno runtime image {}: {}", dir.string(), ec.message());
      return std::nullopt;
    }
    rt_volume = dir.string();
    return rt_volume;
  }
};

namespace {

using state = backend::state;

std::string deno_bin() { return std::string(runtime_mount) + "/deno"; }

/// Variables the local provider never puts into a sandbox's environment itself (they change
/// how programs start). Deno's `sh` always sets BASH_ENV, and inside their own sandbox these
/// are the user's to set, so they are assigned by /usr/bin/env inside the sandbox instead.
bool startup_env(std::string_view n) {
  return n == "BASH_ENV" || n == "ENV" || n == "LD_PRELOAD" || n == "LD_AUDIT" || n == "LD_LIBRARY_PATH" ||
         n == "PROMPT_COMMAND" || n == "PYTHONSTARTUP" || n == "NODE_OPTIONS";
}

/// The argv and env for a command under the sandbox environment of `rec` (§8.5: `env` is
/// merged over the sandbox environment unless clearEnv). Deleted variables and clearEnv go
/// through /usr/bin/env, since a spawn can only add variables.
exec_request command_for(sandbox_rec& rec, std::vector<std::string> argv, std::map<std::string, std::string> const& env,
                         bool clear_env, std::string const& cwd) {
  exec_request er;
  er.cwd = cwd.empty() ? home_dir : absolute(cwd);
  er.output_limit = std::size_t{1} << 40;
  std::vector<std::string> prefix;
  if (clear_env) {
    prefix = {"/usr/bin/env", "-i", "--"};
    for (auto const& [k, v] : env) prefix.push_back(k + "=" + v);
  } else {
    std::map<std::string, std::string> all;
    {
      std::lock_guard l(rec.m);
      for (auto const& [k, v] : rec.env) {
        if (v) all[k] = *v;
        else if (!env.count(k)) {
          if (prefix.empty()) prefix = {"/usr/bin/env"};
          prefix.push_back("-u");
          prefix.push_back(k);
        }
      }
    }
    for (auto const& [k, v] : env) all[k] = v;
    std::vector<std::string> assigned;
    for (auto& [k, v] : all) {
      if (startup_env(k)) assigned.push_back(k + "=" + v);
      else er.env[k] = v;
    }
    if (!assigned.empty() && prefix.empty()) prefix = {"/usr/bin/env"};
    if (!prefix.empty()) prefix.push_back("--");
    for (auto& a : assigned) prefix.push_back(std::move(a));
  }
  er.argv = std::move(prefix);
  for (auto& a : argv) er.argv.push_back(std::move(a));
  return er;
}

}  // namespace

// ==================================================================== the request handlers
namespace {

struct call_ctx {
  std::shared_ptr<state> s;
  std::shared_ptr<connection> c;
  std::shared_ptr<sandbox_rec> rec;
  json id;
  bool replied = false;
  void reply(json const& envelope) {
    if (replied) return;
    replied = true;
    c->send(proto::response(id, envelope));
  }
  bool gone() const { return s->stopping || c->is_closed(); }
};

json ok(json v = nullptr) { return proto::envelope_ok(std::move(v)); }
json fail(json e) { return proto::envelope_error(std::move(e)); }

sbx::sandbox<sbx::local>& box(call_ctx& x) { return *x.rec->box; }

/// Collects a whole client stream. nullopt: the stream failed or the socket went away.
std::optional<std::string> collect(call_ctx& x, std::int64_t stream_id) {
  auto st = x.c->stream(stream_id);
  std::string all, piece;
  for (;;) {
    auto r = st->pop(piece, [&] { return x.gone(); });
    if (r == in_stream::status::data) { all += piece; continue; }
    if (r == in_stream::status::end) return all;
    return std::nullopt;
  }
}

// ---- the agent
json agent_call(call_ctx& x, std::string const& method, json params);

/// Whether the sandbox booted from the Deno runtime image (binary and helpers in /opt/sbx/deno).
bool write_scripts(call_ctx& x, std::string& why) {
  if (!x.s->runtime_image()) { why = x.s->rt_error; return false; }
  return true;
}

/// Writes a whole file, creating its parent; through the shell when the file API fails inside.
sbx::result<void> put_file(call_ctx& x, std::string const& path, std::string data) {
  auto w = box(x).write_file(path, data);
  if (w || w.error().kind() != error_kind::internal) return w;
  exec_request er({"/bin/sh", "-c", "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"", "sh", path});
  er.stdin_data = std::move(data);
  SBX_TRY(r, box(x).exec(er));
  if (r.exit_code != 0) return sbx::make_error(error_kind::internal, "writing " + path + " failed: " + r.stderr_data);
  return sbx::success();
}

std::shared_ptr<agent> start_agent(call_ctx& x, std::string& why) {
  if (!write_scripts(x, why)) return nullptr;
  std::lock_guard l(x.rec->setup_m);
  if (x.rec->ag) {
    std::lock_guard al(x.rec->ag->m);
    if (!x.rec->ag->dead) return x.rec->ag;
  }
  exec_request er;
  er.argv = {deno_bin(), "run", "-A", "--no-config", "--quiet", fmt::format("{}/agent.js", script_dir)};
  er.cwd = home_dir;
  er.env = {{"DENO_DIR", fmt::format("{}/cache", work_dir)}, {"NO_COLOR", "1"}};
  er.output_limit = std::size_t{1} << 40;
  auto p = box(x).spawn(er);
  if (!p) { why = "cannot start the Deno agent: " + p.error().to_string(); return nullptr; }
  auto ag = std::make_shared<agent>();
  ag->proc = std::move(p).value();
  x.rec->ag = ag;
  x.s->go([ag, s = x.s] {
    std::string pending;
    for (;;) {
      auto r = ag->proc.read(poll);
      if (!r) {
        if (r.error().kind() == error_kind::timeout && !s->stopping) continue;
        break;
      }
      if (!r.value()) break;
      if (r.value()->stream != output_stream::out) {
        std::fprintf(stderr, "sbx serve: deno agent: %s", r.value()->data.c_str());
        continue;
      }
      pending += r.value()->data;
      std::size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        auto j = json::parse(pending.substr(0, nl), nullptr, false);
        pending.erase(0, nl + 1);
        if (j.is_object() && j.contains("id")) {
          std::lock_guard l(ag->m);
          ag->replies[j["id"].get<std::int64_t>()] = j.value("result", json::object());
          ag->cv.notify_all();
        }
      }
    }
    std::lock_guard l(ag->m);
    ag->dead = true;
    ag->cv.notify_all();
  });
  return ag;
}

json agent_call(call_ctx& x, std::string const& method, json params) {
  std::string why;
  auto ag = start_agent(x, why);
  if (!ag) return fail(proto::error_object("NotSupported", fmt::format("{}: {}", method, why), "ENOTSUP"));
  std::int64_t id;
  {
    std::lock_guard l(ag->m);
    id = ag->next++;
  }
  {
    std::lock_guard l(ag->wm);
    auto line = json{{"id", id}, {"method", method}, {"params", std::move(params)}}.dump(-1, ' ', false,
                                                                                          json::error_handler_t::replace) + "\n";
    auto w = ag->proc.write_stdin(line);
    if (!w) return fail(proto::error_object("Error", "the Deno agent is not running: " + w.error().to_string()));
  }
  std::unique_lock l(ag->m);
  for (;;) {
    if (auto it = ag->replies.find(id); it != ag->replies.end()) {
      auto r = std::move(it->second);
      ag->replies.erase(it);
      return r;
    }
    if (ag->dead) return fail(proto::error_object("Error", "the Deno agent exited"));
    if (x.s->stopping) return fail(proto::error_object("Interrupted", "server shutting down", "EINTR"));
    ag->cv.wait_for(l, poll);
  }
}

// ---- processes
void finish_stdin_stream(call_ctx const& x, proc_rec& pr) {
  if (!pr.stdin_id) return;
  auto st = x.c->stream(*pr.stdin_id);
  bool open;
  { std::lock_guard l(st->m); open = !st->ended; st->consumer_gone = true; }
  if (open) x.c->send(proto::notification("$sandbox.stream.cancel", {{"streamId", *pr.stdin_id}, {"reason", nullptr}}));
}

/// Control records of the Deno helpers (repl.js, preload.js).
void on_control(call_ctx const& x, proc_rec& pr, std::string const& text) {
  (void)x;
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object()) return;
  std::lock_guard l(pr.m);
  if (j.contains("id")) {
    pr.replies[j["id"].get<std::int64_t>()] = j.value("result", json::object());
  } else if (j.value("event", "") == "listening") {
    pr.http_port = j.value("port", 0);
  } else if (j.value("event", "") == "start") {
    if (++pr.starts > 1 && pr.watcher_id) {
      pr.http_port.reset();
      if (auto o = pr.owner.lock())
        o->send(proto::notification("$sandbox.deno.watcher.restart", {{"watcherId", *pr.watcher_id}}));
    }
  }
  pr.cv.notify_all();
}

/// Reads the process's output until both streams end, forwards it, then records the exit.
void pump(call_ctx x, std::shared_ptr<proc_rec> pr) {
  std::optional<proto::control_demux> demux;
  if (pr->type != proc_rec::kind::plain) demux.emplace(pr->nonce);
  auto forward = [&](output_stream which, std::string_view data) {
    auto id = which == output_stream::out ? pr->out_id : pr->err_id;
    if (!id || data.empty()) return;
    auto o = pr->owner.lock();
    if (!o) return;
    for (std::size_t i = 0; i < data.size(); i += chunk_bytes) o->send_data(*id, data.substr(i, chunk_bytes));
  };
  for (;;) {
    auto r = pr->proc.read(poll);
    if (!r) {
      if (r.error().kind() == error_kind::timeout && !x.s->stopping) continue;
      break;
    }
    if (!r.value()) break;
    auto& ch = *r.value();
    if (demux && ch.stream == output_stream::out) {
      for (auto& piece : demux->feed(ch.data)) {
        if (piece.control) on_control(x, *pr, piece.data);
        else forward(output_stream::out, piece.data);
      }
    } else {
      forward(ch.stream, ch.data);
    }
  }
  if (demux) forward(output_stream::out, demux->flush());
  if (auto o = pr->owner.lock()) {
    if (pr->out_id) o->send_end(*pr->out_id);
    if (pr->err_id) o->send_end(*pr->err_id);
  }
  exit_status st;
  for (;;) {
    auto w = pr->proc.wait(poll);
    if (w) { st = w.value(); break; }
    if (w.error().kind() != error_kind::timeout || x.s->stopping) { st.exit_code = 1; break; }
  }
  if (auto o = pr->owner.lock()) {
    call_ctx y = x;
    y.c = o;
    finish_stdin_stream(y, *pr);
  }
  std::lock_guard l(pr->m);
  pr->done = true;
  pr->status = st;
  pr->cv.notify_all();
}

/// Feeds a client stream into the process's stdin until it ends.
void feed_stdin(call_ctx x, std::shared_ptr<proc_rec> pr, std::int64_t stream_id) {
  auto st = x.c->stream(stream_id);
  std::string piece;
  for (;;) {
    auto r = st->pop(piece, [&] {
      if (x.gone()) return true;
      std::lock_guard l(pr->m);
      return pr->done;
    });
    if (r != in_stream::status::data) break;
    std::lock_guard l(pr->stdin_m);
    if (!pr->proc.write_stdin(piece)) break;
  }
  std::lock_guard l(pr->stdin_m);
  (void)pr->proc.close_stdin();
}

std::shared_ptr<proc_rec> find_proc(call_ctx& x, std::int64_t pid) {
  std::lock_guard l(x.rec->m);
  auto it = x.rec->procs.find(static_cast<int>(pid));
  return it == x.rec->procs.end() ? nullptr : it->second;
}

json no_process(std::int64_t pid) {
  return proto::error_object("NotFound", fmt::format("No such process: {}", pid), "ENOENT");
}

/// Starts a process and answers with its pid and stream ids (the streams' `start` first).
void start_process(call_ctx& x, exec_request er, proc_rec::kind type, json const& p, std::string nonce,
                   std::optional<std::string> watcher, bool deno_reply) {
  bool out_piped = p.value("stdout", "piped") != "null";
  bool err_piped = p.value("stderr", "piped") != "null";
  auto stdin_id = opt_num(p, "stdinStreamId");
  auto spawned = box(x).spawn(er);
  if (!spawned) {
    auto const& e = spawned.error();
    json eo = e.kind() == error_kind::exec_failed || e.kind() == error_kind::not_found
                  ? proto::error_object("NotFound", fmt::format("Failed to spawn '{}': {}", er.argv.empty() ? "" : er.argv.back(), e.message()), "ENOENT")
                  : error_from(e, "spawn", er.argv.empty() ? "" : er.argv[0]);
    return x.reply(fail(eo));
  }
  auto pr = std::make_shared<proc_rec>();
  pr->type = type;
  pr->pid = x.s->next_pid++;
  pr->proc = std::move(spawned).value();
  pr->owner = x.c;
  pr->nonce = std::move(nonce);
  pr->watcher_id = std::move(watcher);
  if (out_piped) pr->out_id = x.s->new_stream();
  if (err_piped) pr->err_id = x.s->new_stream();
  pr->stdin_id = stdin_id;
  {
    std::lock_guard l(x.rec->m);
    x.rec->procs[pr->pid] = pr;
  }
  if (pr->out_id) x.c->send(proto::stream_start(*pr->out_id));
  if (pr->err_id) x.c->send(proto::stream_start(*pr->err_id));
  json r{{"pid", pr->pid},
         {"stdoutStreamId", pr->out_id ? json(*pr->out_id) : json(nullptr)},
         {"stderrStreamId", pr->err_id ? json(*pr->err_id) : json(nullptr)}};
  if (deno_reply) r["watcherId"] = pr->watcher_id ? json(*pr->watcher_id) : json(nullptr);
  x.reply(ok(r));
  x.s->go([x, pr] { pump(x, pr); });
  if (stdin_id) x.s->go([x, pr, id = *stdin_id] { feed_stdin(x, pr, id); });
  else if (type == proc_rec::kind::plain || type == proc_rec::kind::deno) {
    std::lock_guard l(pr->stdin_m);
    (void)pr->proc.close_stdin();
  }
}

void m_spawn(call_ctx& x, json const& p) {
  auto cmd = str(p, "command");
  std::vector<std::string> argv{cmd};
  for (auto& a : str_list(p, "args")) argv.push_back(a);
  auto er = command_for(*x.rec, argv, str_map(p, "env"), flag(p, "clearEnv"), opt_str(p, "cwd").value_or(""));
  start_process(x, std::move(er), proc_rec::kind::plain, p, {}, std::nullopt, false);
}

json m_process_wait(call_ctx& x, json const& p) {
  auto pid = num(p, "pid");
  auto pr = find_proc(x, pid);
  if (!pr) return fail(no_process(pid));
  std::unique_lock l(pr->m);
  while (!pr->done) {
    if (x.gone()) return nullptr;
    pr->cv.wait_for(l, poll);
  }
  auto const& st = pr->status;
  int code = st.signal ? 128 + *st.signal : st.exit_code;
  return ok({{"success", code == 0},
             {"code", code},
             {"signal", st.signal ? json(proto::signal_name(*st.signal)) : json(nullptr)},
             {"oom", st.oom_killed ? json("high-confidence") : json(nullptr)}});
}

json m_process_kill(call_ctx& x, json const& p) {
  auto pid = num(p, "pid");
  auto name = opt_str(p, "signal").value_or("SIGTERM");
  auto sig = proto::signal_number(name);
  if (!sig) return fail(proto::error_object("TypeError", fmt::format("Unknown signal: {}", name)));
  auto pr = find_proc(x, pid);
  if (!pr) return fail(no_process(pid));
  {
    std::lock_guard l(pr->m);
    if (pr->done) return fail(no_process(pid));
  }
  auto k = pr->proc.kill(*sig);
  if (!k) return fail(error_from(k.error(), "kill", std::to_string(pid)));
  return ok();
}

// ---- environment
std::map<std::string, std::string> effective_env(call_ctx& x, std::optional<json>& err) {
  std::map<std::string, std::string> base;
  bool have;
  { std::lock_guard l(x.rec->m); have = x.rec->base_env.has_value(); if (have) base = *x.rec->base_env; }
  if (!have) {
    exec_request er;
    er.argv = {"/usr/bin/env", "-0"};
    er.cwd = home_dir;
    auto r = box(x).exec(er);
    if (!r || r.value().exit_code != 0) {
      err = proto::error_object("Error", "cannot read the sandbox environment" + (r ? std::string() : ": " + r.error().to_string()));
      return {};
    }
    auto const& out = r.value().stdout_data;
    std::size_t pos = 0;
    while (pos < out.size()) {
      auto end = out.find('\0', pos);
      if (end == std::string::npos) end = out.size();
      auto kv = out.substr(pos, end - pos);
      if (auto eq = kv.find('='); eq != std::string::npos) base[kv.substr(0, eq)] = kv.substr(eq + 1);
      pos = end + 1;
    }
    std::lock_guard l(x.rec->m);
    x.rec->base_env = base;
  }
  std::lock_guard l(x.rec->m);
  for (auto const& [k, v] : x.rec->env) {
    if (v) base[k] = *v;
    else base.erase(k);
  }
  return base;
}

bool valid_env_key(std::string const& k) { return !k.empty() && k.find('=') == std::string::npos && k.find('\0') == std::string::npos; }

json m_env_get(call_ctx& x, json const& p) {
  auto key = str(p, "key");
  if (!valid_env_key(key)) return fail(proto::error_object("TypeError", fmt::format("Key is an empty string or contains '=': \"{}\"", key)));
  std::optional<json> err;
  auto env = effective_env(x, err);
  if (err) return fail(*err);
  auto it = env.find(key);
  return ok(it == env.end() ? json(nullptr) : json(it->second));
}
json m_env_set(call_ctx& x, json const& p) {
  auto key = str(p, "key");
  auto value = str(p, "value");
  if (!valid_env_key(key)) return fail(proto::error_object("TypeError", fmt::format("Key is an empty string or contains '=': \"{}\"", key)));
  if (value.find('\0') != std::string::npos) return fail(proto::error_object("TypeError", "Value contains a NUL byte"));
  std::lock_guard l(x.rec->m);
  x.rec->env[key] = value;
  return ok();
}
json m_env_delete(call_ctx& x, json const& p) {
  auto key = str(p, "key");
  if (!valid_env_key(key)) return fail(proto::error_object("TypeError", fmt::format("Key is an empty string or contains '=': \"{}\"", key)));
  std::lock_guard l(x.rec->m);
  x.rec->env[key] = std::nullopt;
  return ok();
}
json m_env_to_object(call_ctx& x, json const&) {
  std::optional<json> err;
  auto env = effective_env(x, err);
  if (err) return fail(*err);
  return ok(json(env));
}

// ---- files through the local provider
/// Whether the local provider's file API works in this sandbox (probed once): where it fails
/// internally, the file methods are served by the in-sandbox agent instead, with Deno's own
/// semantics, rather than failing.
bool local_files_ok(call_ctx& x) {
  std::lock_guard l(x.rec->m);
  if (!x.rec->files_probe) x.rec->files_probe = box(x).exists("/").has_value() && box(x).exists(home_dir).has_value() &&
                                                box(x).list(home_dir).has_value();
  return *x.rec->files_probe;
}

json m_read_file(call_ctx& x, json const& p, bool text) {
  auto path = absolute(str(p, "path"));
  auto r = box(x).read_file(path);
  if (!r && r.error().kind() == error_kind::internal) return agent_call(x, text ? "readTextFile" : "readFile", {{"path", path}});
  if (!r) return fail(error_from(r.error(), "readfile", path));
  if (!text) {
    if (r.value().size() > (std::size_t{75} << 20))
      return fail(proto::error_object("RangeError", fmt::format("file '{}' is larger than one message can carry (75 MiB); read it with open/fileRead", path)));
    return ok(proto::base64_encode(r.value()));
  }
  return ok(std::move(r).value());
}

json m_write_file(call_ctx& x, json const& p, bool text) {
  auto path = absolute(str(p, "path"));
  auto options = obj(p, "options");
  std::string data;
  if (auto sid = opt_num(p, "contentStreamId")) {
    auto all = collect(x, *sid);
    if (!all) return x.gone() ? json(nullptr) : fail(proto::error_object("Error", "the content stream failed"));
    data = std::move(*all);
  } else if (text) {
    data = str(p, "content");
  } else {
    auto d = proto::base64_decode(str(p, "content"));
    if (!d) return fail(proto::error_object("TypeError", "content is not base64"));
    data = std::move(*d);
  }
  bool special = !local_files_ok(x) || flag(options, "append") || flag(options, "createNew") ||
                 (options.contains("create") && options["create"].is_boolean() && !options["create"].get<bool>());
  if (special) {
    json q{{"path", path}, {"options", options}, {"content", proto::base64_encode(data)}};
    return agent_call(x, "writeFile", q);
  }
  write_options wo;
  wo.create_parents = false;
  if (auto mode = opt_num(options, "mode")) wo.mode = static_cast<std::uint32_t>(*mode);
  auto r = box(x).write_file(path, data, wo);
  if (!r && r.error().kind() == error_kind::internal)
    return agent_call(x, "writeFile", {{"path", path}, {"options", options}, {"content", proto::base64_encode(data)}});
  if (!r) return fail(error_from(r.error(), "open", path));
  return ok();
}

json m_read_dir(call_ctx& x, json const& p) {
  auto path = absolute(str(p, "path"));
  auto r = box(x).list(path);
  if (!r && r.error().kind() == error_kind::internal) return agent_call(x, "readDir", {{"path", path}});
  if (!r) return fail(error_from(r.error(), "readdir", path));
  json out = json::array();
  for (auto const& f : r.value())
    out.push_back({{"name", f.name},
                   {"isFile", f.type == file_type::regular},
                   {"isDirectory", f.type == file_type::directory},
                   {"isSymlink", f.type == file_type::symlink}});
  return ok(out);
}

json m_mkdir(call_ctx& x, json const& p) {
  auto path = absolute(str(p, "path"));
  auto options = obj(p, "options");
  if (options.contains("mode") || !local_files_ok(x)) return agent_call(x, "mkdir", {{"path", path}, {"options", options}});
  auto& b = box(x);
  if (!flag(options, "recursive")) {
    // Deno semantics: the directory must not exist and its parent must.
    auto e = b.exists(path);
    if (!e) return fail(error_from(e.error(), "mkdir", path));
    if (e.value()) return fail(proto::errno_error(EEXIST, "mkdir", path));
    auto pe = b.exists(parent_of(path));
    if (pe && !pe.value()) return fail(proto::errno_error(ENOENT, "mkdir", path));
  }
  auto r = b.make_dir(path);
  if (!r) return fail(error_from(r.error(), "mkdir", path));
  return ok();
}

json m_remove(call_ctx& x, json const& p) {
  auto path = absolute(str(p, "path"));
  auto r = box(x).remove(path, flag(obj(p, "options"), "recursive"));
  if (!r && r.error().kind() == error_kind::internal) return agent_call(x, "remove", {{"path", path}, {"options", obj(p, "options")}});
  if (!r) return fail(error_from(r.error(), "remove", path));
  return ok();
}

json m_rename(call_ctx& x, json const& p) {
  auto from = absolute(str(p, "oldPath"));
  auto to = absolute(str(p, "newPath"));
  auto r = box(x).rename(from, to);
  if (!r && r.error().kind() == error_kind::internal) return agent_call(x, "rename", {{"oldPath", from}, {"newPath", to}});
  if (!r) return fail(error_from(r.error(), "rename", from));
  return ok();
}

/// Methods served by the in-sandbox agent; relative paths are resolved the same way.
json m_agent(call_ctx& x, std::string const& method, json p) {
  for (char const* k : {"path", "fromPath", "toPath", "name"})
    if (p.contains(k) && p[k].is_string()) p[k] = absolute(p[k].get<std::string>());
  if (method == "link" && p.contains("target") && p["target"].is_string()) p["target"] = absolute(p["target"].get<std::string>());
  auto r = agent_call(x, method, p);
  if ((method == "open" || method == "create") && r.contains("ok") && r["ok"].is_object()) {
    std::lock_guard l(x.c->m);
    x.c->handles.insert(r["ok"].value("fileHandleId", std::int64_t{0}));
  }
  if (method == "fileClose") {
    std::lock_guard l(x.c->m);
    x.c->handles.erase(p.value("fileHandleId", std::int64_t{0}));
  }
  return r;
}

/// walk / expandGlob: the entries arrive on a stream, one JSON document per chunk.
void m_walk(call_ctx& x, std::string const& method, json p) {
  if (p.contains("path") && p["path"].is_string()) p["path"] = absolute(p["path"].get<std::string>());
  if (p.contains("root") && p["root"].is_string()) p["root"] = absolute(p["root"].get<std::string>());
  auto r = agent_call(x, method, p);
  auto sid = x.s->new_stream();
  x.c->send(proto::stream_start(sid));
  x.reply(ok({{"streamId", sid}}));
  if (r.contains("error")) {
    if (!x.c->is_cancelled(sid)) x.c->send(proto::stream_error(sid, r["error"]));
    return;
  }
  for (auto const& e : r["ok"]) x.c->send_data(sid, e.dump());
  x.c->send_end(sid);
}

// ---- Deno runtimes
json deno_unavailable(std::string const& why) {
  return fail(proto::error_object("NotSupported", why, "ENOTSUP"));
}

void m_spawn_deno(call_ctx& x, json const& p, bool repl) {
  std::string why;
  if (!write_scripts(x, why)) return x.reply(deno_unavailable(why));
  auto nonce = proto::random_token(24);
  auto env = str_map(p, "env");
  env["SBX_DENO_CTL"] = nonce;
  if (!env.count("DENO_DIR")) env["DENO_DIR"] = fmt::format("{}/cache", work_dir);
  std::vector<std::string> argv{deno_bin(), "run", "-A"};
  std::optional<std::string> watcher;
  if (repl) {
    if (p.contains("stdinStreamId"))
      return x.reply(fail(proto::error_object("NotSupported", "stdin of a REPL is not supported by this server (stdin carries the REPL's requests)", "ENOTSUP")));
    argv.push_back("--no-config");
    argv.push_back(fmt::format("{}/repl.js", script_dir));
  } else {
    argv.push_back("--preload");
    argv.push_back(fmt::format("{}/preload.js", script_dir));
    std::string entry;
    if (p.contains("code")) {
      auto ext = opt_str(p, "extension").value_or("ts");
      static std::set<std::string> const exts{"js", "cjs", "mjs", "ts", "cts", "mts", "jsx", "tsx"};
      if (!exts.count(ext)) return x.reply(fail(proto::error_object("TypeError", fmt::format("unknown extension \"{}\"", ext))));
      entry = fmt::format("{}/code-{}.{}", work_dir, proto::random_token(12), ext);
      auto w = put_file(x, entry, str(p, "code"));
      if (!w) return x.reply(fail(error_from(w.error(), "write", entry)));
    } else {
      entry = str(p, "entrypoint");
      if (auto w = p.find("watch"); w != p.end() && !w->is_null() && !(w->is_boolean() && !w->get<bool>())) {
        std::string flagv = "--watch";
        if (w->is_array()) {
          std::string list;
          for (auto const& e : *w) if (e.is_string()) list += (list.empty() ? "" : ",") + absolute(e.get<std::string>());
          if (!list.empty()) flagv += "=" + list;
        }
        argv.push_back(flagv);
        watcher = "w" + proto::random_token(12);
      }
    }
    argv.push_back(entry);
  }
  for (auto& a : str_list(p, "scriptArgs")) argv.push_back(a);
  auto er = command_for(*x.rec, argv, env, flag(p, "clearEnv"), opt_str(p, "cwd").value_or(""));
  start_process(x, std::move(er), repl ? proc_rec::kind::repl : proc_rec::kind::deno, p, nonce, watcher, !repl);
}

json m_deno_http_wait(call_ctx& x, json const& p) {
  auto pid = num(p, "pid");
  auto pr = find_proc(x, pid);
  if (!pr) return fail(no_process(pid));
  std::unique_lock l(pr->m);
  for (;;) {
    if (pr->http_port) return ok(true);
    if (pr->done) return ok(false);
    if (x.gone()) return nullptr;
    pr->cv.wait_for(l, poll);
  }
}

json repl_request(call_ctx& x, json const& p, json req) {
  auto pid = num(p, "pid");
  auto pr = find_proc(x, pid);
  if (!pr || pr->type != proc_rec::kind::repl) return fail(no_process(pid));
  std::int64_t id;
  {
    std::lock_guard l(pr->m);
    if (pr->done) return fail(no_process(pid));
    id = pr->next_call++;
  }
  req["id"] = id;
  {
    std::lock_guard l(pr->stdin_m);
    auto w = pr->proc.write_stdin(req.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    if (!w) return fail(no_process(pid));
  }
  std::unique_lock l(pr->m);
  for (;;) {
    if (auto it = pr->replies.find(id); it != pr->replies.end()) return it->second;
    if (pr->done) return fail(proto::error_object("Error", "the REPL exited before answering"));
    if (x.gone()) return nullptr;
    pr->cv.wait_for(l, poll);
  }
}

json m_repl_close(call_ctx& x, json const& p) {
  auto pid = num(p, "pid");
  auto pr = find_proc(x, pid);
  if (!pr || pr->type != proc_rec::kind::repl) return fail(no_process(pid));
  {
    std::lock_guard l(pr->m);
    if (pr->done) return fail(no_process(pid));
  }
  {
    std::lock_guard l(pr->stdin_m);
    (void)pr->proc.write_stdin("{\"op\":\"close\"}\n");
    (void)pr->proc.close_stdin();
  }
  std::unique_lock l(pr->m);
  for (int i = 0; !pr->done && i < 25; ++i) pr->cv.wait_for(l, poll);
  if (!pr->done) { l.unlock(); (void)pr->proc.kill(9); }
  return ok();
}

// ---- exposure and fetch
json m_expose_http(call_ctx& x, json const& p) {
  auto domain = str(p, "domain");
  std::int64_t port = 0;
  if (auto pid = opt_num(p, "pid")) {
    auto pr = find_proc(x, *pid);
    if (!pr) return fail(no_process(*pid));
    std::unique_lock l(pr->m);
    for (int i = 0; !pr->http_port && !pr->done && i < 150; ++i) pr->cv.wait_for(l, poll);
    if (!pr->http_port) return fail(proto::error_object("Error", fmt::format("process {} is not serving HTTP", *pid)));
    port = *pr->http_port;
  } else {
    port = num(p, "port");
  }
  if (port < 1 || port > 65535) return fail(proto::error_object("RangeError", fmt::format("port {} is out of range", port)));
  {
    std::lock_guard l(x.s->m);
    if (!x.s->domains.count(domain)) return fail(proto::error_object("NotFound", fmt::format("domain \"{}\" was not allocated with expose/http", domain), "ENOENT"));
  }
  auto url = box(x).expose_port(static_cast<std::uint16_t>(port));
  if (!url) return fail(error_from(url.error(), "expose", std::to_string(port)));
  std::lock_guard l(x.s->m);
  x.s->domains[domain] = url.value();
  return ok();
}

void m_fetch(call_ctx& x, json const& p) {
  auto url = str(p, "url");
  json q{{"url", url}, {"method", p.value("method", "GET")}, {"redirect", p.value("redirect", "follow")},
         {"headers", p.contains("headers") ? p["headers"] : json::array()}};
  if (auto sid = opt_num(p, "bodyStreamId")) {
    auto body = collect(x, *sid);
    if (!body) { if (!x.gone()) x.reply(fail(proto::error_object("Error", "the request body stream failed"))); return; }
    q["body"] = proto::base64_encode(*body);
  }
  if (auto pid = opt_num(p, "pid")) {
    auto pr = find_proc(x, *pid);
    if (!pr) return x.reply(fail(no_process(*pid)));
    std::unique_lock l(pr->m);
    for (int i = 0; !pr->http_port && !pr->done && i < 150; ++i) pr->cv.wait_for(l, poll);
    if (!pr->http_port) return x.reply(fail(proto::error_object("Error", fmt::format("process {} is not serving HTTP", *pid))));
    // The URL's host is ignored for routing: keep path and query, send to the runtime's port.
    auto scheme_end = url.find("://");
    auto path_start = scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
    q["url"] = fmt::format("http://127.0.0.1:{}{}", *pr->http_port, path_start == std::string::npos ? "/" : url.substr(path_start));
  }
  auto r = agent_call(x, "fetch", q);
  if (!r.contains("ok")) return x.reply(r);
  auto const& resp = r["ok"];
  auto body = proto::base64_decode(resp.value("body", "")).value_or("");
  bool has_body = resp.value("hasBody", !body.empty());
  std::optional<std::int64_t> sid;
  if (has_body) { sid = x.s->new_stream(); x.c->send(proto::stream_start(*sid)); }
  x.reply(ok({{"status", resp.value("status", 0)}, {"statusText", resp.value("statusText", "")},
              {"headers", resp.contains("headers") ? resp["headers"] : json::array()},
              {"bodyStreamId", sid ? json(*sid) : json(nullptr)}}));
  if (sid) {
    for (std::size_t i = 0; i < body.size(); i += chunk_bytes) x.c->send_data(*sid, std::string_view(body).substr(i, chunk_bytes));
    x.c->send_end(*sid);
  }
}

// ---- the dispatcher
void dispatch(call_ctx& x, std::string const& method, json const& p) {
  static std::set<std::string> const agent_methods{
      "stat", "lstat", "chmod", "chown", "copyFile", "link", "symlink", "readLink", "realPath", "makeTempDir",
      "makeTempFile", "truncate", "umask", "utime", "open", "create", "fileRead", "fileWrite", "fileSeek",
      "fileStat", "fileTruncate", "fileSync", "fileSyncData", "fileUtime", "fileLock", "fileUnlock", "fileClose"};
  json r;
  if (method == "abort") r = ok();
  else if (method == "spawn") return m_spawn(x, p);
  else if (method == "processWait") r = m_process_wait(x, p);
  else if (method == "processKill") r = m_process_kill(x, p);
  else if (method == "envGet") r = m_env_get(x, p);
  else if (method == "envSet") r = m_env_set(x, p);
  else if (method == "envDelete") r = m_env_delete(x, p);
  else if (method == "envToObject") r = m_env_to_object(x, p);
  else if (method == "readFile") r = m_read_file(x, p, false);
  else if (method == "readTextFile") r = m_read_file(x, p, true);
  else if (method == "writeFile") r = m_write_file(x, p, false);
  else if (method == "writeTextFile") r = m_write_file(x, p, true);
  else if (method == "readDir") r = m_read_dir(x, p);
  else if (method == "mkdir") r = m_mkdir(x, p);
  else if (method == "remove") r = m_remove(x, p);
  else if (method == "rename") r = m_rename(x, p);
  else if (agent_methods.count(method)) r = m_agent(x, method, p);
  else if (method == "walk" || method == "expandGlob") return m_walk(x, method, p);
  else if (method == "spawnDeno") return m_spawn_deno(x, p, false);
  else if (method == "spawnDenoRepl") return m_spawn_deno(x, p, true);
  else if (method == "denoHttpWait") r = m_deno_http_wait(x, p);
  else if (method == "denoReplEval") r = repl_request(x, p, {{"op", "eval"}, {"code", str(p, "code")}});
  else if (method == "denoReplCall")
    r = repl_request(x, p, {{"op", "call"}, {"fn", str(p, "fn")}, {"args", p.contains("args") ? p["args"] : json::array()}});
  else if (method == "denoReplClose") r = m_repl_close(x, p);
  else if (method == "exposeHttp") r = m_expose_http(x, p);
  else if (method == "fetch") return m_fetch(x, p);
  else if (method == "vscode") r = fail(not_supported("VS Code exposure"));
  else r = fail(proto::error_object("Error", fmt::format("method not supported: {}", method), "ENOTSUP"));
  if (!r.is_null()) x.reply(r);
}

}  // namespace

// ==================================================================== backend
namespace {

http_reply json_reply(int status, json const& body) { return {status, body.dump(), "application/json", {}}; }
http_reply error_reply(int status, std::string_view code, std::string_view message) {
  return {status, proto::error_body(code, message), "application/json", {}};
}
backend::attach refuse(int status, std::string_view code, std::string_view message) {
  backend::attach a;
  a.refusal = error_reply(status, code, message);
  return a;
}

void close_all(std::shared_ptr<sandbox_rec> const& rec, std::string const& reason) {
  std::vector<std::shared_ptr<connection>> conns;
  {
    std::lock_guard l(rec->m);
    for (auto& w : rec->conns)
      if (auto c = w.lock()) conns.push_back(c);
  }
  for (auto& c : conns) {
    std::shared_ptr<peer> p;
    { std::lock_guard l(c->m); p = c->p; }
    if (p) p->close(1001, reason);
  }
}

json listing(sandbox_rec const& rec, bool running, std::optional<clock::time_point> stopped_at = std::nullopt) {
  return {{"id", rec.id}, {"region", rec.region}, {"status", running ? "running" : "stopped"}, {"labels", rec.labels},
          {"createdAt", proto::iso_date(rec.created)},
          {"stoppedAt", stopped_at ? json(proto::iso_date(*stopped_at)) : json(nullptr)}};
}

/// Destroys a sandbox: closes its sockets, kills it, keeps a "stopped" listing entry.
void destroy(std::shared_ptr<state> const& s, std::shared_ptr<sandbox_rec> const& rec, std::string const& reason) {
  {
    std::lock_guard l(rec->m);
    if (rec->dead) return;
    rec->dead = true;
  }
  {
    std::lock_guard l(s->m);
    s->boxes.erase(rec->id);
    s->stopped.push_back(listing(*rec, false, clock::now()));
    while (s->stopped.size() > 200) s->stopped.pop_front();
  }
  close_all(rec, reason);
  if (rec->box) (void)rec->box->kill();
}

}  // namespace

backend::backend(serve_options const& o, std::shared_ptr<fault_state> faults)
    : s_(std::make_shared<state>(o)), tracer_(o.trace_file) {
  s_->faults = std::move(faults);
  s_->tr = &tracer_;
  std::string root = o.state_dir.empty() ? s_->client.provider().configuration().state_dir : o.state_dir;
  s_->meta_dir = std::filesystem::path(root) / "deno-server";
  s_->reaper = std::thread([s = s_] {
    while (!s->stopping) {
      std::this_thread::sleep_for(250ms);
      std::vector<std::shared_ptr<sandbox_rec>> due;
      {
        std::lock_guard l(s->m);
        for (auto& [id, rec] : s->boxes)
          if (rec->stop_at_ms && *rec->stop_at_ms <= now_ms()) due.push_back(rec);
      }
      for (auto& rec : due) destroy(s, rec, "sandbox timed out");
    }
  });
}

backend::~backend() { stop(); }

void backend::stop() {
  if (s_->stopping.exchange(true)) return;
  if (s_->reaper.joinable()) s_->reaper.join();
  std::vector<std::shared_ptr<sandbox_rec>> all;
  {
    std::lock_guard l(s_->m);
    for (auto& [id, rec] : s_->boxes) all.push_back(rec);
  }
  for (auto& rec : all) {
    close_all(rec, "server shutting down");
    if (rec->session) destroy(s_, rec, "server shutting down");
  }
  std::unique_lock l(s_->tm);
  s_->tcv.wait_for(l, 20s, [&] { return s_->threads == 0; });
  l.unlock();
  std::lock_guard bl(s_->m);
  s_->boxes.clear();  // releases duration sandboxes (they keep running)
}

std::optional<http_reply> backend::check_auth(std::string_view a) const {
  constexpr std::string_view bearer = "Bearer ";
  if (a.size() <= bearer.size() || a.substr(0, bearer.size()) != bearer)
    return error_reply(401, "INVALID_TOKEN", "missing or malformed Authorization header (expected \"Bearer <token>\")");
  auto token = a.substr(bearer.size());
  if (!s_->opt.token.empty() && token != s_->opt.token) return error_reply(401, "INVALID_TOKEN", "the token is not valid");
  return std::nullopt;
}

backend::attach backend::create(std::string_view header) {
  if (header.empty()) header = "eyJtZW1vcnlfbWIiOjEyODAsInZvbHVtZXMiOltdfQ==";
  auto d = proto::decode_config(header);
  if (tracer_.on()) tracer_.write(proto::trace_ws("/api/v3/sandboxes/create", d.config ? d.config->keys : std::vector<std::string>{}));
  if (!d.config) return refuse(d.error.status, d.error.code, d.error.message);
  auto& c = *d.config;
  if (c.root)
    return refuse(400, "ROOT_NOT_SUPPORTED",
                  fmt::format("booting from volume or snapshot \"{}\" is not supported by this server", *c.root));
  auto rec = std::make_shared<sandbox_rec>();
  rec->id = proto::mint_sandbox_id(s_->opt.region);
  rec->region = s_->opt.region;
  rec->labels = c.labels;
  rec->stop_at_ms = c.stop_at_ms;
  rec->session = !c.stop_at_ms;

  sbx::request<sbx::local> rq;
  rq.memory(sbx::memory::mib(static_cast<std::uint64_t>(c.memory_mb)));
  if (c.stop_at_ms) {
    // The deadline comes from the client's clock: tolerate skew with a minimum lifetime.
    auto left = std::max<std::int64_t>(*c.stop_at_ms - now_ms(), 1000);
    rec->stop_at_ms = now_ms() + left;
    rq.timeout(std::chrono::milliseconds(left));
  }
  for (auto const& [k, v] : c.labels) rq.label(k, v);
  rq.label("sbx.dialect", "deno");
  rq.label("sbx.deno.id", rec->id);
  if (c.allow_net) {
    if (c.allow_net->empty()) rq.block_network();
    else rq.allow_hosts(*c.allow_net);
  } else {
    rq.open_network();
  }
  for (auto const& sec : c.secrets) rq.secret(sec.name, sec.value, sec.hosts);
  {
    json meta;
    { std::lock_guard l(s_->meta_m); meta = s_->load_meta(); }
    for (auto const& v : c.volumes) {
      std::string local_id;
      for (auto const& m : meta["volumes"])
        if (m.value("id", "") == v.volume || m.value("slug", "") == v.volume) local_id = m.value("id", "");
      if (local_id.empty()) return refuse(404, "VOLUME_NOT_FOUND", fmt::format("volume \"{}\" not found", v.volume));
      rq.mount(local_id, v.path);
      rec->volume_ids.push_back(local_id);
    }
  }
  if (auto img = s_->runtime_image()) rq.image(sbx::image::rootfs(*img));
  auto r = s_->client.create(rq);
  if (!r && r.error().kind() == error_kind::unsupported && !c.allow_net) {
    // Deno's default is unrestricted egress; where the local provider cannot give it (its
    // network engine lacks the mode), the sandbox gets no network rather than no sandbox.
    static std::once_flag warned;
    std::call_once(warned, [&] {
      std::fprintf(stderr, "sbx serve: %s; sandboxes without allow_net get no network\n", r.error().to_string().c_str());
    });
    rq.block_network();
    r = s_->client.create(rq);
  }
  if (!r) {
    auto const& e = r.error();
    switch (e.kind()) {
      case error_kind::invalid_request: return refuse(400, "INVALID_CONFIG", e.message());
      case error_kind::quota_exceeded: return refuse(429, "QUOTA_EXCEEDED", e.message());
      case error_kind::not_found: return refuse(404, "NOT_FOUND", e.message());
      default: return refuse(500, "SANDBOX_CREATE_FAILED", e.to_string());
    }
  }
  rec->box = std::make_shared<sbx::sandbox<sbx::local>>(std::move(r).value());
  rec->local_id = rec->box->id();
  if (auto md = rec->box->make_dir(home_dir); !md) {
    std::fprintf(stderr, "sbx serve: make_dir failed: %s\n", md.error().to_string().c_str());
  }
  if (auto md = rec->box->exec({"/bin/mkdir", "-p", home_dir}); !md || md.value().exit_code != 0) {
    std::fprintf(stderr, "sbx serve: cannot create %s in %s\n", home_dir, rec->id.c_str());
    return refuse(500, "SANDBOX_CREATE_FAILED", md ? md.value().stderr_data : md.error().to_string());
  }
  auto conn = std::make_shared<connection>();
  conn->box = rec;
  conn->primary = true;
  conn->faults = s_->faults;
  {
    std::lock_guard l(rec->m);
    rec->conns.push_back(conn);
  }
  {
    std::lock_guard l(s_->m);
    s_->boxes[rec->id] = rec;
  }
  return {std::nullopt, rec->id, conn};
}

backend::attach backend::connect(std::string_view id_sv) {
  std::string id(id_sv);
  if (tracer_.on()) tracer_.write(proto::trace_ws("/api/v3/sandbox/{id}/connect", {}));
  std::shared_ptr<sandbox_rec> rec;
  {
    std::lock_guard l(s_->m);
    if (auto it = s_->boxes.find(id); it != s_->boxes.end()) rec = it->second;
  }
  if (!rec && proto::valid_sandbox_id(id)) {
    // A duration sandbox from an earlier run of this server: its supervisor still runs it.
    auto found = s_->client.list({{"sbx.deno.id", id}});
    if (found && !found.value().empty() && found.value()[0].status == sandbox_status::running) {
      auto const& info = found.value()[0];
      auto b = s_->client.connect(info.id);
      if (b) {
        rec = std::make_shared<sandbox_rec>();
        rec->id = id;
        rec->region = id.substr(4, 3);
        rec->local_id = info.id;
        rec->created = info.created;
        rec->session = false;
        if (info.expires) rec->stop_at_ms = proto::epoch_ms(*info.expires);
        for (auto const& [k, v] : info.labels)
          if (k.rfind("sbx.", 0) != 0) rec->labels[k] = v;
        rec->box = std::make_shared<sbx::sandbox<sbx::local>>(std::move(b).value());
        std::lock_guard l(s_->m);
        auto [it, fresh] = s_->boxes.emplace(id, rec);
        rec = it->second;
      }
    }
  }
  if (!rec) return refuse(404, "SANDBOX_NOT_FOUND", "Sandbox not found");
  auto conn = std::make_shared<connection>();
  conn->box = rec;
  conn->faults = s_->faults;
  {
    std::lock_guard l(rec->m);
    if (rec->dead) return refuse(404, "SANDBOX_NOT_FOUND", "Sandbox not found");
    rec->conns.push_back(conn);
  }
  return {std::nullopt, id, conn};
}

void backend::bind(std::shared_ptr<connection> const& c, std::shared_ptr<peer> p) {
  std::lock_guard l(c->m);
  c->p = std::move(p);
}

void backend::on_message(std::shared_ptr<connection> const& c, std::string_view text) {
  auto m = proto::parse_message(text);
  auto f = s_->faults->get();
  switch (m.type) {
    case proto::message::kind::ping:
      if (!f.stop_answering_pings) c->send("pong");
      return;
    case proto::message::kind::invalid:
      if (tracer_.on()) tracer_.write(proto::trace_rpc("invalid", m.method, json::object()));
      c->send(proto::rpc_error(m.id, m.error_code, m.error_message));
      return;
    case proto::message::kind::notification: {
      if (tracer_.on()) tracer_.write(proto::trace_rpc("notification", m.method, m.params));
      auto sid = m.params.find("streamId");
      if (sid == m.params.end() || !sid->is_number_integer()) return;
      auto id = sid->get<std::int64_t>();
      if (m.method == "$sandbox.stream.start") c->stream(id);
      else if (m.method == "$sandbox.stream.enqueue") {
        auto it = m.params.find("data");
        auto d = it != m.params.end() && it->is_string() ? proto::base64_decode(it->get<std::string>()) : std::nullopt;
        if (d) c->stream(id)->push(std::move(*d));
        else c->stream(id)->end(true);
      } else if (m.method == "$sandbox.stream.end") c->stream(id)->end(false);
      else if (m.method == "$sandbox.stream.error") c->stream(id)->end(true);
      else if (m.method == "$sandbox.stream.cancel") {
        std::lock_guard l(c->m);
        c->cancelled.insert(id);
      }
      return;
    }
    case proto::message::kind::request: break;
  }
  if (tracer_.on()) tracer_.write(proto::trace_rpc("rpc", m.method, m.params));
  if (f.malformed_json_methods.count(m.method)) { c->send("{\"jsonrpc\":\"2.0\","); return; }
  if (f.method_not_found_methods.count(m.method)) { c->send(proto::rpc_error(m.id, -32601, "Method not found")); return; }
  if (f.stop_answering_methods.count(m.method) || f.stop_answering_methods.count("*")) return;
  s_->go([s = s_, c, m = std::move(m)] {
    call_ctx x{s, c, c->box, m.id};
    try {
      dispatch(x, m.method, m.params);
    } catch (bad_param const& e) {
      x.reply(fail(proto::error_object("TypeError", fmt::format("{}: invalid params: {}", m.method, e.what()))));
    } catch (json::exception const& e) {
      x.reply(fail(proto::error_object("TypeError", fmt::format("{}: invalid params: {}", m.method, e.what()))));
    } catch (std::exception const& e) {
      x.reply(fail(proto::error_object("Error", fmt::format("{}: {}", m.method, e.what()))));
    }
  });
}

void backend::on_closed(std::shared_ptr<connection> const& c) {
  std::set<std::int64_t> handles;
  {
    std::lock_guard l(c->m);
    if (c->closed) return;
    c->closed = true;
    c->p.reset();
    handles = std::move(c->handles);
  }
  for (auto& [id, st] : c->in) st->end(true);
  auto rec = c->box;
  {
    std::lock_guard l(rec->m);
    std::erase_if(rec->conns, [&](auto const& w) { auto p = w.lock(); return !p || p == c; });
  }
  if (c->primary && rec->session) {
    s_->go([s = s_, rec] { destroy(s, rec, "sandbox session ended"); });
    return;
  }
  if (!handles.empty()) {
    // The SDK never closes handles consumed by fs.download: free them with the socket.
    s_->go([s = s_, c, rec, handles] {
      call_ctx x{s, c, rec, nullptr};
      x.replied = true;
      for (auto h : handles) (void)agent_call(x, "fileClose", {{"fileHandleId", h}});
    });
  }
}

std::optional<std::string> backend::exposed_url(std::string_view host) {
  std::string h(host);
  auto colon = h.rfind(':');
  if (colon != std::string::npos && h.find(']') == std::string::npos) h = h.substr(0, colon);
  std::lock_guard l(s_->m);
  auto it = s_->domains.find(h);
  if (it == s_->domains.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// ==================================================================== REST
namespace {

std::vector<std::string> split_path(std::string const& p) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < p.size()) {
    auto j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::optional<std::uint64_t> parse_capacity(json const& v) {
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() > 0)) return v.get<std::uint64_t>();
  if (v.is_number_float() && v.get<double>() > 0) return static_cast<std::uint64_t>(v.get<double>());
  if (v.is_string()) {
    auto m = sbx::memory::parse(v.get<std::string>());
    if (m && m.value().bytes() > 0) return m.value().bytes();
  }
  return std::nullopt;
}

json volume_json(json const& m, std::uint64_t used) {
  return {{"id", m["id"]}, {"slug", m["slug"]}, {"region", m["region"]}, {"capacity", m["capacity"]},
          {"estimated_allocated_size", used}, {"estimated_flattened_size", used},
          {"is_bootable", false}, {"base_snapshot", m.value("base_snapshot", json(nullptr))}};
}
json snapshot_json(json const& m, std::uint64_t used) {
  return {{"id", m["id"]}, {"slug", m["slug"]}, {"region", m["region"]}, {"allocated_size", used},
          {"flattened_size", used}, {"is_bootable", false}, {"volume", m["volume"]}};
}

/// A page of `items` per `limit`/`cursor`, with a `Link: <...>; rel="next"` when more remain.
http_reply page(std::vector<json> const& items, deno_proto::target const& t, http_request const& r, std::string const& path) {
  std::size_t limit = 30, start = 0;
  if (auto l = t.param("limit")) { try { limit = std::clamp<std::size_t>(std::stoul(*l), 1, 1000); } catch (...) {} }
  if (auto c = t.param("cursor")) { try { start = std::stoul(*c); } catch (...) {} }
  json arr = json::array();
  for (std::size_t i = start; i < items.size() && i < start + limit; ++i) arr.push_back(items[i]);
  http_reply rep = json_reply(200, arr);
  if (start + limit < items.size()) {
    std::string q = fmt::format("cursor={}&limit={}", start + limit, limit);
    if (auto s = t.param("search")) q += "&search=" + deno_proto::url_encode(*s);
    rep.headers.emplace_back("Link", fmt::format("<http://{}{}?{}>; rel=\"next\"", r.host, path, q));
  }
  return rep;
}

}  // namespace

http_reply backend::handle_http(http_request const& r) {
  auto t = proto::target(proto::parse_target(r.target));
  auto parts = split_path(t.path);
  json body = r.body.empty() ? json::object() : json::parse(r.body, nullptr, false);
  auto route = [&]() -> std::string {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      bool param = (i == 3 && parts[0] == "api" && (parts[2] == "sandbox" || parts[2] == "sandboxes" || parts[2] == "volumes" ||
                                                     parts[2] == "snapshots"));
      out += "/" + (param ? std::string("{id}") : parts[i]);
    }
    return out.empty() ? "/" : out;
  }();
  if (tracer_.on()) {
    std::vector<std::string> qk;
    for (auto const& [k, v] : t.query) qk.push_back(k);
    tracer_.write(proto::trace_http(r.method, route, body.is_discarded() ? json::object() : body, qk));
  }
  if (parts.size() >= 2 && parts[0] == "_sbx" && parts[1] == "faults") {
    if (!s_->opt.control) return error_reply(404, "NOT_FOUND", "the control endpoint is off");
    if (auto a = check_auth(r.authorization)) return *a;
    auto to_json = [](fault_options const& f) {
      return json{{"handshake_failures", f.handshake_failures}, {"rate_limited", f.rate_limited},
                  {"rate_limit_retry_after_s", f.rate_limit_retry_after_s},
                  {"drop_after_stream_chunks", f.drop_after_stream_chunks},
                  {"malformed_json_methods", f.malformed_json_methods},
                  {"method_not_found_methods", f.method_not_found_methods},
                  {"stop_answering_methods", f.stop_answering_methods},
                  {"stop_answering_pings", f.stop_answering_pings}};
    };
    if (r.method == "DELETE") { s_->faults->set({}); return json_reply(200, to_json({})); }
    if (r.method == "POST") {
      if (body.is_discarded() || !body.is_object()) return error_reply(400, "INVALID_BODY", "expected a JSON object");
      fault_options f;
      try {
        f.handshake_failures = body.value("handshake_failures", 0);
        f.rate_limited = body.value("rate_limited", 0);
        f.rate_limit_retry_after_s = body.value("rate_limit_retry_after_s", 2);
        f.drop_after_stream_chunks = body.value("drop_after_stream_chunks", 0);
        f.malformed_json_methods = body.value("malformed_json_methods", std::set<std::string>{});
        f.method_not_found_methods = body.value("method_not_found_methods", std::set<std::string>{});
        f.stop_answering_methods = body.value("stop_answering_methods", std::set<std::string>{});
        f.stop_answering_pings = body.value("stop_answering_pings", false);
      } catch (json::exception const& e) {
        return error_reply(400, "INVALID_BODY", e.what());
      }
      s_->faults->set(f);
    }
    return json_reply(200, to_json(s_->faults->get()));
  }
  if (parts.size() < 2 || parts[0] != "api") return error_reply(404, "NOT_FOUND", fmt::format("no route for {} {}", r.method, t.path));
  if (auto a = check_auth(r.authorization)) return *a;
  if (body.is_discarded()) return error_reply(400, "INVALID_BODY", "the request body is not JSON");

  // ---- per-sandbox REST (§4)
  if (parts[1] == "v3" && parts.size() >= 4 && parts[2] == "sandbox") {
    auto const& id = parts[3];
    std::shared_ptr<sandbox_rec> rec;
    {
      std::lock_guard l(s_->m);
      if (auto it = s_->boxes.find(id); it != s_->boxes.end()) rec = it->second;
    }
    if (!rec) {
      auto a = connect(id);  // a duration sandbox from an earlier run
      if (a.conn) {
        on_closed(a.conn);
        rec = a.conn->box;
      }
    }
    if (!rec) return error_reply(404, "SANDBOX_NOT_FOUND", "Sandbox not found");
    if (parts.size() == 4 && r.method == "DELETE") {
      destroy(s_, rec, "sandbox killed");
      return json_reply(200, json::object());
    }
    if (parts.size() == 4 && r.method == "PATCH") {
      if (!body.contains("stop_at_ms") || !body["stop_at_ms"].is_number())
        return error_reply(400, "INVALID_BODY", "expected {\"stop_at_ms\": <epoch ms>}");
      if (rec->session) return error_reply(400, "SESSION_SANDBOX", "a session sandbox has no timeout to extend");
      auto want = body["stop_at_ms"].get<std::int64_t>();
      auto now = now_ms();
      // At most 30 minutes from now per call (§4); never earlier than a second from now.
      auto granted = std::clamp<std::int64_t>(want, now + 1000, now + 30 * 60 * 1000);
      auto e = rec->box->extend_timeout(std::chrono::milliseconds(granted - now));
      if (!e) return error_reply(500, "EXTEND_FAILED", e.error().to_string());
      {
        std::lock_guard l(rec->m);
        rec->stop_at_ms = granted;
      }
      return json_reply(200, {{"stop_at_ms", granted}});
    }
    if (parts.size() == 6 && parts[4] == "expose" && r.method == "POST") {
      if (parts[5] == "http") {
        auto domain = fmt::format("{}-{}.localhost", proto::random_token(10), id.substr(8, 6));
        std::lock_guard l(s_->m);
        s_->domains[domain] = "";
        return json_reply(200, {{"domain", domain}});
      }
      return error_reply(400, "UNSUPPORTED", fmt::format("{} exposure is not available on this server", parts[5]));
    }
    return error_reply(404, "NOT_FOUND", fmt::format("no route for {} {}", r.method, t.path));
  }

  if (parts[1] != "v2") return error_reply(404, "NOT_FOUND", fmt::format("no route for {} {}", r.method, t.path));

  // ---- sandboxes listing (§5.1)
  if (parts.size() == 3 && parts[2] == "sandboxes" && r.method == "GET") {
    auto filters = proto::label_filters(t);
    auto want = filters;
    want["sbx.dialect"] = "deno";
    auto found = s_->client.list(want);
    if (!found) return error_reply(500, "INTERNAL", found.error().to_string());
    json arr = json::array();
    std::set<std::string> seen;
    for (auto const& info : found.value()) {
      auto it = info.labels.find("sbx.deno.id");
      if (it == info.labels.end()) continue;
      std::map<std::string, std::string> labels;
      for (auto const& [k, v] : info.labels)
        if (k.rfind("sbx.", 0) != 0) labels[k] = v;
      bool running = info.status == sandbox_status::running || info.status == sandbox_status::paused;
      seen.insert(it->second);
      arr.push_back({{"id", it->second}, {"region", it->second.substr(4, 3)}, {"status", running ? "running" : "stopped"},
                     {"labels", labels}, {"createdAt", proto::iso_date(info.created)}, {"stoppedAt", nullptr}});
    }
    std::lock_guard l(s_->m);
    for (auto const& st : s_->stopped) {
      if (seen.count(st["id"].get<std::string>())) continue;
      bool match = true;
      for (auto const& [k, v] : filters)
        if (!st["labels"].contains(k) || st["labels"][k] != v) match = false;
      if (match) arr.push_back(st);
    }
    return json_reply(200, arr);
  }
  if (parts.size() == 5 && parts[2] == "sandboxes" && parts[4] == "deploy")
    return error_reply(400, "UNSUPPORTED", "deploying to an app is not available on this server");

  // ---- volumes and snapshots (§5.2, §5.3)
  if (parts[2] == "volumes" || parts[2] == "snapshots") {
    std::lock_guard ml(s_->meta_m);
    auto meta = s_->load_meta();
    std::map<std::string, std::uint64_t> used;
    if (auto vols = s_->client.list_volumes())
      for (auto const& v : vols.value()) used[v.id] = v.used_bytes;
    auto find = [&](char const* kind, std::string const& key) -> json* {
      for (auto& m : meta[kind])
        if (m["id"] == key || m["slug"] == key) return &m;
      return nullptr;
    };
    auto in_use = [&](std::string const& local_id) {
      std::lock_guard l(s_->m);
      for (auto& [id, rec] : s_->boxes)
        if (std::find(rec->volume_ids.begin(), rec->volume_ids.end(), local_id) != rec->volume_ids.end()) return true;
      return false;
    };
    auto slug_taken = [&](std::string const& slug) { return find("volumes", slug) || find("snapshots", slug); };
    /// A new local volume with a copy of `from_local`'s data (snapshots; volumes made from them).
    auto copy_volume = [&](std::string const& name, std::string const& from_local, std::optional<std::uint64_t> cap)
        -> sbx::result<sbx::volume_info> {
      SBX_TRY(vol, s_->client.create_volume(sbx::volume_request{name, cap, {}}));
      auto helper = s_->client.create(sbx::request<sbx::local>{}.mount(from_local, "/src", true).mount(vol.id, "/dst"));
      if (!helper) { (void)s_->client.delete_volume(vol.id); return helper.error(); }
      auto cp = helper.value().exec({"/bin/cp", "-a", "/src/.", "/dst/"});
      (void)helper.value().kill();
      if (!cp || cp.value().exit_code != 0) {
        (void)s_->client.delete_volume(vol.id);
        return sbx::make_error(error_kind::internal, "copying the volume's data failed" + (cp ? ": " + cp.value().stderr_data : ""));
      }
      return vol;
    };

    if (parts[2] == "volumes") {
      if (parts.size() == 3 && r.method == "GET") {
        std::vector<json> items;
        auto search = t.param("search");
        for (auto const& m : meta["volumes"]) {
          if (search && m["slug"].get<std::string>().find(*search) == std::string::npos && m["id"] != *search) continue;
          items.push_back(volume_json(m, used[m["id"].get<std::string>()]));
        }
        return page(items, t, r, t.path);
      }
      if (parts.size() == 3 && r.method == "POST") {
        if (!body.is_object() || !body.contains("slug") || !body["slug"].is_string())
          return error_reply(400, "INVALID_BODY", "a volume needs a slug");
        auto slug = body["slug"].get<std::string>();
        if (!proto::valid_slug(slug)) return error_reply(400, "INVALID_SLUG", fmt::format("invalid slug \"{}\"", slug));
        if (slug_taken(slug)) return error_reply(409, "SLUG_ALREADY_EXISTS", fmt::format("slug \"{}\" is already taken", slug));
        auto cap = body.contains("capacity") ? parse_capacity(body["capacity"]) : std::nullopt;
        if (!cap) return error_reply(400, "INVALID_CAPACITY", "capacity must be a positive number of bytes or a size like \"10GB\"");
        auto region = body.value("region", s_->opt.region);
        json base = nullptr;
        sbx::result<sbx::volume_info> vol = sbx::make_error(error_kind::internal, "");
        if (body.contains("from") && body["from"].is_string()) {
          auto from = body["from"].get<std::string>();
          auto snap = find("snapshots", from);
          if (!snap) return error_reply(404, "SNAPSHOT_NOT_FOUND", fmt::format("snapshot \"{}\" not found", from));
          base = {{"id", (*snap)["id"]}, {"slug", (*snap)["slug"]}};
          vol = copy_volume(slug, (*snap)["id"].get<std::string>(), cap);
        } else {
          vol = s_->client.create_volume(sbx::volume_request{slug, cap, {}});
        }
        if (!vol) return error_reply(vol.error().kind() == error_kind::already_exists ? 409 : 500, "VOLUME_CREATE_FAILED", vol.error().to_string());
        json m{{"id", vol.value().id}, {"slug", slug}, {"region", region}, {"capacity", *cap}, {"base_snapshot", base},
               {"created", proto::iso_date(clock::now())}};
        meta["volumes"].push_back(m);
        s_->save_meta(meta);
        return json_reply(200, volume_json(m, 0));
      }
      if (parts.size() >= 4) {
        auto m = find("volumes", parts[3]);
        if (!m) return error_reply(404, "VOLUME_NOT_FOUND", fmt::format("volume \"{}\" not found", parts[3]));
        auto local_id = (*m)["id"].get<std::string>();
        if (parts.size() == 4 && r.method == "GET") return json_reply(200, volume_json(*m, used[local_id]));
        if (parts.size() == 4 && r.method == "DELETE") {
          if (in_use(local_id)) return error_reply(409, "VOLUME_IN_USE", "the volume is attached to a running sandbox");
          auto d = s_->client.delete_volume(local_id);
          if (!d && d.error().kind() != error_kind::not_found) return error_reply(500, "VOLUME_DELETE_FAILED", d.error().to_string());
          auto& arr = meta["volumes"];
          for (auto it = arr.begin(); it != arr.end(); ++it)
            if ((*it)["id"] == local_id) { arr.erase(it); break; }
          s_->save_meta(meta);
          return json_reply(200, json::object());
        }
        if (parts.size() == 5 && parts[4] == "snapshot" && r.method == "POST") {
          if (!body.contains("slug") || !body["slug"].is_string()) return error_reply(400, "INVALID_BODY", "a snapshot needs a slug");
          auto slug = body["slug"].get<std::string>();
          if (!proto::valid_slug(slug)) return error_reply(400, "INVALID_SLUG", fmt::format("invalid slug \"{}\"", slug));
          if (slug_taken(slug)) return error_reply(409, "SLUG_ALREADY_EXISTS", fmt::format("slug \"{}\" is already taken", slug));
          if (in_use(local_id)) return error_reply(409, "VOLUME_IN_USE", "snapshots cannot be taken while the volume is attached to a running sandbox");
          auto vol_ref = json{{"id", local_id}, {"slug", (*m)["slug"]}};
          auto region = (*m)["region"];
          auto snap = copy_volume("snapshot." + slug, local_id, std::nullopt);
          if (!snap) return error_reply(500, "SNAPSHOT_FAILED", snap.error().to_string());
          json sm{{"id", snap.value().id}, {"slug", slug}, {"region", region}, {"volume", vol_ref},
                  {"created", proto::iso_date(clock::now())}};
          meta["snapshots"].push_back(sm);
          s_->save_meta(meta);
          return json_reply(200, snapshot_json(sm, used[local_id]));
        }
      }
    } else {
      if (parts.size() == 3 && r.method == "GET") {
        std::vector<json> items;
        auto search = t.param("search");
        for (auto const& m : meta["snapshots"]) {
          if (search && m["slug"].get<std::string>().find(*search) == std::string::npos && m["id"] != *search) continue;
          items.push_back(snapshot_json(m, used[m["id"].get<std::string>()]));
        }
        return page(items, t, r, t.path);
      }
      if (parts.size() == 4) {
        auto m = find("snapshots", parts[3]);
        if (!m) return error_reply(404, "SNAPSHOT_NOT_FOUND", fmt::format("snapshot \"{}\" not found", parts[3]));
        auto local_id = (*m)["id"].get<std::string>();
        if (r.method == "GET") return json_reply(200, snapshot_json(*m, used[local_id]));
        if (r.method == "DELETE") {
          auto d = s_->client.delete_volume(local_id);
          if (!d && d.error().kind() != error_kind::not_found) return error_reply(500, "SNAPSHOT_DELETE_FAILED", d.error().to_string());
          auto& arr = meta["snapshots"];
          for (auto it = arr.begin(); it != arr.end(); ++it)
            if ((*it)["id"] == local_id) { arr.erase(it); break; }
          s_->save_meta(meta);
          return json_reply(200, json::object());
        }
      }
    }
    return error_reply(404, "NOT_FOUND", fmt::format("no route for {} {}", r.method, t.path));
  }
  if (parts[2] == "apps" || parts[2] == "layers" || parts[2] == "revisions")
    return error_reply(404, "NOT_FOUND", fmt::format("{} are not served by this server", parts[2]));
  return error_reply(404, "NOT_FOUND", fmt::format("no route for {} {}", r.method, t.path));
}

}  // namespace sbx::server::deno_impl
