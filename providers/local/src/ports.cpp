// SPDX-License-Identifier: Apache-2.0
// Port exposure (cap::port_exposure): one sbx-portfwd process per exposed port, started
// detached, so the URL keeps working after the client that asked for it exits and works the
// same for any process that connects to the sandbox. See portfwd/main.cpp for how the relay
// reaches into the sandbox's empty network namespace.
//
// Store layout: sandboxes/<id>/ports/<port> holds the host port; the forwarder keeps an
// exclusive flock on it while it runs. sandboxes/<id>/ports/<port>.lock serialises exposing
// the same port from several threads or processes.

#include "runtime.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#ifndef SBX_PORTFWD_BUILD_PATH
#define SBX_PORTFWD_BUILD_PATH ""
#endif
#ifndef SBX_PORTFWD_INSTALL_PATH
#define SBX_PORTFWD_INSTALL_PATH ""
#endif

namespace sbx {
namespace local_impl {
namespace {

namespace fs = std::filesystem;

error port_error(error_kind k, std::string msg, std::string_view id) {
  error_detail d;
  d.message = std::move(msg);
  d.provider = "local";
  d.capability = std::string(cap::port_exposure::name);
  d.id = std::string(id);
  return make_error(k, std::move(d));
}

bool executable(std::string const& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; }

// Found the way the supervisor is: $SBX_PORTFWD, then next to the configured supervisor (an
// install keeps both in libexec/sbx), then the build tree, then the install prefix.
std::string find_portfwd(local const& p) {
  if (char const* e = ::getenv("SBX_PORTFWD"); e && *e) return e;
  auto const& sup = p.configuration().supervisor_path;
  if (!sup.empty()) {
    auto sibling = (fs::path(sup).parent_path() / "sbx-portfwd").string();
    if (executable(sibling)) return sibling;
  }
  if (executable(SBX_PORTFWD_BUILD_PATH)) return SBX_PORTFWD_BUILD_PATH;
  return SBX_PORTFWD_INSTALL_PATH;
}

std::string url_for(unsigned host_port) { return fmt::format("http://127.0.0.1:{}/", host_port); }

// The host port of a live forwarder for `rec`, or 0 if there is none (no record, or the
// forwarder that wrote it is gone and so holds no lock on it).
unsigned live_record(fs::path const& rec) {
  unique_fd fd(::open(rec.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return 0;  // nobody holds it: stale
  if (errno != EWOULDBLOCK) return 0;
  char buf[32] = {};
  ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  unsigned long v = std::strtoul(buf, nullptr, 10);
  return v > 0 && v < 65536 ? static_cast<unsigned>(v) : 0;
}

// Starts sbx-portfwd for `port` and returns the host port it listens on.
result<unsigned> start_forwarder(std::string const& exe, sandbox_view const& v, std::uint16_t port) {
  int pp[2];
  if (::pipe2(pp, O_CLOEXEC) != 0)
    return port_error(error_kind::internal, fmt::format("expose_port: pipe failed: {}", std::strerror(errno)), v.id);
  unique_fd rd(pp[0]), wr(pp[1]);
  // Above 3 so the dup2 below never meets its own target (which would keep CLOEXEC).
  unique_fd wr_hi(::fcntl(wr.get(), F_DUPFD_CLOEXEC, 10));
  wr.reset();

  // posix_spawn (vfork + execve): async-signal-safe from a multithreaded client, no page
  // tables copied. Its own session, default signal dispositions, nothing inherited but
  // /dev/null and the report pipe.
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr_hi.get(), 3);
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string dir = v.dir.string(), pid = std::to_string(v.init_pid), p = std::to_string(port);
  char const* argv[] = {exe.c_str(), dir.c_str(), pid.c_str(), p.c_str(), nullptr};
  char const* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
  pid_t child = -1;
  int rc = ::posix_spawn(&child, exe.c_str(), &fa, &at, const_cast<char* const*>(argv), const_cast<char* const*>(envp));
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  wr_hi.reset();
  if (rc != 0)
    return port_error(error_kind::internal, fmt::format("expose_port: starting {} failed: {}", exe, std::strerror(rc)), v.id);
  // The forwarder forks at once and its first process exits: reap it now.
  int st;
  while (::waitpid(child, &st, 0) < 0 && errno == EINTR) {}

  std::string reply;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return port_error(error_kind::timeout, "expose_port: the forwarder did not report within 10 s", v.id);
    pollfd pf{rd.get(), POLLIN, 0};
    int r = ::poll(&pf, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[512];
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  while (!reply.empty() && reply.back() == '\n') reply.pop_back();
  if (reply.rfind("ok ", 0) == 0) {
    unsigned long hp = std::strtoul(reply.c_str() + 3, nullptr, 10);
    if (hp > 0 && hp < 65536) return static_cast<unsigned>(hp);
  }
  if (reply.rfind("error ", 0) == 0) {
    std::string why = reply.substr(6);
    // The sandbox ended while we were starting: the same as any operation on a gone sandbox.
    if (why.find("pid 1") != std::string::npos && (why.find("No such process") != std::string::npos || why.find("exited") != std::string::npos))
      return port_error(error_kind::not_found, fmt::format("sandbox {} is gone", v.id), v.id);
    return port_error(error_kind::internal, fmt::format("expose_port {}: the forwarder failed: {}", port, why), v.id);
  }
  return port_error(error_kind::internal,
                    fmt::format("expose_port {}: the forwarder {} exited without reporting (status {})", port, exe, st), v.id);
}

}  // namespace
}  // namespace local_impl

using namespace local_impl;

result<std::string> local::expose_port(handle const& h, std::uint16_t port) {
  if (port == 0) return port_error(error_kind::invalid_request, "expose_port: port 0 cannot be exposed (1..65535)", h.id);
  SBX_TRY(v, view(*this, h));
  std::string exe = find_portfwd(*this);
  if (!executable(exe))
    return port_error(error_kind::internal,
                      fmt::format("expose_port: the forwarder binary {} is not executable (set SBX_PORTFWD or install sbx-portfwd next to sbx-supervisor)",
                                  exe.empty() ? "sbx-portfwd" : exe),
                      h.id);
  fs::path ports = v.dir / "ports";
  if (::mkdir(ports.c_str(), 0755) != 0 && errno != EEXIST) {
    if (errno == ENOENT) return gone(h.id);
    return port_error(error_kind::internal, fmt::format("expose_port: mkdir {} failed: {}", ports.string(), std::strerror(errno)), h.id);
  }
  fs::path rec = ports / std::to_string(port);
  if (unsigned hp = live_record(rec)) return url_for(hp);

  // Check again under the lock: another thread or process may have just started it.
  fs::path lock_path = ports / (std::to_string(port) + ".lock");
  unique_fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) {
    if (errno == ENOENT) return gone(h.id);
    return port_error(error_kind::internal, fmt::format("expose_port: open {} failed: {}", lock_path.string(), std::strerror(errno)), h.id);
  }
  while (::flock(lock.get(), LOCK_EX) != 0)
    if (errno != EINTR)
      return port_error(error_kind::internal, fmt::format("expose_port: flock {} failed: {}", lock_path.string(), std::strerror(errno)), h.id);
  if (unsigned hp = live_record(rec)) return url_for(hp);
  SBX_TRY(hp, start_forwarder(exe, v, port));
  return url_for(hp);
}

}  // namespace sbx
