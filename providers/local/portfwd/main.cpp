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
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
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
#include <vector>

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

// One relayed connection: the client's socket (host netns) and ours inside the sandbox,
// both non-blocking, with a buffer per direction. Everything runs on one thread in an
// edge-triggered epoll loop, so a new connection costs no thread and full-duplex bulk
// transfers cannot deadlock (neither direction ever blocks the other).
struct conn;

struct endpoint {
  conn* owner;
  int fd = -1;
  std::uint32_t events = 0;  ///< what epoll watches for it now
  bool hup = false;          ///< the peer's end (or an error) was reported: read to the end
};

struct direction {
  char* buf = nullptr;
  std::size_t off = 0, len = 0;
  bool eof = false;   ///< the source ended
  bool shut = false;  ///< the end was passed on (SHUT_WR on the destination)
};

constexpr std::size_t buf_size = 64 * 1024;

struct conn {
  endpoint client{this}, inner{this};
  direction up, down;  ///< client -> inner, inner -> client
  bool connecting = false;
  bool tried_v6 = false;
  bool dead = false;
  ~conn() {
    delete[] up.buf;
    delete[] down.buf;
  }
};

int ep = -1;
int listen_fd = -1, pid_fd = -1;
endpoint listen_ep{nullptr}, pid_ep{nullptr};
std::vector<conn*> graveyard;  // freed after the current batch of events

