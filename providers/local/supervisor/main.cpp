// SPDX-License-Identifier: Apache-2.0
//
// sbx-supervisor: one per local sandbox. Started by the library with posix_spawn (fd 3: the
// creator's control socket, fd 4: the sandbox dir's lock file, already flock()ed), it forks
// once more so that it outlives its creator, then
//   1. reads the sandbox's config (JSON) and the precompiled seccomp program from fd 3;
//   2. enters a private mount namespace of its own (root), creates the cgroups;
//   3. clones the sandbox's pid 1 (this same binary, the "agent") into new user, pid, uts,
//      ipc and net namespaces; writes its uid/gid maps, creates idmapped mounts of the image
//      for it, attaches it to the cgroups and releases it;
//   4. the agent unshares mount and cgroup namespaces, mounts the overlay root, /proc, a
//      minimal /dev, the volumes, masks what must not be seen, pivot_roots and serves exec
//      requests: fork, cap drop, no_new_privs, seccomp, execve;
//   5. the supervisor serves control requests on sandboxes/<id>/sock and kills the sandbox
//      at its deadline, when its session owner goes away, or when asked.
// Wire format: providers/local/src/wire.hpp.

#include "../src/cgroups.hpp"
#include "../src/fsutil.hpp"
#include "../src/wire.hpp"

#include <nlohmann/json.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace wire = sbx::local_impl::wire;
namespace cg = sbx::local_impl::cg;
namespace fsu = sbx::local_impl::fsu;
using json = nlohmann::json;

// error_kind values (include/sbx/error.hpp); the supervisor does not link the core library.
constexpr int kind_unsupported = 0, kind_not_found = 3, kind_invalid_request = 5, kind_create_failed = 6,
              kind_internal = 11;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string errtext(int e) { return std::strerror(e); }

std::int64_t mono_us() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}
// Phase timestamps of create, written to state.json ("timings_us") for benchmarks.
std::vector<std::pair<char const*, std::int64_t>> phases;
void phase(char const* name) { phases.emplace_back(name, mono_us()); }

// Room for the largest message, not zero-filled: its pages are touched only as far as
// messages reach (a vector's 256 KiB of zeroes were resident in every supervisor and every
// pid 1, half a MiB per sandbox).
struct message_buffer {
  std::unique_ptr<char[]> p{new char[wire::max_message]};
  char* data() { return p.get(); }
  static constexpr std::size_t size() { return wire::max_message; }
};

struct layer {
  std::string path;
  bool idmap = false;
};
struct volume {
  std::string src, dst;
  bool ro = false;
};

struct config {
  std::string id, dir, hostname;
  std::int64_t lifetime_ms = 0;  // 0: session
  std::int64_t created_ms = 0;
  json labels = json::object();
  std::vector<std::string> env;
  std::vector<layer> lowers;
  std::vector<volume> volumes;
  cg::limits limits;
  std::uint64_t disk_bytes = 0;
  bool privileged = true;
  bool want_cgroups = true;
  bool pooled = false;  // a warm sandbox: invisible to list and connect until its owner claims it
  uid_t root_uid = 0, host_uid = 0;
  gid_t root_gid = 0, host_gid = 0;
  std::uint32_t id_count = 65536;
  int cap_last = 40;
  std::vector<sock_filter> bpf;
};

// ---------------------------------------------------------------------------------------
// The agent: pid 1 of the sandbox.

// Docker's default capability set.
constexpr int kept_caps[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD,
                             CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP,
                             CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE};

struct agent {
  config const& cfg;
  int ctl;  // to the supervisor
  int ep = -1, sigfd = -1;
  std::vector<std::string> base_env;
  enum class kind { ctl, sig, channel, status, exec_pipe };
  struct entry { kind k; pid_t pid = 0; };
  std::map<int, entry> fds;
  // A command: its status socket (-1 once the client went away), the pipe that closes when
  // execve succeeds (or carries the failure), and a pty master to hand over with `started`.
  struct proc { int status = -1; int exec_pipe = -1; int master = -1; bool want_started = false; };
  std::map<pid_t, proc> procs;
  std::uint64_t kept_mask = 0;
  message_buffer buf;

  [[noreturn]] void fail(int e, std::string const& step) {
    wire::header h{wire::type::agent_failed, e, 0, 0};
    wire::send(ctl, h, step);
    _exit(1);
  }

  void add(int fd, kind k, pid_t pid = 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds[fd] = {k, pid};
  }
  void drop(int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    fds.erase(fd);
    ::close(fd);
  }

  static void mkdirs(std::string const& path) {
    std::string cur;
    std::size_t i = 0;
    while (i < path.size()) {
      std::size_t j = path.find('/', i + 1);
      if (j == std::string::npos) j = path.size();
      cur = path.substr(0, j);
      if (!cur.empty() && cur != "/") ::mkdir(cur.c_str(), 0755);
      i = j;
    }
  }

  // `attached` is readable (one byte) once the supervisor has put us into our cgroups, which
  // it does while we set up the mounts (a v1 cgroup attach waits for an RCU grace period).
  int attached_fd = -1;

