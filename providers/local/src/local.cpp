// SPDX-License-Identifier: Apache-2.0
// The local provider's runtime: create (spawning the supervisor), connect, list, info, kill,
// lifetimes, pause/resume, gc, and host detection. Exec lives in exec.cpp.

#include "runtime.hpp"

#include "cgroups.hpp"
#include "fsutil.hpp"
#include "wire.hpp"
#include "../net/client.hpp"  // network policy engine hooks (providers/local/net)

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <thread>

#ifndef SBX_SUPERVISOR_BUILD_PATH
#define SBX_SUPERVISOR_BUILD_PATH ""
#endif
#ifndef SBX_SUPERVISOR_INSTALL_PATH
#define SBX_SUPERVISOR_INSTALL_PATH ""
#endif

namespace sbx {

namespace local_impl {
struct warm_pool;
}

struct local::state {
  config cfg;
  local_impl::store_paths paths;
  local_impl::host_info host;
  std::unique_ptr<local_impl::warm_pool> pool;  // last: stopped (and its threads joined) first
  ~state();
};

namespace local_impl {

struct access {
  using state = local::state;
  static local::state& of(local const& p) { return *p.state_; }
};

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr std::uint32_t shifted_base = 100000;  // root inside = this host uid (and gid)
constexpr std::uint32_t shifted_count = 65536;

error err(error_kind k, std::string msg, std::string_view id = {}) {
  error_detail d;
  d.message = std::move(msg);
  d.provider = "local";
  d.id = std::string(id);
  return make_error(k, std::move(d));
}

error not_built(std::string_view cap, std::string_view field, std::string msg) {
  error_detail d;
  d.message = std::move(msg);
  d.provider = "local";
  d.capability = std::string(cap);
  d.field = std::string(field);
  return make_error(error_kind::unsupported, std::move(d));
}

std::string errno_text(int e = errno) { return std::strerror(e); }

bool file_exists(fs::path const& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::string find_supervisor(local::config const& c) {
  if (!c.supervisor_path.empty()) return c.supervisor_path;
  if (char const* e = ::getenv("SBX_SUPERVISOR"); e && *e) return e;
  if (*SBX_SUPERVISOR_BUILD_PATH && file_exists(SBX_SUPERVISOR_BUILD_PATH)) return SBX_SUPERVISOR_BUILD_PATH;
  return SBX_SUPERVISOR_INSTALL_PATH;
}

std::string default_state_dir() {
  if (char const* e = ::getenv("SBX_STATE_DIR"); e && *e) return e;
  if (::geteuid() == 0) return "/var/lib/sbx";
  if (char const* x = ::getenv("XDG_RUNTIME_DIR"); x && *x) return std::string(x) + "/sbx";
  return "/tmp/sbx-" + std::to_string(::geteuid());
}

// The sandbox's root (a shifted uid) must be able to walk down to its upper dir.
void ensure_dir(fs::path const& p, mode_t mode) {
  std::error_code ec;
  fs::create_directories(p, ec);
  struct stat st;
  if (::stat(p.c_str(), &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & 0111) != 0111)
    ::chmod(p.c_str(), (st.st_mode & 07777) | mode);
}

host_info detect_host() {
  host_info h;
  h.privileged = ::geteuid() == 0;
  h.cgroups = cg::detect();
  h.limits = cg::can(h.cgroups);
  struct sysinfo si;
  if (::sysinfo(&si) == 0) h.ram_bytes = static_cast<std::uint64_t>(si.totalram) * si.mem_unit;
  h.cpus = std::max(1u, std::thread::hardware_concurrency());
  std::string cl = fsu::read_all("/proc/sys/kernel/cap_last_cap");
  if (!cl.empty()) h.cap_last = std::atoi(cl.c_str());
  std::string max_ns = fsu::read_all("/proc/sys/user/max_user_namespaces");
  h.userns = max_ns.empty() || std::atoi(max_ns.c_str()) > 0;
  if (!h.privileged) {
    std::string clone = fsu::read_all("/proc/sys/kernel/unprivileged_userns_clone");
    if (!clone.empty() && std::atoi(clone.c_str()) == 0) h.userns = false;
  }
  return h;
}

std::string random_id() {
  unsigned char b[6];
  if (::getrandom(b, sizeof b, 0) != sizeof b) {
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    std::memcpy(b, &t, sizeof b);
  }
  return fmt::format("sbx-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3], b[4], b[5]);
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || id == "." || id == "..") return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
std::chrono::system_clock::time_point from_ms(std::int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

cg::group group_from(json const& j) {
  cg::group g;
  if (!j.is_object()) return g;
  g.dirs = j.value("dirs", std::vector<std::string>{});
  g.memory_dir = j.value("memory", "");
  g.memory_v2 = j.value("memory_v2", false);
  g.pids_dir = j.value("pids", "");
  g.pids_v2 = j.value("pids_v2", false);
  g.cpu_dir = j.value("cpu", "");
  g.cpu_v2 = j.value("cpu_v2", false);
  g.freezer_dir = j.value("freezer", "");
  g.freezer_v2 = j.value("freezer_v2", false);
  return g;
}

json read_json(fs::path const& p) {
  std::string s = fsu::read_all(p);
  if (s.empty()) return json();
  return json::parse(s, nullptr, false);
}

// Whether the supervisor of `dir` is alive: it holds an exclusive flock on `dir/lock` for
// as long as it runs (so a reused pid can never fool us).
enum class liveness { alive, dead, unknown };
liveness probe(fs::path const& dir) {
  int fd = ::open((dir / "lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return liveness::unknown;
  int r = ::flock(fd, LOCK_SH | LOCK_NB);
  ::close(fd);
  return r == 0 ? liveness::dead : liveness::alive;
}

void fill_from_state(connection& c, json const& s) {
  c.view.id = c.id;
  c.view.dir = c.dir;
  c.view.init_pid = s.value("init_pid", -1);
  c.view.root_uid = s.value("root_uid", 0u);
  c.view.root_gid = s.value("root_gid", 0u);
  c.group = group_from(s.value("cgroup", json::object()));
  c.labels = s.value("labels", std::map<std::string, std::string>{});
  c.created = from_ms(s.value("created_ms", std::int64_t{0}));
  c.session = s.value("expires_ms", json(nullptr)).is_null();
}

sandbox_info info_from_state(std::string const& id, json const& s) {
  sandbox_info i;
  i.id = id;
  i.provider = "local";
  i.status = s.value("paused", false) ? sandbox_status::paused : sandbox_status::running;
  i.labels = s.value("labels", std::map<std::string, std::string>{});
  i.created = from_ms(s.value("created_ms", std::int64_t{0}));
  if (auto e = s.value("expires_ms", json(nullptr)); !e.is_null()) i.expires = from_ms(e.get<std::int64_t>());
  return i;
}

local::handle make_handle(std::shared_ptr<connection> c) {
  local::handle h;
  h.id = c->id;
  h.conn = std::static_pointer_cast<void>(std::move(c));
  return h;
}

}  // namespace

error gone(std::string_view id) { return err(error_kind::not_found, fmt::format("sandbox {} is gone", id), id); }

bool forbidden_env(std::string_view n) {
  return n == "BASH_ENV" || n == "ENV" || n == "LD_PRELOAD" || n == "LD_AUDIT" || n == "LD_LIBRARY_PATH" ||
         n == "PROMPT_COMMAND" || n == "PYTHONSTARTUP" || n == "NODE_OPTIONS";
}

result<connection*> conn_of(local::handle const& h) {
  auto* c = static_cast<connection*>(h.conn.get());
  if (!c || c->released.load()) return gone(h.id);
  return c;
}

result<ctl_reply> control(connection& c, std::uint32_t type, std::int64_t arg) {
  std::lock_guard lk(c.ctl_mu);
  if (c.released.load() || !c.ctl) return gone(c.id);
  wire::header h{static_cast<wire::type>(type), 0, arg, 0};
  if (wire::send(c.ctl.get(), h) != 0) return gone(c.id);
  char buf[4096];
  std::string text;
  std::vector<int> fds;
  wire::header r{};
  int rc = wire::recv(c.ctl.get(), r, &text, &fds, buf, sizeof buf);
  for (int fd : fds) ::close(fd);
  if (rc != 0) return gone(c.id);
  if (r.kind == wire::type::error) return err(static_cast<error_kind>(r.code), text, c.id);
  return ctl_reply{r.a, r.b};
}

result<sandbox_view> view(local const& provider, local::handle const& h) {
  (void)provider;
  SBX_TRY(c, conn_of(h));
  pollfd p{c->ctl.get(), 0, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR))) return gone(h.id);
  return c->view;
}

store_paths const& paths(local const& provider) { return access::of(provider).paths; }

}  // namespace local_impl

using namespace local_impl;
namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;
}  // namespace

namespace local_impl {

// What every sandbox's environment starts from (nothing comes from the host's).
std::vector<std::string> default_env() {
  return {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "TERM=xterm"};
}

// Starts a supervisor for `cfg` (create()'s JSON without id and dir) and waits until the
// sandbox is ready. The caller fills in labels, created and session.
result<std::shared_ptr<connection>> launch(access::state& st, json cfg) {
  bool privileged = st.host.privileged;
  SBX_TRY(bpf, seccomp_program());
  auto const& sup = st.cfg.supervisor_path;
  if (::access(sup.c_str(), X_OK) != 0)
    return err(error_kind::create_failed, fmt::format("supervisor binary {} is not executable: {}", sup, errno_text()));

  ensure_dir(st.paths.root, 0711);
  ensure_dir(st.paths.sandboxes(), 0711);
  std::string id = random_id();
  fs::path dir = st.paths.sandbox(id);
  if (::mkdir(dir.c_str(), 0711) != 0)
    return err(error_kind::create_failed, fmt::format("mkdir {} failed: {}", dir.string(), errno_text()));
  ::chmod(dir.c_str(), 0711);
  unique_fd lock(::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX) != 0) {
    int e = errno;
    fsu::remove_tree(dir);
    return err(error_kind::create_failed, fmt::format("lock file in {} failed: {}", dir.string(), errno_text(e)));
  }

