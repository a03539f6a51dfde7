// SPDX-License-Identifier: Apache-2.0
#include "cgroups.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace sbx::local_impl::cg {
namespace {

std::string slurp(std::string const& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// Returns "" or "writing <path> failed: <errno text>".
std::string put(std::string const& path, std::string const& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return "opening " + path + " failed: " + std::strerror(errno);
  ssize_t n = ::write(fd, value.data(), value.size());
  int e = errno;
  ::close(fd);
  if (n < 0) return "writing \"" + value + "\" to " + path + " failed: " + std::strerror(e);
  return {};
}

bool exists(std::string const& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

bool has_word(std::string const& csv, std::string const& w) {
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ','))
    if (item == w) return true;
  return false;
}

std::string join(std::string const& mount, std::string const& self) {
  if (self.empty() || self == "/") return mount;
  return mount + self;
}

// Reads the "key value" line of a flat keyed file (memory.events, memory.oom_control).
std::uint64_t keyed(std::string const& text, std::string const& key) {
  std::istringstream in(text);
  std::string k;
  std::uint64_t v;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

}  // namespace

bool layout::v2_has(std::string const& c) const {
  for (auto const& x : v2_controllers)
    if (x == c) return true;
  return false;
}

std::string layout::kind() const {
  bool v1 = !memory_v1.empty() || !pids_v1.empty() || !cpu_v1.empty() || !freezer_v1.empty();
  bool v2 = !v2_mount.empty() && !v2_controllers.empty();
  if (v1 && !v2_mount.empty()) return "hybrid";
  if (v1) return "v1";
  if (v2) return "v2";
  return "none";
}

layout detect() {
  layout l;
  std::istringstream mi(slurp("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(mi, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream left(line.substr(0, dash)), right(line.substr(dash + 3));
    std::string id, parent, dev, root, mountpoint, fstype, source, super;
    left >> id >> parent >> dev >> root >> mountpoint;
    right >> fstype >> source >> super;
    if (fstype == "cgroup") {
      if (has_word(super, "memory") && l.memory_v1.empty()) l.memory_v1 = mountpoint;
      if (has_word(super, "pids") && l.pids_v1.empty()) l.pids_v1 = mountpoint;
      if (has_word(super, "cpu") && l.cpu_v1.empty()) l.cpu_v1 = mountpoint;
      if (has_word(super, "freezer") && l.freezer_v1.empty()) l.freezer_v1 = mountpoint;
    } else if (fstype == "cgroup2" && l.v2_mount.empty()) {
      l.v2_mount = mountpoint;
    }
  }
  std::istringstream self(slurp("/proc/self/cgroup"));
  while (std::getline(self, line)) {
    auto c1 = line.find(':');
    auto c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    std::string ctrls = line.substr(c1 + 1, c2 - c1 - 1), path = line.substr(c2 + 1);
    if (ctrls.empty()) l.v2_self = path;
    if (has_word(ctrls, "memory")) l.memory_self = path;
    if (has_word(ctrls, "pids")) l.pids_self = path;
    if (has_word(ctrls, "cpu")) l.cpu_self = path;
    if (has_word(ctrls, "freezer")) l.freezer_self = path;
  }
  if (!l.v2_mount.empty()) {
    std::istringstream cs(slurp(l.v2_mount + "/cgroup.controllers"));
    std::string c;
    while (cs >> c) l.v2_controllers.push_back(c);
  }
  if (!l.memory_v1.empty()) l.memsw = exists(join(l.memory_v1, l.memory_self) + "/memory.memsw.limit_in_bytes");
  return l;
}

namespace {

// The directory below which sandbox cgroups of one v1 hierarchy are made: our own cgroup
// (so that our own limits still apply) + "/sbx".
std::string v1_base(std::string const& mount, std::string const& self) { return join(mount, self) + "/sbx"; }

// On v2 the sandbox cgroups go below "<mount>/sbx" when we are root (the root cgroup may hold
// processes and delegate), or below $SBX_CGROUP_PARENT, a delegated directory whose
// subtree_control the caller has set up (systemd's Delegate=yes). Our own cgroup cannot be
// used: a v2 cgroup with processes cannot enable controllers for children.
std::string v2_base(layout const& l) {
  if (char const* p = ::getenv("SBX_CGROUP_PARENT"); p && *p) return p;
  if (::geteuid() == 0) return l.v2_mount + "/sbx";
  return {};
}

bool writable_dir(std::string const& d) { return ::access(d.c_str(), W_OK | X_OK) == 0; }

// Ensures `dir` exists (mkdir -p of the last component only; parents must exist).
std::string ensure_dir(std::string const& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return {};
  return "creating cgroup " + dir + " failed: " + std::strerror(errno);
}

}  // namespace

support can(layout const& l) {
  support s;
  auto v1_ok = [](std::string const& mount, std::string const& self) {
    if (mount.empty()) return false;
    std::string base = join(mount, self);
    return writable_dir(base) || writable_dir(base + "/sbx");
  };
  std::string v2b = l.v2_mount.empty() ? std::string() : v2_base(l);
  bool v2_ok = !v2b.empty() && (writable_dir(v2b) || writable_dir(l.v2_mount));
  s.memory = v1_ok(l.memory_v1, l.memory_self) || (l.memory_v1.empty() && v2_ok && l.v2_has("memory"));
  s.pids = v1_ok(l.pids_v1, l.pids_self) || (l.pids_v1.empty() && v2_ok && l.v2_has("pids"));
  s.cpu = v1_ok(l.cpu_v1, l.cpu_self) || (l.cpu_v1.empty() && v2_ok && l.v2_has("cpu"));
  s.freezer = v1_ok(l.freezer_v1, l.freezer_self) || (l.freezer_v1.empty() && v2_ok);
  if (!s.memory || !s.pids || !s.cpu || !s.freezer) {
    std::string missing;
    auto add = [&](bool ok, char const* n) { if (!ok) missing += missing.empty() ? n : std::string(", ") + n; };
    add(s.memory, "memory");
    add(s.pids, "pids");
    add(s.cpu, "cpu");
    add(s.freezer, "freezer");
    if (::geteuid() != 0)
      s.why_not = "cgroup controllers " + missing + " are not delegated to uid " + std::to_string(::geteuid()) +
                  " (run as root, or set SBX_CGROUP_PARENT to a delegated cgroup v2 directory)";
    else
      s.why_not = "cgroup controllers " + missing + " are not mounted on this host (cgroup layout: " + l.kind() + ")";
  }
  return s;
}

std::string create(layout const& l, std::string const& id, limits const& lim, group& g) {
  support s = can(l);
  std::string err;
  auto fail = [&](std::string e) {
    remove(g, 200);
    g = group{};
    return e;
  };
  std::vector<std::string> v1_done;
  auto v1 = [&](std::string const& mount, std::string const& self) -> std::string {
    std::string base = v1_base(mount, self);
    if (auto e = ensure_dir(base); !e.empty()) { err = e; return {}; }
    std::string dir = base + "/" + id;
    if (::mkdir(dir.c_str(), 0755) != 0) { err = "creating cgroup " + dir + " failed: " + std::strerror(errno); return {}; }
    g.dirs.push_back(dir);
    return dir;
  };
  bool need_v2 = false;
  if (s.memory) { if (!l.memory_v1.empty()) { g.memory_dir = v1(l.memory_v1, l.memory_self); } else need_v2 = true; }
  if (!err.empty()) return fail(err);
  if (s.pids) { if (!l.pids_v1.empty()) { g.pids_dir = v1(l.pids_v1, l.pids_self); } else need_v2 = true; }
  if (!err.empty()) return fail(err);
  if (s.cpu) { if (!l.cpu_v1.empty()) { g.cpu_dir = v1(l.cpu_v1, l.cpu_self); } else need_v2 = true; }
  if (!err.empty()) return fail(err);
  if (s.freezer) { if (!l.freezer_v1.empty()) { g.freezer_dir = v1(l.freezer_v1, l.freezer_self); } else need_v2 = true; }
  if (!err.empty()) return fail(err);
  if (need_v2) {
    std::string base = v2_base(l);
    if (base == l.v2_mount + "/sbx") {
      if (auto e = ensure_dir(base); !e.empty()) return fail(e);
      std::string enable;
      for (char const* c : {"memory", "pids", "cpu"})
        if (l.v2_has(c)) enable += std::string(enable.empty() ? "+" : " +") + c;
      if (!enable.empty()) {
        if (auto e = put(l.v2_mount + "/cgroup.subtree_control", enable); !e.empty()) return fail(e);
        if (auto e = put(base + "/cgroup.subtree_control", enable); !e.empty()) return fail(e);
      }
    }
    std::string dir = base + "/" + id;
    if (::mkdir(dir.c_str(), 0755) != 0) return fail("creating cgroup " + dir + " failed: " + std::strerror(errno));
    g.dirs.push_back(dir);
    if (s.memory && g.memory_dir.empty()) { g.memory_dir = dir; g.memory_v2 = true; }
    if (s.pids && g.pids_dir.empty()) { g.pids_dir = dir; g.pids_v2 = true; }
    if (s.cpu && g.cpu_dir.empty()) { g.cpu_dir = dir; g.cpu_v2 = true; }
    if (s.freezer && g.freezer_dir.empty()) { g.freezer_dir = dir; g.freezer_v2 = true; }
  }
  if (auto e = set_limits(l, g, lim); !e.empty()) return fail(e);
  return {};
}

std::string set_limits(layout const& l, group const& g, limits const& lim) {
  auto fail = [](std::string e) { return e; };
  if (lim.memory_bytes) {
    if (g.memory_dir.empty()) return fail("no memory cgroup controller is available");
    std::string v = std::to_string(*lim.memory_bytes);
    if (g.memory_v2) {
      if (auto e = put(g.memory_dir + "/memory.max", v); !e.empty()) return fail(e);
      if (exists(g.memory_dir + "/memory.swap.max"))
        if (auto e = put(g.memory_dir + "/memory.swap.max", "0"); !e.empty()) return fail(e);
    } else {
      if (auto e = put(g.memory_dir + "/memory.limit_in_bytes", v); !e.empty()) return fail(e);
      if (l.memsw)
        if (auto e = put(g.memory_dir + "/memory.memsw.limit_in_bytes", v); !e.empty()) return fail(e);
    }
  }
  if (!g.pids_dir.empty())
    if (auto e = put(g.pids_dir + "/pids.max", std::to_string(lim.pids_max)); !e.empty()) return fail(e);
  if (lim.cpus) {
    if (g.cpu_dir.empty()) return fail("no cpu cgroup controller is available");
    long quota = std::lround(*lim.cpus * 100000.0);
    if (quota < 1000) quota = 1000;
    if (g.cpu_v2) {
      if (auto e = put(g.cpu_dir + "/cpu.max", std::to_string(quota) + " 100000"); !e.empty()) return fail(e);
    } else {
      if (auto e = put(g.cpu_dir + "/cpu.cfs_period_us", "100000"); !e.empty()) return fail(e);
      if (auto e = put(g.cpu_dir + "/cpu.cfs_quota_us", std::to_string(quota)); !e.empty()) return fail(e);
    }
  }
  return {};
}

std::string attach(group const& g, pid_t pid) {
  std::string p = std::to_string(pid);
  for (auto const& d : g.dirs)
    if (auto e = put(d + "/cgroup.procs", p); !e.empty()) return e;
  return {};
}

namespace {
bool is_v2(layout const& l, std::string const& d) {
  return !l.v2_mount.empty() && d.rfind(l.v2_mount + "/", 0) == 0;
}
}  // namespace

std::string enter_v1(layout const& l, group const& g) {
  for (auto const& d : g.dirs)
    if (!is_v2(l, d))
      if (auto e = put(d + "/tasks", "0"); !e.empty()) return e;
  return {};
}

std::string leave_v1(layout const& l, group const& g) {
  auto back = [&](std::string const& dir, std::string const& mount, std::string const& self) -> std::string {
    if (dir.empty() || is_v2(l, dir) || mount.empty()) return {};
    return put(join(mount, self) + "/tasks", "0");
  };
  if (auto e = back(g.memory_dir, l.memory_v1, l.memory_self); !e.empty()) return e;
  if (auto e = back(g.pids_dir, l.pids_v1, l.pids_self); !e.empty()) return e;
  if (auto e = back(g.cpu_dir, l.cpu_v1, l.cpu_self); !e.empty()) return e;
  if (auto e = back(g.freezer_dir, l.freezer_v1, l.freezer_self); !e.empty()) return e;
  return {};
}

std::string attach_v2(layout const& l, group const& g, pid_t pid) {
  for (auto const& d : g.dirs)
    if (is_v2(l, d))
      if (auto e = put(d + "/cgroup.procs", std::to_string(pid)); !e.empty()) return e;
  return {};
}

std::string freeze(group const& g, bool frozen) {
  if (g.freezer_dir.empty()) return "no freezer cgroup is available";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  if (g.freezer_v2) {
    if (auto e = put(g.freezer_dir + "/cgroup.freeze", frozen ? "1" : "0"); !e.empty()) return e;
    std::string want = frozen ? "frozen 1" : "frozen 0";
    while (slurp(g.freezer_dir + "/cgroup.events").find(want) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return "the cgroup did not reach \"" + want + "\" within 10 s";
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return {};
  }
  std::string state = frozen ? "FROZEN" : "THAWED";
  std::string file = g.freezer_dir + "/freezer.state";
  for (;;) {
    if (auto e = put(file, state); !e.empty()) return e;
    if (slurp(file).rfind(state, 0) == 0) return {};
    if (std::chrono::steady_clock::now() > deadline) return "the freezer did not reach " + state + " within 10 s";
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

std::uint64_t oom_kills(group const& g) {
  if (g.memory_dir.empty()) return 0;
  if (g.memory_v2) return keyed(slurp(g.memory_dir + "/memory.events"), "oom_kill");
  return keyed(slurp(g.memory_dir + "/memory.oom_control"), "oom_kill");
}

std::vector<std::string> remove(group const& g, int budget_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  std::vector<std::string> left;
  // Thaw first: frozen tasks cannot die.
  if (!g.freezer_dir.empty() && exists(g.freezer_dir)) (void)freeze(g, false);
  for (auto it = g.dirs.rbegin(); it != g.dirs.rend(); ++it) {
    auto const& d = *it;
    for (;;) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY || std::chrono::steady_clock::now() > deadline) { left.push_back(d); break; }
      std::istringstream procs(slurp(d + "/cgroup.procs"));
      pid_t p;
      while (procs >> p) ::kill(p, SIGKILL);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  return left;
}

}  // namespace sbx::local_impl::cg
