// SPDX-License-Identifier: Apache-2.0
#pragma once

// The local provider's wire format, shared by the library and the supervisor binary.
//
// Every connection is an AF_UNIX SOCK_SEQPACKET socket, so one sendmsg is one message and
// messages never interleave even when several threads send on the same socket. A message
// is a fixed `header` followed by an optional payload; file descriptors travel alongside as
// SCM_RIGHTS. Three kinds of connection:
//   control  client <-> supervisor (sandboxes/<id>/sock, or the creator's socketpair):
//            hello, info, extend, kill, pause, resume; replies ok / error.
//   channel  client -> agent (pid 1 inside), handed out by the supervisor in reply to hello:
//            exec requests, each carrying its own status socket and stdio fds.
//   status   agent <-> client, one per command: started / failed / exited from the agent,
//            signal from the client. Closing it from the client kills the command.
// No parsing beyond fixed offsets happens on the exec path.

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::local_impl::wire {

enum class type : std::uint32_t {
  // control requests
  hello = 1, info, extend, kill, pause, resume,
  claim,  ///< the owner takes a warm (pooled) sandbox: JSON {labels, lifetime_ms, created_ms, memory, cpus, pids_max, env}
  // control replies
  ok = 16, error, ready,
  // supervisor -> agent
  channel = 32,
  set_env,  ///< payload: NUL-terminated KEY=VALUE strings, the base environment from now on; the agent replies ok
  // agent -> supervisor
  agent_ready = 48, agent_failed,
  // channel
  exec = 64,
  // status
  started = 80, failed, exited, signal,
};

/// Flags of an exec message (`header::code`).
enum exec_flags : std::int32_t {
  has_stdin = 1,
  has_stdout = 2,
  has_stderr = 4,
  use_pty = 8,
  want_started = 16,  ///< report `started` once execve succeeded (spawn, pty); exec only needs the end
};

struct header {
  type kind;
  std::int32_t code = 0;  // error_kind, errno, exec flags
  std::int64_t a = 0;
  std::int64_t b = 0;
};
static_assert(sizeof(header) == 24);

inline constexpr std::size_t max_message = 256 * 1024;
inline constexpr int max_fds = 8;

/// Sends one message. Returns 0 or an errno value.
inline int send(int fd, header const& h, std::string_view payload = {}, int const* fds = nullptr, int nfds = 0) {
  iovec iov[2] = {{const_cast<header*>(&h), sizeof h}, {const_cast<char*>(payload.data()), payload.size()}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = payload.empty() ? 1 : 2;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * max_fds)];
  if (nfds > 0) {
    std::memset(cbuf, 0, sizeof cbuf);
    m.msg_control = cbuf;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  for (;;) {
    ssize_t n = ::sendmsg(fd, &m, MSG_NOSIGNAL);
    if (n >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

/// Receives one message into `h`, `payload` (resized to what came) and `fds` (received
/// close-on-exec; the caller owns them). Returns 0, -1 at end of stream, or an errno value.
inline int recv(int fd, header& h, std::string* payload, std::vector<int>* fds, char* buf, std::size_t buf_size) {
  iovec iov{buf, buf_size};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * max_fds)];
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  ssize_t n;
  for (;;) {
    n = ::recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno != EINTR) return errno;
  }
  if (fds) fds->clear();
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; ++i) {
      int x;
      std::memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof x);
      if (fds) fds->push_back(x);
      else ::close(x);
    }
  }
  if (n == 0) return -1;
  if (static_cast<std::size_t>(n) < sizeof h || (m.msg_flags & MSG_TRUNC)) {
    if (fds) for (int x : *fds) ::close(x);
    if (fds) fds->clear();
    return EPROTO;
  }
  std::memcpy(&h, buf, sizeof h);
  if (payload) payload->assign(buf + sizeof h, static_cast<std::size_t>(n) - sizeof h);
  return 0;
}

/// Appends NUL-terminated strings, the payload format of exec.
inline void put_string(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}

}  // namespace sbx::local_impl::wire