  cfg["id"] = id;
  cfg["dir"] = dir.string();
  if (cfg.value("hostname", json(nullptr)).is_null()) cfg["hostname"] = id;

  int sp[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
    fsu::remove_tree(dir);
    return err(error_kind::create_failed, fmt::format("socketpair failed: {}", errno_text()));
  }
  unique_fd mine(sp[0]), theirs(sp[1]);
  // Above 4 so that the dup2s below never meet their own target (which would keep CLOEXEC).
  unique_fd theirs_hi(::fcntl(theirs.get(), F_DUPFD_CLOEXEC, 10)), lock_hi(::fcntl(lock.get(), F_DUPFD_CLOEXEC, 10));

  // posix_spawn (vfork + execve) is async-signal-safe from a multithreaded host and does not
  // copy its page tables; the supervisor forks once more on its own and runs in its own session.
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, theirs_hi.get(), 3);
  posix_spawn_file_actions_adddup2(&fa, lock_hi.get(), 4);
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char const* argv[] = {sup.c_str(), nullptr};
  char const* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, sup.c_str(), &fa, &at, const_cast<char* const*>(argv), const_cast<char* const*>(envp));
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  theirs.reset();
  theirs_hi.reset();
  lock_hi.reset();
  lock.reset();
  if (rc != 0) {
    fsu::remove_tree(dir);
    return err(error_kind::create_failed, fmt::format("starting the supervisor {} failed: {}", sup, errno_text(rc)));
  }
  std::string cfg_text = cfg.dump();
  wire::header h{wire::type::hello, 0, 0, 0};
  int s1 = wire::send(mine.get(), h, cfg_text);
  int s2 = wire::send(mine.get(), h, bpf);
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (s1 || s2) {
    fsu::remove_tree(dir);
    return err(error_kind::create_failed, fmt::format("sending the config to the supervisor failed: {}", errno_text(s1 ? s1 : s2)));
  }