  void setup() {
    if (cfg.privileged) {
      if (::setgroups(0, nullptr) != 0) fail(errno, "setgroups in the sandbox");
    }
    if (::setresgid(0, 0, 0) != 0) fail(errno, "setresgid(0) in the sandbox's user namespace");
    if (::setresuid(0, 0, 0) != 0) fail(errno, "setresuid(0) in the sandbox's user namespace");
    if (::unshare(CLONE_NEWNS) != 0) fail(errno, "unshare of the mount namespace");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(errno, "making / private");

    std::string const& d = cfg.dir;
    std::string upper = d + "/upper", work = d + "/work";
    if (cfg.disk_bytes) {
      std::string o = "size=" + std::to_string(cfg.disk_bytes) + ",mode=0755";
      if (::mount("tmpfs", (d + "/upper").c_str(), "tmpfs", MS_NOSUID | MS_NODEV, o.c_str()) != 0)
        fail(errno, "tmpfs mount of " + d + "/upper (disk_bytes)");
      upper = d + "/upper/u";
      work = d + "/upper/w";
      ::mkdir(upper.c_str(), 0755);
      ::mkdir(work.c_str(), 0755);
    }
    std::string lower;
    for (std::size_t i = 0; i < cfg.lowers.size(); ++i) {
      if (i) lower += ':';
      lower += cfg.lowers[i].idmap ? d + "/lower/" + std::to_string(i) : cfg.lowers[i].path;
    }
    std::string opts = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + ",userxattr";
    std::string root = d + "/root";
    phase("a_unshare_ns");
    if (::mount("overlay", root.c_str(), "overlay", 0, opts.c_str()) != 0)
      fail(errno, "overlay mount of " + root + " (" + opts + ")");
    if (::chdir(root.c_str()) != 0) fail(errno, "chdir to " + root);
    for (char const* p : {"proc", "dev", "tmp", "sys"}) ::mkdir(p, 0755);
    // Only when needed: a chmod on the overlay copies the directory up (an ext4 mkdir,
    // xattrs and a rename on create, one more rmdir at teardown), even if the mode is the same.
    if (struct stat tst; ::stat("tmp", &tst) != 0 || (tst.st_mode & 07777) != 01777) ::chmod("tmp", 01777);
    if (::mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) fail(errno, "mount of /proc");
    if (!cfg.privileged) {
      // Unprivileged, the image's files belong to an id outside our single-uid map and the
      // overlay cannot copy them up; fresh tmpfs dirs give the sandbox somewhere to write.
      if (::mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=1g") != 0) fail(errno, "tmpfs mount of /tmp");
      ::mkdir("root", 0700);
      if (::mount("tmpfs", "root", "tmpfs", MS_NOSUID | MS_NODEV, "mode=700,size=256m") != 0) fail(errno, "tmpfs mount of /root");
    }
    if (::mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536") != 0)
      fail(errno, "tmpfs mount of /dev");
    for (char const* n : {"null", "zero", "full", "random", "urandom", "tty"}) {
      std::string dst = std::string("dev/") + n, src = std::string("/dev/") + n;
      int fd = ::open(dst.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
      if (fd >= 0) ::close(fd);
      if (::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) != 0) fail(errno, "bind mount of " + src);
    }
    ::symlink("/proc/self/fd", "dev/fd");
    ::symlink("/proc/self/fd/0", "dev/stdin");
    ::symlink("/proc/self/fd/1", "dev/stdout");
    ::symlink("/proc/self/fd/2", "dev/stderr");
    ::symlink("pts/ptmx", "dev/ptmx");
    ::mkdir("dev/pts", 0755);
    ::mkdir("dev/shm", 01777);
    std::string pts = cfg.privileged ? "newinstance,ptmxmode=0666,mode=0620,gid=5" : "newinstance,ptmxmode=0666,mode=0620";
    if (::mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, pts.c_str()) != 0) fail(errno, "devpts mount of /dev/pts");
    if (::mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) fail(errno, "tmpfs mount of /dev/shm");

    // Volume sources are opened now (host paths) and bound after pivot_root, so that a
    // symlink in the image at the mount path resolves inside the sandbox, never on the host.
    std::vector<int> vol_fds;
    for (std::size_t i = 0; i < cfg.volumes.size(); ++i) {
      std::string src = cfg.privileged ? d + "/vol/" + std::to_string(i) : cfg.volumes[i].src;
      // A detached clone of the mount, not an O_PATH fd: the lazy detach of the host root
      // below would take a plain fd's mount with it, and binding it later fails (EINVAL).
      int fd = static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, src.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
      if (fd < 0) fail(errno, "opening volume " + cfg.volumes[i].src);
      vol_fds.push_back(fd);
    }

    phase("a_mounts");
    if (::syscall(SYS_pivot_root, ".", ".") != 0) fail(errno, "pivot_root into " + root);
    if (::umount2(".", MNT_DETACH) != 0) fail(errno, "detaching the host root");
    if (::chdir("/") != 0) fail(errno, "chdir to /");
    phase("a_pivot");

    for (std::size_t i = 0; i < cfg.volumes.size(); ++i) {
      auto const& v = cfg.volumes[i];
      mkdirs(v.dst);
      if (::syscall(SYS_move_mount, vol_fds[i], "", AT_FDCWD, v.dst.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
        fail(errno, "bind mount of volume " + v.src + " at " + v.dst);
      unsigned long fl = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (v.ro ? MS_RDONLY : 0);
      if (::mount(nullptr, v.dst.c_str(), nullptr, fl, nullptr) != 0) fail(errno, "remount of volume at " + v.dst);
      ::close(vol_fds[i]);
    }

    // What containers mask: kernel memory, keys, timers, the sysrq trigger; /proc/sys and
    // friends read-only.
    for (char const* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/latency_stats",
                          "/proc/sched_debug", "/proc/kallsyms", "/proc/kmsg", "/proc/sysrq-trigger"}) {
      struct stat st;
      if (::lstat(p, &st) != 0) continue;
      if (::mount("/dev/null", p, nullptr, MS_BIND, nullptr) != 0) fail(errno, std::string("masking ") + p);
    }
    for (char const* p : {"/proc/acpi", "/proc/scsi"}) {
      struct stat st;
      if (::lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      if (::mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") != 0)
        fail(errno, std::string("masking ") + p);
    }
    for (char const* p : {"/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq"}) {
      struct stat st;
      if (::lstat(p, &st) != 0) continue;
      if (::mount(p, p, nullptr, MS_BIND | MS_REC, nullptr) != 0) fail(errno, std::string("bind of ") + p);
      if (::mount(nullptr, p, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        fail(errno, std::string("read-only remount of ") + p);
    }
    phase("a_masks");
    if (::sethostname(cfg.hostname.data(), cfg.hostname.size()) != 0) fail(errno, "sethostname");
    // The loopback interface of the (empty) network namespace.
    {
      int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (s >= 0) {
        ifreq ifr{};
        std::strcpy(ifr.ifr_name, "lo");
        if (::ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
          ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
          if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) fail(errno, "bringing up lo");
        }
        ::close(s);
      }
    }
    // Without cgroups the pids limit falls back to RLIMIT_NPROC, which the kernel counts per
    // user namespace.
    if (!cfg.want_cgroups) {
      rlimit rl{cfg.limits.pids_max, cfg.limits.pids_max};
      ::setrlimit(RLIMIT_NPROC, &rl);
    }
    char x;
    if (::read(attached_fd, &x, 1) != 1) _exit(0);
    ::close(attached_fd);
    if (::unshare(CLONE_NEWCGROUP) != 0) fail(errno, "unshare of the cgroup namespace");
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    base_env = cfg.env;
    for (int c : kept_caps) kept_mask |= 1ULL << c;
    // Hardening that every command inherits, applied once here in pid 1 rather than in each
    // forked child: the bounding set (so that execve as root yields only Docker's default
    // capabilities), no_new_privs and the seccomp filter. Pid 1 itself needs nothing they
    // take away from here on: it forks, opens terminals and sends signals.
    for (int c = 0; c <= cfg.cap_last; ++c)
      if (!(kept_mask & (1ULL << c)) && ::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
        fail(errno, "capability bounding set drop");
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    {
      __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
      __user_cap_data_struct data[2]{};
      if (::syscall(SYS_capget, &hdr, data) != 0) fail(errno, "capget");
      data[0].inheritable = data[1].inheritable = 0;
      if (::syscall(SYS_capset, &hdr, data) != 0) fail(errno, "capset");
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(errno, "no_new_privs");
    if (!cfg.bpf.empty()) {
      sock_fprog prog{static_cast<unsigned short>(cfg.bpf.size()), const_cast<sock_filter*>(cfg.bpf.data())};
      if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) fail(errno, "loading the seccomp filter");
    }
  }

  // In the vforked child (sharing pid 1's memory until execve): only what a command needs
  // before execve, and nothing that returns.
  [[noreturn]] void child(int report, int in, int out, int err, bool pty, int pty_slave_no, std::string const& cwd,
                          std::vector<char*>& argv, std::vector<char*>& envp) {
    auto die = [&](int e, char const* step) {
      char msg[64];
      std::memcpy(msg, &e, sizeof e);
      std::size_t n = std::strlen(step);
      if (n > sizeof msg - sizeof e) n = sizeof msg - sizeof e;
      std::memcpy(msg + sizeof e, step, n);
      (void)!::write(report, msg, sizeof e + n);
      _exit(127);
    };
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::setsid();
    if (pty) {
      char name[64];
      std::snprintf(name, sizeof name, "/dev/pts/%d", pty_slave_no);
      int s = ::open(name, O_RDWR);
      if (s < 0) die(errno, "open of the terminal");
      if (::ioctl(s, TIOCSCTTY, 0) != 0) die(errno, "TIOCSCTTY");
      ::dup2(s, 0);
      ::dup2(s, 1);
      ::dup2(s, 2);
      if (s > 2) ::close(s);
    } else {
      int null = -1;
      auto get_null = [&] { if (null < 0) null = ::open("/dev/null", O_RDWR | O_CLOEXEC); return null; };
      ::dup2(in >= 0 ? in : get_null(), 0);
      ::dup2(out >= 0 ? out : get_null(), 1);
      ::dup2(err >= 0 ? err : get_null(), 2);
    }
    if (cfg.privileged) {
      int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
      if (fd >= 0) { (void)!::write(fd, "0", 1); ::close(fd); }
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) die(errno, "chdir");
    environ = envp.data();
    ::execvpe(argv[0], argv.data(), envp.data());
    die(errno, "exec");
    _exit(127);
  }

  void handle_exec(int chan) {
    wire::header h{};
    std::string payload;
    std::vector<int> got;
    int r = wire::recv(chan, h, &payload, &got, buf.data(), buf.size());
    if (r != 0) {
      for (int x : got) ::close(x);
      drop(chan);
      return;
    }
    if (h.kind != wire::type::exec || got.empty()) {
      for (int x : got) ::close(x);
      return;
    }
    int status = got[0];
    std::size_t next = 1;
    auto take = [&](int flag) { return (h.code & flag) && next < got.size() ? got[next++] : -1; };
    int in = take(wire::has_stdin), out = take(wire::has_stdout), err = take(wire::has_stderr);
    for (std::size_t i = next; i < got.size(); ++i) ::close(got[i]);
    bool pty = h.code & wire::use_pty;

    // payload: u16 cols, u16 rows, then argc argv strings, envc env strings, cwd
    std::vector<std::string> strs;
    std::uint16_t cols = 80, rows = 24;
    if (payload.size() >= 4) {
      std::memcpy(&cols, payload.data(), 2);
      std::memcpy(&rows, payload.data() + 2, 2);
      std::size_t p = 4;
      while (p < payload.size()) {
        std::size_t e = payload.find('\0', p);
        if (e == std::string::npos) e = payload.size();
        strs.emplace_back(payload, p, e - p);
        p = e + 1;
      }
    }
    std::size_t argc = static_cast<std::size_t>(h.a), envc = static_cast<std::size_t>(h.b);
    auto reject = [&](int e, char const* why) {
      wire::header f{wire::type::failed, e, 0, 0};
      wire::send(status, f, why);
      wire::header x{wire::type::exited, 0, 127 << 8, 0};
      wire::send(status, x);
      for (int fd : {status, in, out, err}) if (fd >= 0) ::close(fd);
    };
    if (argc == 0 || strs.size() < argc + envc + 1) return reject(EINVAL, "malformed exec request");
    std::vector<std::string> env = base_env;
    for (std::size_t i = 0; i < envc; ++i) {
      std::string const& kv = strs[argc + i];
      auto eq = kv.find('=');
      std::string key = kv.substr(0, eq + 1);
      bool replaced = false;
      for (auto& e : env)
        if (e.compare(0, key.size(), key) == 0) { e = kv; replaced = true; break; }
      if (!replaced) env.push_back(kv);
    }
    std::vector<char*> argv, envp;
    for (std::size_t i = 0; i < argc; ++i) argv.push_back(strs[i].data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string const& cwd = strs[argc + envc];

    int master = -1, slave_no = -1;
    if (pty) {
      master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (master < 0) return reject(errno, "open of /dev/ptmx");
      int unlock = 0;
      if (::ioctl(master, TIOCSPTLCK, &unlock) != 0 || ::ioctl(master, TIOCGPTN, &slave_no) != 0) {
        int e = errno;
        ::close(master);
        return reject(e, "pty setup");
      }
      winsize ws{rows, cols, 0, 0};
      ::ioctl(master, TIOCSWINSZ, &ws);
    }
    int ep2[2];
    if (::pipe2(ep2, O_CLOEXEC) != 0) {
      int e = errno;
      if (master >= 0) ::close(master);
      return reject(e, "pipe");
    }
    pid_t pid = ::vfork();
    if (pid < 0) {
      int e = errno;
      if (master >= 0) ::close(master);
      ::close(ep2[0]);
      ::close(ep2[1]);
      return reject(e, "fork");
    }
    if (pid == 0) child(ep2[1], in, out, err, pty, slave_no, cwd, argv, envp);
    ::close(ep2[1]);
    for (int fd : {in, out, err}) if (fd >= 0) ::close(fd);
    procs[pid] = proc{status, ep2[0], master, (h.code & wire::want_started) != 0};
    add(status, kind::status, pid);
    // exec only needs to hear how the command ended (a failed execve is read at reap time);
    // spawn and pty want to know as soon as it runs.
    if (h.code & wire::want_started) add(ep2[0], kind::exec_pipe, pid);
  }

  // The command's execve succeeded (its exec pipe closed empty) or failed (the pipe carries
  // errno and the step): tell the client.
  void resolve(pid_t pid) {
    auto it = procs.find(pid);
    if (it == procs.end() || it->second.exec_pipe < 0) return;
    proc& p = it->second;
    char msg[64];
    ssize_t n;
    while ((n = ::read(p.exec_pipe, msg, sizeof msg)) < 0 && errno == EINTR) {}
    if (fds.count(p.exec_pipe)) drop(p.exec_pipe);
    else ::close(p.exec_pipe);
    p.exec_pipe = -1;
    if (p.status >= 0) {
      if (n >= static_cast<ssize_t>(sizeof(int))) {
        int e;
        std::memcpy(&e, msg, sizeof e);
        wire::header f{wire::type::failed, e, pid, 0};
        wire::send(p.status, f, std::string_view(msg + sizeof e, static_cast<std::size_t>(n) - sizeof e));
      } else if (p.want_started) {
        wire::header s{wire::type::started, 0, pid, 0};
        wire::send(p.status, s, {}, p.master >= 0 ? &p.master : nullptr, p.master >= 0 ? 1 : 0);
      }
    }
    if (p.master >= 0) ::close(p.master);
    p.master = -1;
  }

  void reap() {
    signalfd_siginfo si;
    while (::read(sigfd, &si, sizeof si) == sizeof si) {}
    int st;
    pid_t p;
    while ((p = ::waitpid(-1, &st, WNOHANG)) > 0) {
      auto it = procs.find(p);
      if (it == procs.end()) continue;
      resolve(p);
      if (it->second.status >= 0) {
        wire::header h{wire::type::exited, 0, st, 0};
        wire::send(it->second.status, h);
        drop(it->second.status);
      }
      procs.erase(it);
    }
  }

  void handle_status(int fd, pid_t pid) {
    wire::header h{};
    int r = wire::recv(fd, h, nullptr, nullptr, buf.data(), buf.size());
    if (r == 0 && h.kind == wire::type::signal) {
      if (::kill(-pid, static_cast<int>(h.a)) != 0) ::kill(pid, static_cast<int>(h.a));
      return;
    }
    if (r == 0) return;
    // The client went away: its command goes with it.
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    if (auto it = procs.find(pid); it != procs.end()) it->second.status = -1;
    drop(fd);
  }

  [[noreturn]] void serve() {
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &ss, nullptr);
    sigfd = ::signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
    ::signal(SIGPIPE, SIG_IGN);
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    add(ctl, kind::ctl);
    add(sigfd, kind::sig);
    phase("a_hardened");
    std::string t;
    for (auto const& [n, v] : phases)
      if (n[0] == 'a' && n[1] == '_') t += std::string(n) + "=" + std::to_string(v) + ",";
    wire::header ready{wire::type::agent_ready, 0, mono_us(), 0};
    wire::send(ctl, ready, t);
    epoll_event evs[64];
    for (;;) {
      int n = ::epoll_wait(ep, evs, 64, -1);
      if (n < 0 && errno == EINTR) continue;
      for (int i = 0; i < n; ++i) {
        int fd = evs[i].data.fd;
        auto it = fds.find(fd);
        if (it == fds.end()) continue;
        entry e = it->second;
        switch (e.k) {
          case kind::sig: reap(); break;
          case kind::channel: handle_exec(fd); break;
          case kind::status: handle_status(fd, e.pid); break;
          case kind::exec_pipe: resolve(e.pid); break;
          case kind::ctl: {
            wire::header h{};
            std::vector<int> got;
            std::string env_msg;
            int r = wire::recv(fd, h, &env_msg, &got, buf.data(), buf.size());
            if (r != 0) _exit(0);  // the supervisor is gone
            if (h.kind == wire::type::channel && !got.empty()) {
              add(got[0], kind::channel);
              for (std::size_t k = 1; k < got.size(); ++k) ::close(got[k]);
            } else if (h.kind == wire::type::set_env) {
              // A warm sandbox claimed for a request: its environment from now on.
              for (int x : got) ::close(x);
              base_env.clear();
              for (std::size_t p = 0; p < env_msg.size();) {
                std::size_t e = env_msg.find('\0', p);
                if (e == std::string::npos) e = env_msg.size();
                if (e > p) base_env.emplace_back(env_msg, p, e - p);
                p = e + 1;
              }
              wire::header ok{wire::type::ok, 0, 0, 0};
              wire::send(fd, ok);
            } else {
              for (int x : got) ::close(x);
            }
            break;
          }
        }
      }
    }
  }
};

// ---------------------------------------------------------------------------------------
// The supervisor.

struct supervisor {
  config cfg;
  int creator = 3, lock_fd = 4;
  cg::layout layout;
  cg::group group;
  pid_t init = -1;
  int agent_sock = -1;
  int listen_fd = -1, sigfd = -1, timer = -1;
  std::int64_t expires_ms = 0;  // 0: none
  bool paused = false;
  std::vector<int> clients;  // control connections; creator is one of them
  int owner = -1;
  std::vector<std::string> attached;  // mounts made in our private namespace
  message_buffer buf;

  void reply_error(int fd, int kind, std::string const& msg) {
    wire::header h{wire::type::error, kind, 0, 0};
    wire::send(fd, h, msg);
  }

  [[noreturn]] void fail_create(int kind, std::string const& msg) {
    reply_error(creator, kind, msg);
    cleanup();
    _exit(1);
  }

  void cleanup() {
    if (init > 0) {
      ::kill(init, SIGKILL);
      int st;
      while (::waitpid(init, &st, 0) < 0 && errno == EINTR) {}
      init = -1;
    }
    cg::remove(group);
    for (auto it = attached.rbegin(); it != attached.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    attached.clear();
    ::unlink((cfg.dir + "/state.json").c_str());
  }

  // `atomic`: through a temporary file and a rename, for readers of a listed sandbox. The
  // first write (not ready, only for gc) goes straight to the file: one rename fewer.
  void write_state(bool ready = true, bool atomic = true) {
    json s;
    s["ready"] = ready && !cfg.pooled;
    s["pooled"] = cfg.pooled;
    s["id"] = cfg.id;
    s["supervisor_pid"] = ::getpid();
    s["init_pid"] = init;
    s["root_uid"] = cfg.root_uid;
    s["root_gid"] = cfg.root_gid;
    s["created_ms"] = cfg.created_ms;
    s["expires_ms"] = expires_ms ? json(expires_ms) : json(nullptr);
    s["labels"] = cfg.labels;
    s["paused"] = paused;
    json t = json::object();
    for (auto const& [n, v] : phases) t[n] = v - phases.front().second;
    s["timings_us"] = t;
    s["timings_origin_us"] = phases.empty() ? 0 : phases.front().second;  // CLOCK_MONOTONIC
    s["hostname"] = cfg.hostname;
    json lowers = json::array();
    for (auto const& l : cfg.lowers) lowers.push_back(l.path);
    s["lowers"] = lowers;
    s["upper"] = cfg.dir + "/upper";
    s["cgroup"] = {{"dirs", group.dirs},         {"memory", group.memory_dir}, {"memory_v2", group.memory_v2},
                   {"pids", group.pids_dir},     {"pids_v2", group.pids_v2},   {"cpu", group.cpu_dir},
                   {"cpu_v2", group.cpu_v2},     {"freezer", group.freezer_dir}, {"freezer_v2", group.freezer_v2}};
    if (atomic) {
      fsu::write_atomic(cfg.dir + "/state.json", s.dump(), 0600);
      return;
    }
    std::string text = s.dump();
    int fd = ::open((cfg.dir + "/state.json").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    (void)!::write(fd, text.data(), text.size());
    ::close(fd);
  }

  void read_config() {
    wire::header h{};
    std::string payload;
    if (wire::recv(creator, h, &payload, nullptr, buf.data(), buf.size()) != 0) _exit(2);
    json j = json::parse(payload, nullptr, false);
    if (j.is_discarded()) { reply_error(creator, kind_internal, "supervisor: malformed config"); _exit(2); }
    cfg.id = j.at("id");
    cfg.dir = j.at("dir");
    cfg.hostname = j.at("hostname");
    cfg.lifetime_ms = j.at("lifetime_ms");
    cfg.created_ms = j.at("created_ms");
    cfg.labels = j.at("labels");
    cfg.env = j.at("env").get<std::vector<std::string>>();
    for (auto const& l : j.at("lowers")) cfg.lowers.push_back({l.at("path"), l.at("idmap")});
    for (auto const& v : j.at("volumes")) cfg.volumes.push_back({v.at("src"), v.at("dst"), v.at("ro")});
    if (j.at("memory").get<std::uint64_t>()) cfg.limits.memory_bytes = j.at("memory").get<std::uint64_t>();
    if (j.at("cpus").get<double>() > 0) cfg.limits.cpus = j.at("cpus").get<double>();
    cfg.limits.pids_max = j.at("pids_max");
    cfg.disk_bytes = j.at("disk_bytes");
    cfg.privileged = j.at("privileged");
    cfg.want_cgroups = j.at("cgroups");
    cfg.root_uid = j.at("root_uid");
    cfg.root_gid = j.at("root_gid");
    cfg.host_uid = j.at("host_uid");
    cfg.host_gid = j.at("host_gid");
    cfg.id_count = j.at("id_count");
    cfg.cap_last = j.at("cap_last");
    cfg.pooled = j.value("pooled", false);
    // The seccomp program, precompiled by the library, as raw sock_filter records.
    if (wire::recv(creator, h, &payload, nullptr, buf.data(), buf.size()) != 0) _exit(2);
    cfg.bpf.resize(payload.size() / sizeof(sock_filter));
    std::memcpy(cfg.bpf.data(), payload.data(), cfg.bpf.size() * sizeof(sock_filter));
  }

  static int write_file(std::string const& path, std::string const& s) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    int e = ::write(fd, s.data(), s.size()) < 0 ? errno : 0;
    ::close(fd);
    return e;
  }

  // An idmapped (or plain, when `userns` < 0), read-only clone of `src` attached at `dst`
  // in our private mount namespace.
  void attach_tree(std::string const& src, std::string const& dst, int userns, bool ro) {
    int fd = static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, src.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (fd < 0) fail_create(kind_create_failed, "open_tree of " + src + " failed: " + errtext(errno));
    mount_attr a{};
    if (userns >= 0) { a.attr_set |= MOUNT_ATTR_IDMAP; a.userns_fd = static_cast<std::uint64_t>(userns); }
    if (ro) a.attr_set |= MOUNT_ATTR_RDONLY;
    a.attr_set |= MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if (::syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof a) != 0)
      fail_create(kind_create_failed, "idmapped mount of " + src + " failed: " + errtext(errno));
    ::mkdir(dst.c_str(), 0755);
    if (::syscall(SYS_move_mount, fd, "", AT_FDCWD, dst.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
      fail_create(kind_create_failed, "move_mount of " + src + " to " + dst + " failed: " + errtext(errno));
    ::close(fd);
    attached.push_back(dst);
  }

  void create() {
    phase("config_read");
    std::string const& d = cfg.dir;
    // Mount points for the idmapped image and the volumes only where there are some: every
    // directory here is an ext4 mkdir now and an rmdir at teardown.
    bool idmapped = false;
    for (auto const& l : cfg.lowers) idmapped = idmapped || l.idmap;
    for (char const* sub : {"/upper", "/work", "/root", "/lower", "/vol"}) {
      if ((sub[1] == 'l' && !(cfg.privileged && idmapped)) || (sub[1] == 'v' && !(cfg.privileged && !cfg.volumes.empty()))) continue;
      std::string p = d + sub;
      if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST)
        fail_create(kind_create_failed, "mkdir " + p + " failed: " + errtext(errno));
    }
    if (cfg.privileged) {
      for (char const* sub : {"/upper", "/work"})
        if (::chown((d + sub).c_str(), cfg.root_uid, cfg.root_gid) != 0)
          fail_create(kind_create_failed, "chown of " + d + sub + " failed: " + errtext(errno));
      if (::unshare(CLONE_NEWNS) != 0) fail_create(kind_create_failed, "unshare of the supervisor's mount namespace failed: " + errtext(errno));
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        fail_create(kind_create_failed, "making the supervisor's mounts private failed: " + errtext(errno));
    }
    phase("mount_ns");
    if (cfg.want_cgroups) {
      layout = cg::detect();
      if (auto e = cg::create(layout, cfg.id, cfg.limits, group); !e.empty()) fail_create(kind_create_failed, e);
      write_state(false, false);  // so that gc finds the cgroups even if we die during setup
    }

    phase("cgroups");
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
      fail_create(kind_create_failed, "socketpair failed: " + errtext(errno));
    int rel[2];
    if (::pipe2(rel, O_CLOEXEC) != 0) fail_create(kind_create_failed, "pipe failed: " + errtext(errno));

    if (!group.dirs.empty())
      if (auto e = cg::enter_v1(layout, group); !e.empty()) fail_create(kind_create_failed, e);
    long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD;
    pid_t pid = static_cast<pid_t>(::syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr));
    int clone_errno = errno;
    if (pid != 0 && !group.dirs.empty())
      if (auto e = cg::leave_v1(layout, group); !e.empty()) fail_create(kind_create_failed, e);
    if (pid < 0) fail_create(kind_create_failed, "clone of the sandbox's namespaces failed: " + errtext(clone_errno));
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      ::close(sp[0]);
      ::close(rel[1]);
      ::close(creator);
      ::close(lock_fd);
      char x;
      if (::read(rel[0], &x, 1) != 1) _exit(0);  // the supervisor died before releasing us
      agent a{cfg, sp[1]};
      a.attached_fd = rel[0];
      a.setup();
      a.serve();
    }
    phase("clone");
    init = pid;
    ::close(sp[1]);
    ::close(rel[0]);
    agent_sock = sp[0];

    std::string proc = "/proc/" + std::to_string(pid);
    if (cfg.privileged) {
      std::string m = "0 " + std::to_string(cfg.root_uid) + " " + std::to_string(cfg.id_count);
      if (int e = write_file(proc + "/uid_map", m)) fail_create(kind_create_failed, "writing uid_map \"" + m + "\" failed: " + errtext(e));
      m = "0 " + std::to_string(cfg.root_gid) + " " + std::to_string(cfg.id_count);
      if (int e = write_file(proc + "/gid_map", m)) fail_create(kind_create_failed, "writing gid_map \"" + m + "\" failed: " + errtext(e));
      write_file(proc + "/oom_score_adj", "-1000");
    } else {
      std::string m = "0 " + std::to_string(cfg.host_uid) + " 1";
      if (int e = write_file(proc + "/uid_map", m)) fail_create(kind_create_failed, "writing uid_map \"" + m + "\" failed: " + errtext(e));
      write_file(proc + "/setgroups", "deny");
      m = "0 " + std::to_string(cfg.host_gid) + " 1";
      if (int e = write_file(proc + "/gid_map", m)) fail_create(kind_create_failed, "writing gid_map \"" + m + "\" failed: " + errtext(e));
    }
    if (cfg.privileged) {
      int userns = ::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC);
      if (userns < 0) fail_create(kind_create_failed, "opening the sandbox's user namespace failed: " + errtext(errno));
      for (std::size_t i = 0; i < cfg.lowers.size(); ++i)
        if (cfg.lowers[i].idmap) attach_tree(cfg.lowers[i].path, d + "/lower/" + std::to_string(i), userns, true);
      ::close(userns);
      for (std::size_t i = 0; i < cfg.volumes.size(); ++i) {
        auto const& v = cfg.volumes[i];
        // A fresh volume belongs to host root; the sandbox's root must own its top directory.
        struct stat st;
        if (::stat(v.src.c_str(), &st) == 0 && st.st_uid == 0 && st.st_gid == 0)
          (void)::chown(v.src.c_str(), cfg.root_uid, cfg.root_gid);
        attach_tree(v.src, d + "/vol/" + std::to_string(i), -1, false);
      }
    }
    phase("maps_idmap");
    if (::write(rel[1], "x", 1) != 1) fail_create(kind_create_failed, "releasing the sandbox's init failed: " + errtext(errno));
    if (!group.dirs.empty())
      if (auto e = cg::attach_v2(layout, group, pid); !e.empty()) fail_create(kind_create_failed, e);
    phase("attached");
    if (::write(rel[1], "x", 1) != 1) fail_create(kind_create_failed, "releasing the sandbox's init failed: " + errtext(errno));
    ::close(rel[1]);

    phase("released");
    // Wait for the agent's verdict.
    pollfd p{agent_sock, POLLIN, 0};
    int n = ::poll(&p, 1, 30000);
    if (n <= 0) fail_create(kind_create_failed, "the sandbox's init did not report within 30 s");
    wire::header h{};
    std::string msg;
    int r = wire::recv(agent_sock, h, &msg, nullptr, buf.data(), buf.size());
    if (r != 0) {
      int st = 0;
      ::waitpid(init, &st, 0);
      init = -1;
      fail_create(kind_create_failed, "the sandbox's init exited during setup (status " + std::to_string(st) + ")");
    }
    if (h.kind == wire::type::agent_failed) {
      int k = (h.code == ENOENT && msg.rfind("opening volume", 0) == 0) ? kind_not_found : kind_create_failed;
      fail_create(k, msg + " failed: " + errtext(h.code));
    }
    phase("agent_ready");
    {
      static std::deque<std::string> names;  // phase() keeps the pointer
      std::size_t p = 0;
      while (p < msg.size()) {
        auto eq = msg.find('=', p), comma = msg.find(',', p);
        if (eq == std::string::npos || comma == std::string::npos) break;
        names.push_back(msg.substr(p, eq - p));
        phases.emplace_back(names.back().c_str(), std::stoll(msg.substr(eq + 1, comma - eq - 1)));
        p = comma + 1;
      }
    }
    // The image mounts in our own namespace stay until terminate(): unmounting costs an RCU
    // grace period, which does not belong on the create path.

    // The control socket others connect to.
    std::string sock = d + "/sock";
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (sock.size() >= sizeof a.sun_path)
      fail_create(kind_invalid_request, "the state dir path is too long for a unix socket: " + sock);
    std::memcpy(a.sun_path, sock.c_str(), sock.size() + 1);
    listen_fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ::unlink(sock.c_str());
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd, 64) != 0)
      fail_create(kind_create_failed, "listening on " + sock + " failed: " + errtext(errno));
    ::chmod(sock.c_str(), 0600);

    if (cfg.lifetime_ms > 0) {
      expires_ms = cfg.created_ms + cfg.lifetime_ms;
      timer = ::timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
      arm_timer();
    }
    phase("listening");
    write_state();
    // Ready: hand the creator its exec channel.
    int ch = new_channel();
    wire::header ok{wire::type::ready, 0, init, expires_ms};
    wire::send(creator, ok, {}, &ch, ch >= 0 ? 1 : 0);
    if (ch >= 0) ::close(ch);
    clients.push_back(creator);
    owner = creator;
  }

  void arm_timer() {
    itimerspec its{};
    its.it_value.tv_sec = expires_ms / 1000;
    its.it_value.tv_nsec = (expires_ms % 1000) * 1000000;
    ::timerfd_settime(timer, TFD_TIMER_ABSTIME, &its, nullptr);
  }

  // A new exec channel: one end goes to the agent, the other is returned.
  int new_channel() {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) return -1;
    wire::header h{wire::type::channel, 0, 0, 0};
    wire::send(agent_sock, h, {}, &sp[1], 1);
    ::close(sp[1]);
    return sp[0];
  }

  [[noreturn]] void terminate(int requester) {
    // Order matters for observers: the state file and the socket go first (list and connect
    // no longer see the sandbox), then pid 1 is SIGKILLed, which kills every process of the
    // pid namespace, and the requester hears back. Reaping (the kernel tears the mount and
    // network namespaces down inside pid 1's exit: overlay unmount, RCU grace periods),
    // removing the cgroups and the files happen after the reply, while we still hold the
    // lock, so gc leaves us alone until we are done.
    ::unlink((cfg.dir + "/state.json").c_str());
    ::unlink((cfg.dir + "/sock").c_str());
    if (listen_fd >= 0) ::close(listen_fd);
    if (init > 0) ::kill(init, SIGKILL);
    if (requester >= 0) {
      wire::header h{wire::type::ok, 0, 0, 0};
      wire::send(requester, h);
    }
    for (int c : clients) ::close(c);
    clients.clear();
    if (init > 0) {
      int st;
      while (::waitpid(init, &st, 0) < 0 && errno == EINTR) {}
      init = -1;
    }
    cg::remove(group);
    for (auto it = attached.rbegin(); it != attached.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    fsu::remove_tree(cfg.dir);
    _exit(0);
  }

  // The owner takes this warm sandbox for a request: the request's limits go into its
  // cgroups, its environment into the agent, its labels and lifetime into our state, and from
  // now on list and connect see it. Until then it was exactly a fresh sandbox that had run
  // nothing, with the default limits.
  void claim(int fd, wire::header const& h) {
    (void)h;
    if (!cfg.pooled || fd != owner) return reply_error(fd, kind_invalid_request, "claim: sandbox " + cfg.id + " is not a warm sandbox of this client");
    json j = json::parse(claim_payload, nullptr, false);
    if (!j.is_object()) return reply_error(fd, kind_internal, "claim: malformed request");
    cg::limits lim;
    if (j.value("memory", std::uint64_t{0})) lim.memory_bytes = j.value("memory", std::uint64_t{0});
    if (j.value("cpus", 0.0) > 0) lim.cpus = j.value("cpus", 0.0);
    lim.pids_max = j.value("pids_max", std::uint32_t{1024});
    // Only what differs from the warm sandbox's defaults is written.
    bool same = lim.memory_bytes == cfg.limits.memory_bytes && lim.cpus == cfg.limits.cpus && lim.pids_max == cfg.limits.pids_max;
    if (!group.dirs.empty() && !same)
      if (auto e = cg::set_limits(layout, group, lim); !e.empty()) return reply_error(fd, kind_create_failed, e);
    cfg.limits = lim;
    auto env = j.at("env").get<std::vector<std::string>>();
    if (env != cfg.env) {
      std::string env_payload;
      for (auto const& e : env) wire::put_string(env_payload, e);
      wire::header se{wire::type::set_env, 0, 0, 0};
      if (wire::send(agent_sock, se, env_payload) != 0) return reply_error(fd, kind_create_failed, "claim: the sandbox's init is gone");
      pollfd p{agent_sock, POLLIN, 0};
      wire::header ack{};
      if (::poll(&p, 1, 10000) <= 0 || wire::recv(agent_sock, ack, nullptr, nullptr, buf.data(), buf.size()) != 0 ||
          ack.kind != wire::type::ok)
        return reply_error(fd, kind_create_failed, "claim: the sandbox's init did not take the environment");
      cfg.env = std::move(env);
    }
    cfg.labels = j.value("labels", json::object());
    cfg.created_ms = j.value("created_ms", now_ms());
    cfg.lifetime_ms = j.value("lifetime_ms", std::int64_t{0});
    if (cfg.lifetime_ms > 0) {
      expires_ms = cfg.created_ms + cfg.lifetime_ms;
      if (timer < 0) timer = ::timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
      arm_timer();
    }
    cfg.pooled = false;
    write_state();
    wire::header ok{wire::type::ok, 0, init, expires_ms};
    wire::send(fd, ok);
  }
  std::string claim_payload;

  void handle(int fd) {
    wire::header h{};
    std::vector<int> got;
    int r = wire::recv(fd, h, &claim_payload, &got, buf.data(), buf.size());
    for (int x : got) ::close(x);
    if (r != 0) {
      bool was_owner = fd == owner;
      ::close(fd);
      std::erase(clients, fd);
      if (was_owner) {
        owner = -1;
        if (cfg.lifetime_ms == 0) terminate(-1);  // a session sandbox dies with its creator
      }
      return;
    }
    wire::header ok{wire::type::ok, 0, 0, 0};
    if (cfg.pooled && fd != owner) return reply_error(fd, kind_not_found, "no sandbox " + cfg.id);
    switch (h.kind) {
      case wire::type::claim: return claim(fd, h);
      case wire::type::hello: {
        int ch = new_channel();
        ok.a = init;
        ok.b = expires_ms;
        wire::send(fd, ok, {}, &ch, ch >= 0 ? 1 : 0);
        if (ch >= 0) ::close(ch);
        return;
      }
      case wire::type::info:
        ok.a = paused ? 1 : 0;
        ok.b = expires_ms;
        wire::send(fd, ok);
        return;
      case wire::type::extend:
        if (cfg.lifetime_ms == 0)
          return reply_error(fd, kind_invalid_request,
                             "extend_timeout: sandbox " + cfg.id + " has a session lifetime; it has no deadline to move");
        expires_ms = now_ms() + h.a;
        arm_timer();
        write_state();
        ok.b = expires_ms;
        wire::send(fd, ok);
        return;
      case wire::type::kill: terminate(fd);
      case wire::type::pause:
      case wire::type::resume: {
        bool want = h.kind == wire::type::pause;
        if (group.freezer_dir.empty())
          return reply_error(fd, kind_unsupported, "pause/resume: no freezer cgroup is available on this host");
        if (auto e = cg::freeze(group, want); !e.empty()) return reply_error(fd, kind_internal, e);
        paused = want;
        write_state();
        wire::send(fd, ok);
        return;
      }
      default: return reply_error(fd, kind_invalid_request, "unknown request");
    }
  }

  [[noreturn]] void serve() {
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGCHLD);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    ::sigprocmask(SIG_BLOCK, &ss, nullptr);
    sigfd = ::signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
    std::vector<pollfd> pfds;
    for (;;) {
      pfds.clear();
      pfds.push_back({listen_fd, POLLIN, 0});
      pfds.push_back({sigfd, POLLIN, 0});
      pfds.push_back({agent_sock, POLLIN, 0});
      pfds.push_back({timer, POLLIN, 0});
      for (int c : clients) pfds.push_back({c, POLLIN, 0});
      int n = ::poll(pfds.data(), pfds.size(), -1);
      if (n < 0) continue;
      if (pfds[1].revents) {
        signalfd_siginfo si;
        while (::read(sigfd, &si, sizeof si) == sizeof si) {
          if (si.ssi_signo != SIGCHLD) terminate(-1);
        }
        int st;
        pid_t p;
        while ((p = ::waitpid(-1, &st, WNOHANG)) > 0)
          if (p == init) { init = -1; terminate(-1); }
      }
      if (pfds[2].revents) terminate(-1);  // the agent's socket closed: it died
      if (timer >= 0 && pfds[3].revents) {
        std::uint64_t x;
        (void)!::read(timer, &x, sizeof x);
        if (now_ms() >= expires_ms) terminate(-1);
      }
      if (pfds[0].revents & POLLIN) {
        for (;;) {
          int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (c < 0) break;
          clients.push_back(c);
        }
      }
      for (std::size_t i = 4; i < pfds.size(); ++i)
        if (pfds[i].revents) handle(pfds[i].fd);
    }
  }
};

}  // namespace

int main() {
  // Only fds 0-4 are ours; anything else leaked from a multithreaded creator is closed.
  ::syscall(SYS_close_range, 5U, ~0U, 0U);
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 4) ::close(null);
  }
  ::signal(SIGPIPE, SIG_IGN);
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  ::fcntl(4, F_SETFD, FD_CLOEXEC);
  // The second fork: the creator reaps our parent at once and we are nobody's child.
  pid_t p = ::fork();
  if (p < 0) return 1;
  if (p > 0) _exit(0);
  phase("start");
  supervisor s;
  s.read_config();
  s.create();
  s.serve();
}
