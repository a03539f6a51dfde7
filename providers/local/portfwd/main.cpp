// SPDX-License-Identifier: Apache-2.0
// sbx-portfwd: makes a TCP port inside a local sandbox reachable on host loopback.
//
//   sbx-portfwd SANDBOX_DIR INIT_PID PORT      (fd 3: where to report "ok HOSTPORT" or "error TEXT")
//
// The sandbox has an empty network namespace (only lo), so there is no address to route to.
// Instead the forwarder listens on 127.0.0.1:0 in the host's namespace and then moves itself
// into the sandbox's namespace (setns, while still single-threaded). From then on every socket
// it creates belongs to the sandbox's netns, while the listener and the connections it accepts
// stay in the host's: per connection there is no namespace switch at all, only socket() +
// connect(127.0.0.1:PORT) and a raw byte relay (so WebSockets and any TCP protocol work).
//
// Its record is SANDBOX_DIR/ports/PORT (the host port, one line), flock'ed for as long as it
// runs, so a reader can tell a live forwarder from a stale file. It exits when the sandbox's
// pid 1 exits (a pidfd becomes readable), so nothing outlives a kill, a crash or gc.
//
// Started by the library with posix_spawn (setsid); it forks once so that the library can
// reap its direct child at once and the relay is reparented to init.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int report_fd = 3;

[[noreturn]] void fail(std::string const& what, int e = 0) {
  std::string msg = "error " + what;
  if (e) msg += std::string(": ") + std::strerror(e);
  msg += "\n";
  if (report_fd >= 0) (void)!::write(report_fd, msg.data(), msg.size());
  _exit(1);
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::uint16_t target_port = 0;

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// One direction of a connection, until end of file or an error. splice moves the bytes
// through a pipe without copying them to user space; read/write is the fallback.
// Returns false on an error (the caller then tears both directions down).
bool pump(int from, int to) {
  int p[2];
  bool use_splice = ::pipe2(p, O_CLOEXEC) == 0;
  bool ok = true;
  if (use_splice) {
    for (;;) {
      ssize_t n = ::splice(from, nullptr, p[1], nullptr, 1 << 16, SPLICE_F_MOVE);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL) { use_splice = false; break; }
      if (n <= 0) { ok = n == 0; break; }
      while (n > 0) {
        ssize_t m = ::splice(p[0], nullptr, to, nullptr, static_cast<std::size_t>(n), SPLICE_F_MOVE);
        if (m < 0 && errno == EINTR) continue;
        if (m <= 0) { ok = false; break; }
        n -= m;
      }
      if (!ok) break;
    }
    ::close(p[0]);
    ::close(p[1]);
    if (use_splice || !ok) return ok;
  }
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0;
    for (ssize_t off = 0; off < n;) {
      ssize_t m = ::send(to, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0) return false;
      off += m;
    }
  }
}

struct pair_fds {
  int client;
  int inner;
};

void* upstream(void* arg) {
  auto* p = static_cast<pair_fds*>(arg);
  if (pump(p->client, p->inner)) {
    ::shutdown(p->inner, SHUT_WR);  // the client finished sending: pass the half-close on
  } else {
    ::shutdown(p->inner, SHUT_RDWR);
    ::shutdown(p->client, SHUT_RDWR);
  }
  return nullptr;
}

// Connects to the port inside: IPv4 loopback first (servers on 127.0.0.1 or 0.0.0.0, and
// dual-stack ones on ::), then ::1 for servers bound to IPv6 loopback only.
int connect_inside() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(target_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return s;
  int e = errno;
  ::close(s);
  if (e != ECONNREFUSED) return -1;
  s = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  sockaddr_in6 a6{};
  a6.sin6_family = AF_INET6;
  a6.sin6_port = htons(target_port);
  a6.sin6_addr = in6addr_loopback;
  if (::connect(s, reinterpret_cast<sockaddr*>(&a6), sizeof a6) == 0) return s;
  ::close(s);
  return -1;
}