  pollfd p{mine.get(), POLLIN, 0};
  if (::poll(&p, 1, 60000) <= 0) {
    fsu::remove_tree(dir);
    return err(error_kind::create_failed, "the supervisor did not report within 60 s", id);
  }
  char buf[4096];
  std::string text;
  std::vector<int> fds;
  wire::header rep{};
  rc = wire::recv(mine.get(), rep, &text, &fds, buf, sizeof buf);
  if (rc != 0) {
    for (int fd : fds) ::close(fd);
    if (probe(dir) != liveness::alive) fsu::remove_tree(dir);
    return err(error_kind::create_failed, "the supervisor exited before the sandbox was ready", id);
  }
  if (rep.kind == wire::type::error) {
    for (int fd : fds) ::close(fd);
    // The supervisor cleaned up after itself; the dir goes once it has exited.
    for (int i = 0; i < 200 && probe(dir) == liveness::alive; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    fsu::remove_tree(dir);
    error_kind k = static_cast<error_kind>(rep.code);
    return err(k, text, id);
  }
  if (fds.empty()) return err(error_kind::internal, "the supervisor's ready message carried no exec channel", id);

  auto c = std::make_shared<connection>();
  c->id = id;
  c->dir = dir;
  c->ctl = std::move(mine);
  c->chan = unique_fd(fds[0]);
  for (std::size_t i = 1; i < fds.size(); ++i) ::close(fds[i]);
  c->view = {id, static_cast<pid_t>(rep.a), privileged ? shifted_base : ::geteuid(), privileged ? shifted_base : ::getegid(), dir};
  json s = read_json(dir / "state.json");
  c->group = group_from(s.value("cgroup", json::object()));
  return c;
}

// Warm sandboxes of one shape (the default image, no volumes, blocked network, default
// limits), kept ready by background threads and claimed by create(). Each one is a session
// sandbox owned by this process: if the process dies, they die (and leave nothing, like any
// session sandbox). The network engine needs nothing from the fresh path that a claimed
// sandbox lacks: create() runs net::start on either, after the claim.
struct warm_pool {
  access::state& st;
  std::size_t size;
  json shape;  // create()'s config of a warm sandbox
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<connection>> ready;
  std::size_t inflight = 0;
  bool stopping = false;
  std::vector<std::thread> workers;
  std::once_flag started;
  // A claimed sandbox's first commands come right after the claim; refilling at that moment
  // (a full create, on the same CPUs) would slow them down. So a refill waits this long after
  // the last claim, unless the pool is empty.
  static constexpr auto refill_delay = std::chrono::milliseconds(10);
  std::chrono::steady_clock::time_point last_claim{};