void close_conn(conn* c, bool reset) {
  if (c->dead) return;
  c->dead = true;
  if (reset) {
    linger l{1, 0};
    ::setsockopt(c->client.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(c->client.fd);
  if (c->inner.fd >= 0) ::close(c->inner.fd);
  graveyard.push_back(c);
}

constexpr std::uint32_t base_events = EPOLLIN | EPOLLRDHUP | EPOLLET;

// Watches for writability only while bytes wait for it: an always-on EPOLLOUT would wake
// the loop on every ACK.
void watch_out(endpoint& e, bool out) {
  std::uint32_t want = base_events | (out ? EPOLLOUT : 0u);
  if (e.events == want) return;
  epoll_event ev{want, {}};
  ev.data.ptr = &e;
  if (::epoll_ctl(ep, EPOLL_CTL_MOD, e.fd, &ev) == 0) e.events = want;
}

// Starts a non-blocking connect to the port inside: IPv4 loopback first (servers on
// 127.0.0.1 or 0.0.0.0, and dual-stack ones on ::), then ::1 for servers bound to IPv6
// loopback only. Returns 0 when connected or in progress.
int start_inner(conn* c, bool v6) {
  // This process lives in the sandbox's netns: the socket is the sandbox's, so loopback
  // here is the sandbox's loopback.
  int s = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return -1;
  int rc;
  if (v6) {
    sockaddr_in6 a6{};
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(target_port);
    a6.sin6_addr = in6addr_loopback;
    rc = ::connect(s, reinterpret_cast<sockaddr*>(&a6), sizeof a6);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(target_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0 && errno != EINPROGRESS) {
    int e = errno;
    ::close(s);
    errno = e;
    return -1;
  }
  set_nodelay(s);
  c->inner.fd = s;
  c->connecting = rc != 0;
  c->inner.events = base_events | EPOLLOUT;  // EPOLLOUT: the connect completed
  epoll_event ev{c->inner.events, {}};
  ev.data.ptr = &c->inner;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0) return -1;
  return 0;
}

// Moves what it can from `from` to `to` until either would block. False on an error.
// A short read means the source is drained for now (epoll(7): for stream sockets that is
// as good as EAGAIN, and new data raises a new edge), which saves a syscall per message.
bool flow(direction& d, endpoint& from, endpoint& to) {
  bool more = true;
  for (;;) {
    while (d.len > 0) {
      ssize_t m = ::send(to.fd, d.buf + d.off, d.len, MSG_NOSIGNAL);
      if (m > 0) {
        d.off += static_cast<std::size_t>(m);
        d.len -= static_cast<std::size_t>(m);
      } else if (m < 0 && errno == EINTR) {
        continue;
      } else if (m < 0 && errno == EAGAIN) {
        watch_out(to, true);
        return true;
      } else {
        return false;
      }
    }
    watch_out(to, false);
    if (d.eof) {
      if (!d.shut) {
        ::shutdown(to.fd, SHUT_WR);  // pass the half-close on
        d.shut = true;
      }
      return true;
    }
    if (!more) return true;
    if (!d.buf) d.buf = new char[buf_size];
    ssize_t n = ::recv(from.fd, d.buf, buf_size, 0);
    if (n > 0) {
      d.off = 0;
      d.len = static_cast<std::size_t>(n);
      // A FIN that came with the data raises no further edge: keep reading once it was seen.
      more = static_cast<std::size_t>(n) == buf_size || from.hup;
    } else if (n == 0) {
      d.eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      return true;
    } else {
      return false;
    }
  }
}

// Handles `ev` on endpoint `e` of `c` (null `e`: run both directions).
void progress(conn* c, endpoint* e, std::uint32_t ev) {
  if (c->dead) return;
  if (c->connecting) {
    int err = 0;
    socklen_t el = sizeof err;
    if (::getsockopt(c->inner.fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
    if (err == EINPROGRESS || err == EALREADY) return;
    if (err == 0) {
      // Still connecting if not yet writable: ask the kernel without consuming anything.
      pollfd p{c->inner.fd, POLLOUT, 0};
      if (::poll(&p, 1, 0) == 0) return;
      c->connecting = false;
      e = nullptr;  // the client may have sent while we connected
    } else {
      ::close(c->inner.fd);
      c->inner.fd = -1;
      if (err == ECONNREFUSED && !c->tried_v6) {
        c->tried_v6 = true;
        if (start_inner(c, true) == 0) return progress(c, nullptr, 0);
      }
      // Nothing listens inside (yet): refuse the way a closed port would, with a reset.
      return close_conn(c, true);
    }
  }
  constexpr std::uint32_t in = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  if (e && (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) e->hup = true;
  bool up = !e || (e == &c->client && (ev & in)) || (e == &c->inner && (ev & (EPOLLOUT | EPOLLERR)));
  bool down = !e || (e == &c->inner && (ev & in)) || (e == &c->client && (ev & (EPOLLOUT | EPOLLERR)));
  if ((up && !flow(c->up, c->client, c->inner)) || (down && !flow(c->down, c->inner, c->client))) return close_conn(c, true);
  if (c->up.shut && c->down.shut) close_conn(c, false);
}

void accept_all() {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) ::usleep(1000);  // level-triggered: retried
      return;
    }
    set_nodelay(fd);
    auto* c = new conn;
    c->client.fd = fd;
    c->client.events = base_events;
    epoll_event ev{base_events, {}};
    ev.data.ptr = &c->client;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close_conn(c, true);
      continue;
    }
    if (start_inner(c, false) != 0) {
      if (errno == ECONNREFUSED && !c->tried_v6) {
        c->tried_v6 = true;
        if (start_inner(c, true) == 0) {
          progress(c, nullptr, 0);
          continue;
        }
      }
      close_conn(c, true);
      continue;
    }
    progress(c, nullptr, 0);
  }
}

[[noreturn]] void serve() {
  ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) _exit(1);
  epoll_event ev{EPOLLIN, {}};
  ev.data.ptr = &listen_ep;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.ptr = &pid_ep;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, pid_fd, &ev);
  epoll_event evs[256];
  for (;;) {
    int n = ::epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    for (int i = 0; i < n; ++i) {
      auto* e = static_cast<endpoint*>(evs[i].data.ptr);
      if (e == &pid_ep) _exit(0);  // the sandbox is gone; exiting closes every relayed connection
      if (e == &listen_ep) accept_all();
      else progress(e->owner, e, evs[i].events);
    }
    for (conn* c : graveyard) delete c;
    graveyard.clear();
  }
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

  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
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

  listen_fd = lfd;
  pid_fd = pidfd;
  serve();
}