void* connection(void* arg) {
  int client = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  // Created by a thread of a process that lives in the sandbox's netns: the socket is
  // the sandbox's, so 127.0.0.1 here is the sandbox's loopback.
  int inner = connect_inside();
  if (inner < 0) {
    // Nothing listens inside (yet): refuse the way a closed port would, with a reset.
    linger l{1, 0};
    ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(client);
    return nullptr;
  }
  set_nodelay(inner);
  set_nodelay(client);
  pair_fds p{client, inner};
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setstacksize(&at, 128 * 1024);
  pthread_t up;
  bool threaded = pthread_create(&up, &at, upstream, &p) == 0;
  pthread_attr_destroy(&at);
  if (!threaded) {
    ::close(inner);
    ::close(client);
    return nullptr;
  }
  if (pump(inner, client)) {
    ::shutdown(client, SHUT_WR);
  } else {
    ::shutdown(client, SHUT_RDWR);
    ::shutdown(inner, SHUT_RDWR);
  }
  pthread_join(up, nullptr);
  ::close(inner);
  ::close(client);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (::fcntl(report_fd, F_GETFD) < 0) report_fd = -1;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s SANDBOX_DIR INIT_PID PORT (fd 3: report pipe)\n", argv[0]);
    fail("bad arguments");
  }
  std::string dir = argv[1];
  char* end = nullptr;
  long pid = std::strtol(argv[2], &end, 10);
  if (*end || pid <= 1) fail(std::string("bad pid ") + argv[2]);
  long port = std::strtol(argv[3], &end, 10);
  if (*end || port < 1 || port > 65535) fail(std::string("bad port ") + argv[3]);
  target_port = static_cast<std::uint16_t>(port);
  ::signal(SIGPIPE, SIG_IGN);

  // Reparent to init: the library reaps this first process right away.
  pid_t child = ::fork();
  if (child < 0) fail("fork", errno);
  if (child > 0) _exit(0);

  // The pidfd first, then the namespace: if pid 1 is still alive after both are open, the
  // namespace is the one of the process the pidfd names (not of a reused pid).
  int pidfd = pidfd_open(static_cast<pid_t>(pid));
  if (pidfd < 0) fail("pidfd_open of the sandbox's pid 1", errno);
  std::string proc = "/proc/" + std::to_string(pid) + "/ns/";
  int netns = ::open((proc + "net").c_str(), O_RDONLY | O_CLOEXEC);
  if (netns < 0) fail("open " + proc + "net", errno);
  int userns = ::open((proc + "user").c_str(), O_RDONLY | O_CLOEXEC);
  pollfd alive{pidfd, POLLIN, 0};
  if (::poll(&alive, 1, 0) != 0) fail("the sandbox's pid 1 exited");
  struct stat mine, theirs;
  if (::stat("/proc/self/ns/net", &mine) != 0 || ::fstat(netns, &theirs) != 0) fail("stat of the network namespaces", errno);
  if (mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev)
    fail("the sandbox shares the host's network namespace; refusing to forward into it");

  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) fail("socket", errno);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("bind 127.0.0.1:0", errno);
  if (::listen(lfd, 1024) != 0) fail("listen", errno);
  socklen_t al = sizeof a;
  if (::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &al) != 0) fail("getsockname", errno);
  unsigned host_port = ntohs(a.sin_port);

  // Into the sandbox's netns. As root that is allowed directly; unprivileged, joining the
  // sandbox's user namespace first gives the capability over its netns.
  if (::setns(netns, CLONE_NEWNET) != 0) {
    int e = errno;
    if (e != EPERM || userns < 0 || ::setns(userns, CLONE_NEWUSER) != 0 || ::setns(netns, CLONE_NEWNET) != 0)
      fail("setns into the sandbox's network namespace", e);
  }
  ::close(netns);
  if (userns >= 0) ::close(userns);

  // The record: written under a temporary name, locked, then renamed into place, so a
  // reader never sees a half-written or unlocked record.
  std::string ports = dir + "/ports";
  if (::mkdir(ports.c_str(), 0755) != 0 && errno != EEXIST) fail("mkdir " + ports, errno);
  std::string rec = ports + "/" + std::to_string(port);
  std::string tmp = ports + "/." + std::to_string(port) + "." + std::to_string(::getpid());
  int rfd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (rfd < 0) fail("create " + tmp, errno);
  if (::flock(rfd, LOCK_EX) != 0) fail("flock " + tmp, errno);
  std::string line = std::to_string(host_port) + "\n";
  if (::write(rfd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) fail("write " + tmp, errno);
  if (::rename(tmp.c_str(), rec.c_str()) != 0) fail("rename to " + rec, errno);

  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::close(devnull);
  }
  std::string ok = "ok " + std::to_string(host_port) + "\n";
  if (report_fd >= 0) {
    (void)!::write(report_fd, ok.data(), ok.size());
    ::close(report_fd);
    report_fd = -1;
  }

  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setstacksize(&at, 128 * 1024);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  for (;;) {
    pollfd p[2] = {{lfd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    if (p[1].revents) _exit(0);  // the sandbox is gone; exiting closes every relayed connection
    if (!(p[0].revents & POLLIN)) continue;
    int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE) ::usleep(10000);
      continue;
    }
    pthread_t t;
    if (pthread_create(&t, &at, connection, reinterpret_cast<void*>(static_cast<intptr_t>(c))) != 0) ::close(c);
  }
}