  warm_pool(access::state& s, std::size_t n, json sh) : st(s), size(n), shape(std::move(sh)) {}
  // At the first create(), not when the provider is made: a provider that never creates a
  // sandbox (or a temporary one) starts none.
  void start() {
    std::call_once(started, [this] {
      // Fills run concurrently: much of a create is waiting on the kernel (RCU grace
      // periods, ext4), not CPU.
      std::size_t w = std::min<std::size_t>(size, 3);
      for (std::size_t i = 0; i < w; ++i) workers.emplace_back([this] { fill(); });
    });
  }
  ~warm_pool() {
    {
      std::lock_guard lk(mu);
      stopping = true;
    }
    cv.notify_all();
    for (auto& t : workers) t.join();
    ready.clear();  // closing the owner connections kills them
  }

  void fill() {
    std::unique_lock lk(mu);
    int failures = 0;
    while (!stopping) {
      if (ready.size() + inflight >= size) {
        cv.wait(lk);
        continue;
      }
      if (auto quiet = last_claim + refill_delay; !ready.empty() && std::chrono::steady_clock::now() < quiet) {
        cv.wait_until(lk, quiet);
        continue;
      }
      ++inflight;
      lk.unlock();
      json cfg = shape;
      cfg["created_ms"] = to_ms(std::chrono::system_clock::now());
      auto c = launch(st, std::move(cfg));
      lk.lock();
      --inflight;
      if (c) {
        failures = 0;
        ready.push_back(std::move(c).value());
      } else {
        // Back off (create() makes fresh sandboxes meanwhile and reports the real error).
        cv.notify_all();
        ++failures;
        cv.wait_for(lk, std::chrono::milliseconds(std::min(5000, 50 << std::min(failures, 6))), [&] { return stopping; });
        continue;
      }
      cv.notify_all();
    }
  }

  // A ready warm sandbox, claimed for `cfg` (create()'s config), or null: none is ready or
  // coming, or claiming failed (the caller then makes a fresh one).
  std::shared_ptr<connection> claim(json const& cfg) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::shared_ptr<connection> c;
      {
        std::unique_lock lk(mu);
        // One that is being made is nearer to ready than one we would start now.
        cv.wait(lk, [&] { return stopping || !ready.empty() || inflight == 0; });
        if (ready.empty()) return nullptr;
        c = std::move(ready.front());
        ready.pop_front();
        last_claim = std::chrono::steady_clock::now();
      }
      cv.notify_all();  // refill
      json req = {{"labels", cfg.at("labels")},   {"lifetime_ms", cfg.at("lifetime_ms")}, {"created_ms", cfg.at("created_ms")},
                  {"memory", cfg.at("memory")},   {"cpus", cfg.at("cpus")},               {"pids_max", cfg.at("pids_max")},
                  {"env", cfg.at("env")}};
      std::lock_guard lk(c->ctl_mu);
      wire::header h{wire::type::claim, 0, 0, 0};
      if (wire::send(c->ctl.get(), h, req.dump()) != 0) continue;
      char buf[4096];
      std::string text;
      std::vector<int> fds;
      wire::header rep{};
      int rc = wire::recv(c->ctl.get(), rep, &text, &fds, buf, sizeof buf);
      for (int fd : fds) ::close(fd);
      if (rc != 0 || rep.kind != wire::type::ok) continue;  // it died or refused: dropping it kills it
      return c;
    }
    return nullptr;
  }
};

}  // namespace local_impl

local::state::~state() = default;

local::local() : local(config{}) {}

local::local(config c) : state_(std::make_shared<state>()) {
  if (c.state_dir.empty()) c.state_dir = default_state_dir();
  if (c.default_image.empty()) c.default_image = (fs::path(c.state_dir) / "images" / "default").string();
  c.supervisor_path = find_supervisor(c);
  state_->cfg = std::move(c);
  state_->paths.root = state_->cfg.state_dir;
  state_->host = detect_host();
  std::size_t warm = 0;
  if (state_->cfg.warm_pool) warm = *state_->cfg.warm_pool;
  else if (char const* e = ::getenv("SBX_WARM_POOL"); e && *e) warm = static_cast<std::size_t>(std::strtoul(e, nullptr, 10));
  state_->cfg.warm_pool = warm;
  if (warm > 0 && state_->host.userns && ::access(state_->cfg.supervisor_path.c_str(), X_OK) == 0) {
    auto const& host = state_->host;
    bool privileged = host.privileged;
    struct stat sti;
    auto const& img = state_->cfg.default_image;
    if (::stat(img.c_str(), &sti) == 0 && S_ISDIR(sti.st_mode)) {
      json shape = {
          {"hostname", nullptr},
          {"lifetime_ms", 0},
          {"labels", json::object()},
          {"env", default_env()},
          {"lowers", json::array({{{"path", fs::weakly_canonical(img).string()}, {"idmap", privileged}}})},
          {"volumes", json::array()},
          {"memory", 0},
          {"cpus", 0.0},
          {"pids_max", 1024},
          {"disk_bytes", 0},
          {"privileged", privileged},
          {"cgroups", host.limits.pids || host.limits.memory},
          {"root_uid", privileged ? shifted_base : ::geteuid()},
          {"root_gid", privileged ? shifted_base : ::getegid()},
          {"host_uid", ::geteuid()},
          {"host_gid", ::getegid()},
          {"id_count", shifted_count},
          {"cap_last", host.cap_last},
          {"pooled", true},
      };
      state_->pool = std::make_unique<local_impl::warm_pool>(*state_, warm, std::move(shape));
    }
  }
}

local::config const& local::configuration() const noexcept { return state_->cfg; }

std::vector<std::string> local::host_report() const {
  auto const& h = state_->host;
  auto const& l = h.cgroups;
  std::vector<std::string> out;
  out.push_back(fmt::format("mode: {}", h.privileged ? "privileged (root): shifted uid range 0 -> 100000 (65536 ids) shared by all sandboxes, idmapped image"
                                                     : fmt::format("unprivileged (uid {}): single-uid map 0 -> {}", ::geteuid(), ::geteuid())));
  out.push_back(fmt::format("user namespaces: {}", h.userns ? "available" : "not available"));
  out.push_back(fmt::format("cgroups: {} (v1: memory={} pids={} cpu={} freezer={}; v2: {} [{}])", l.kind(),
                            l.memory_v1.empty() ? "-" : l.memory_v1, l.pids_v1.empty() ? "-" : l.pids_v1,
                            l.cpu_v1.empty() ? "-" : l.cpu_v1, l.freezer_v1.empty() ? "-" : l.freezer_v1,
                            l.v2_mount.empty() ? "-" : l.v2_mount, fmt::join(l.v2_controllers, " ")));
  out.push_back(fmt::format("limits: memory={} pids={} cpu={} freezer={}{}", h.limits.memory ? "yes" : "no",
                            h.limits.pids ? "yes" : (h.userns ? "RLIMIT_NPROC per user namespace" : "no"),
                            h.limits.cpu ? "yes" : "no", h.limits.freezer ? "yes" : "no",
                            h.limits.why_not.empty() ? "" : " (" + h.limits.why_not + ")"));
  out.push_back(fmt::format("swap accounting (memsw): {}", l.memsw ? "yes" : "no"));
  out.push_back(fmt::format("host memory: {} MiB, cpus: {}", h.ram_bytes >> 20, h.cpus));
  out.push_back(fmt::format("state dir: {}", state_->cfg.state_dir));
  out.push_back(fmt::format("default image: {} ({})", state_->cfg.default_image,
                            file_exists(state_->cfg.default_image) ? "present" : "missing: run scripts/setup"));
  out.push_back(fmt::format("supervisor: {} ({})", state_->cfg.supervisor_path,
                            ::access(state_->cfg.supervisor_path.c_str(), X_OK) == 0 ? "ok" : "missing"));
  out.push_back(net::report(*this));
  return out;
}

result<local::handle> local::create(common_request const& r, options const& o) {
  auto& st = *state_;
  auto const& host = st.host;
  SBX_TRY(net_plan, net::prepare(r));  // network policy and secrets (providers/local/net)
  if (!host.userns)
    return not_built("sandbox", "create", "user namespaces are not available on this host (kernel.unprivileged_userns_clone=0 or max_user_namespaces=0)");
  if (r.memory) {
    auto b = r.memory->bytes();
    if (b < (std::uint64_t{16} << 20))
      return err(error_kind::invalid_request, fmt::format("memory {} is below the minimum of 16 MiB", r.memory->to_string()));
    if (host.ram_bytes && b > host.ram_bytes)
      return err(error_kind::invalid_request, fmt::format("memory {} is more than this host has ({} MiB)", r.memory->to_string(), host.ram_bytes >> 20));
    if (!host.limits.memory) return not_built("memory", "memory", "memory limit: " + host.limits.why_not);
  }
  if (r.cpus) {
    if (*r.cpus > host.cpus)
      return err(error_kind::invalid_request, fmt::format("cpus {} is more than this host has ({})", *r.cpus, host.cpus));
    if (*r.cpus < 0.01) return err(error_kind::invalid_request, fmt::format("cpus {} is below the minimum of 0.01", *r.cpus));
    if (!host.limits.cpu) return not_built("cpus", "cpus", "cpu limit: " + host.limits.why_not);
  }
  if (o.pids_max && *o.pids_max == 0) return err(error_kind::invalid_request, "pids_max must be at least 1");
  if (o.hostname && (o.hostname->empty() || o.hostname->size() > 64))
    return err(error_kind::invalid_request, fmt::format("hostname \"{}\" must be 1 to 64 characters", *o.hostname));
  for (auto const& [k, v] : r.env)
    if (forbidden_env(k))
      return err(error_kind::invalid_request, fmt::format("env {} is never passed into a sandbox (it changes how every program starts)", k));

  // The overlay's lower layers, top first. Only the image's root is idmapped: snapshot
  // layers are captured upper dirs, already owned by the shifted ids.
  json lowers = json::array();
  if (r.snapshot) {
    SBX_TRY(chain, snapshot_lowers(st.paths, *r.snapshot));
    for (std::size_t i = 0; i < chain.size(); ++i)
      lowers.push_back({{"path", chain[i].string()}, {"idmap", host.privileged && i + 1 == chain.size()}});
  } else {
    std::string img = st.cfg.default_image;
    if (r.image) {
      if (r.image->kind == image::kind_t::rootfs) img = r.image->value;
      else if (r.image->value != "default") img = (st.paths.images() / r.image->value).string();
    }
    struct stat sti;
    if (::stat(img.c_str(), &sti) != 0 || !S_ISDIR(sti.st_mode))
      return err(error_kind::not_found, fmt::format("image root filesystem {} does not exist{}", img,
                                                    img == st.cfg.default_image ? " (run scripts/setup to build the default image)" : ""));
    auto canon = fs::weakly_canonical(img).string();
    auto sroot = fs::weakly_canonical(st.paths.root).string();
    if (canon.rfind(sroot + "/sandboxes", 0) == 0 || canon.rfind(sroot + "/snapshots", 0) == 0 ||
        (sroot + "/").rfind(canon + "/", 0) == 0)
      return err(error_kind::invalid_request, fmt::format("image {} overlaps the state dir's layers (overlay layers must never be ancestors of each other)", img));
    lowers.push_back({{"path", canon}, {"idmap", host.privileged}});
  }
  json volumes = json::array();
  for (auto const& v : r.volumes) {
    auto data = st.paths.volume_data(v.id);
    if (!file_exists(data)) return err(error_kind::not_found, fmt::format("volume {} does not exist", v.id), v.id);
    volumes.push_back({{"src", data.string()}, {"dst", v.mount_path}, {"ro", v.readonly}});
  }

  auto now = std::chrono::system_clock::now();
  std::vector<std::string> env = default_env();
  for (auto const& [k, v] : r.env) {
    std::erase_if(env, [&](std::string const& e) { return e.compare(0, k.size() + 1, k + "=") == 0; });
    env.push_back(k + "=" + v);
  }
  env.insert(env.end(), net_plan.env.begin(), net_plan.env.end());  // proxy, CA and secret placeholder vars
  bool privileged = host.privileged;
  json cfg = {
      {"hostname", o.hostname ? json(*o.hostname) : json(nullptr)},
      {"lifetime_ms", r.lifetime ? r.lifetime->count() : 0},
      {"created_ms", to_ms(now)},
      {"labels", r.labels},
      {"env", env},
      {"lowers", lowers},
      {"volumes", volumes},
      {"memory", r.memory ? r.memory->bytes() : 0},
      {"cpus", r.cpus.value_or(0.0)},
      {"pids_max", o.pids_max.value_or(1024)},
      {"disk_bytes", o.disk_bytes.value_or(0)},
      {"privileged", privileged},
      {"cgroups", host.limits.pids || host.limits.memory},
      {"root_uid", privileged ? shifted_base : ::geteuid()},
      {"root_gid", privileged ? shifted_base : ::getegid()},
      {"host_uid", ::geteuid()},
      {"host_gid", ::getegid()},
      {"id_count", shifted_count},
      {"cap_last", host.cap_last},
  };

  // A warm sandbox when the request fits the pool's shape, else a fresh one.
  std::shared_ptr<connection> c;
  if (st.pool) st.pool->start();
  if (st.pool && volumes.empty() && !o.hostname && !o.disk_bytes && lowers == st.pool->shape.at("lowers"))
    c = st.pool->claim(cfg);
  if (!c) {
    SBX_TRY(fresh, launch(st, std::move(cfg)));
    c = std::move(fresh);
  }
  c->labels = r.labels;
  c->created = now;
  c->session = !r.lifetime;
  auto made = make_handle(std::move(c));
  if (auto n = net::start(*this, made, net_plan); !n) {  // the network engine, before any command runs
    (void)kill(made);
    return std::move(n).error();
  }
  // Ports asked for at creation (ports.cpp); a sandbox whose ports cannot be exposed is not created.
  for (auto port : r.ports)
    if (auto u = expose_port(made, port); !u) {
      (void)kill(made);
      return std::move(u).error();
    }
  return made;
}

result<local::handle> local::connect(std::string_view id) {
  if (!valid_id(id)) return err(error_kind::not_found, fmt::format("no sandbox {}", id), id);
  fs::path dir = state_->paths.sandbox(id);
  std::string sock = (dir / "sock").string();
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (sock.size() >= sizeof a.sun_path) return err(error_kind::invalid_request, "state dir path too long for a unix socket", id);
  std::memcpy(a.sun_path, sock.c_str(), sock.size() + 1);
  unique_fd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) return err(error_kind::not_found, fmt::format("no sandbox {}", id), id);
    return err(error_kind::connection, fmt::format("connecting to {} failed: {}", sock, errno_text()), id);
  }
  wire::header h{wire::type::hello, 0, 0, 0};
  if (wire::send(fd.get(), h) != 0) return gone(id);
  char buf[4096];
  std::string text;
  std::vector<int> fds;
  wire::header rep{};
  if (wire::recv(fd.get(), rep, &text, &fds, buf, sizeof buf) != 0 || rep.kind != wire::type::ok || fds.empty()) {
    for (int x : fds) ::close(x);
    return gone(id);
  }
  auto c = std::make_shared<connection>();
  c->id = std::string(id);
  c->dir = dir;
  c->ctl = std::move(fd);
  c->chan = unique_fd(fds[0]);
  for (std::size_t i = 1; i < fds.size(); ++i) ::close(fds[i]);
  json s = read_json(dir / "state.json");
  if (!s.is_object()) return gone(id);
  fill_from_state(*c, s);
  c->view.init_pid = static_cast<pid_t>(rep.a);
  return make_handle(std::move(c));
}

result<std::vector<sandbox_info>> local::list(std::map<std::string, std::string> const& labels) {
  std::vector<sandbox_info> out;
  std::error_code ec;
  for (auto const& e : fs::directory_iterator(state_->paths.sandboxes(), ec)) {
    if (!e.is_directory(ec)) continue;
    std::string id = e.path().filename().string();
    json s = read_json(e.path() / "state.json");
    if (!s.is_object() || !s.value("ready", false)) continue;
    if (probe(e.path()) != liveness::alive) continue;
    auto i = info_from_state(id, s);
    bool match = true;
    for (auto const& [k, v] : labels)
      if (auto it = i.labels.find(k); it == i.labels.end() || it->second != v) { match = false; break; }
    if (match) out.push_back(std::move(i));
  }
  std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) { return a.created < b.created; });
  return out;
}

result<sandbox_info> local::info(handle const& h) {
  SBX_TRY(c, conn_of(h));
  SBX_TRY(rep, control(*c, static_cast<std::uint32_t>(wire::type::info)));
  sandbox_info i;
  i.id = c->id;
  i.provider = "local";
  i.status = rep.a ? sandbox_status::paused : sandbox_status::running;
  i.labels = c->labels;
  i.created = c->created;
  if (rep.b) i.expires = from_ms(rep.b);
  return i;
}

result<void> local::kill(handle const& h) {
  SBX_TRY(c, conn_of(h));
  SBX_TRYV(control(*c, static_cast<std::uint32_t>(wire::type::kill)));
  c->released = true;
  std::lock_guard lk(c->ctl_mu);
  c->ctl.reset();
  c->chan.reset();
  return success();
}

void local::release(handle const& h) noexcept {
  auto* c = static_cast<connection*>(h.conn.get());
  if (!c || c->released.exchange(true)) return;
  std::lock_guard lk(c->ctl_mu);
  // Closing the creator's control connection is what kills a session sandbox.
  if (c->ctl) ::shutdown(c->ctl.get(), SHUT_RDWR);
  c->ctl.reset();
  c->chan.reset();
}

result<void> local::extend_timeout(handle const& h, std::chrono::milliseconds d) {
  SBX_TRY(c, conn_of(h));
  if (d.count() <= 0) return err(error_kind::invalid_request, fmt::format("extend_timeout: {}ms is not a positive duration", d.count()), c->id);
  SBX_TRYV(control(*c, static_cast<std::uint32_t>(wire::type::extend), d.count()));
  return success();
}

result<void> local::pause(handle const& h) {
  SBX_TRY(c, conn_of(h));
  SBX_TRYV(control(*c, static_cast<std::uint32_t>(wire::type::pause)));
  return success();
}

result<void> local::resume(handle const& h) {
  SBX_TRY(c, conn_of(h));
  SBX_TRYV(control(*c, static_cast<std::uint32_t>(wire::type::resume)));
  return success();
}

result<void> local::update_network(handle const& h, network_policy const& n) {
  SBX_TRY(c, conn_of(h));
  (void)c;
  return net::update(*this, h, n);  // providers/local/net/client.cpp
}

result<std::vector<local::network_event>> local::network_events(handle const& h) {
  SBX_TRY(c, conn_of(h));
  (void)c;
  return net::events(*this, h);
}

result<std::vector<std::string>> local::gc() {
  std::vector<std::string> cleaned;
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  for (auto const& e : fs::directory_iterator(state_->paths.sandboxes(), ec)) {
    if (!e.is_directory(ec)) continue;
    auto l = probe(e.path());
    if (l == liveness::alive) continue;
    // A dir without a lock file may be one that create() is setting up right now.
    if (l == liveness::unknown && now - fs::last_write_time(e.path(), ec) < std::chrono::seconds(30)) continue;
    std::string id = e.path().filename().string();
    json s = read_json(e.path() / "state.json");
    if (s.is_object()) {
      // The agent died with its supervisor (PDEATHSIG), which took the pid namespace with it;
      // anything still in the cgroups is killed by cg::remove.
      cg::group g = group_from(s.value("cgroup", json::object()));
      auto left = cg::remove(g);
      if (!left.empty())
        return err(error_kind::internal, fmt::format("gc: cgroup {} of sandbox {} could not be removed", left.front(), id), id);
    }
    if (auto m = fsu::remove_tree(e.path().string()); !m.empty())
      return err(error_kind::internal, "gc: " + m, id);
    cleaned.push_back(id);
  }
  return cleaned;
}

result<exec_result> local::exec(handle const& h, exec_request const& r) {
  SBX_TRY(c, conn_of(h));
  return local_impl::run(*c, r);
}

result<process> local::spawn(handle const& h, exec_request const& r) {
  SBX_TRY(c, conn_of(h));
  return local_impl::start(*c, r);
}

result<pty> local::open_pty(handle const& h, pty_request const& r) {
  SBX_TRY(c, conn_of(h));
  return local_impl::start_pty(*c, r);
}

}  // namespace sbx
