// SPDX-License-Identifier: Apache-2.0
// Relaying bytes between the sandbox's socket and the upstream one, plain or TLS, with the
// per-direction transformations of interception.
#include "engine.hpp"

#include <openssl/err.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sbx::local_net {

long endpoint::rd(char* b, std::size_t n) {
  if (!ssl) {
    ssize_t r = ::recv(fd, b, n, 0);
    if (r > 0) return r;
    if (r == 0) return 0;
    return (errno == EAGAIN || errno == EINTR) ? -1 : -2;
  }
  ERR_clear_error();
  int r = SSL_read(ssl, b, static_cast<int>(n));
  if (r > 0) return r;
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ: return -1;
    case SSL_ERROR_WANT_WRITE: want_write = true; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default: return -2;
  }
}

long endpoint::wr(char const* b, std::size_t n) {
  if (!ssl) {
    ssize_t r = ::send(fd, b, n, MSG_NOSIGNAL);
    if (r >= 0) return r;
    return (errno == EAGAIN || errno == EINTR) ? -1 : -2;
  }
  ERR_clear_error();
  int r = SSL_write(ssl, b, static_cast<int>(std::min<std::size_t>(n, 1 << 20)));
  if (r > 0) return r;
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ: return -1;
    case SSL_ERROR_WANT_WRITE: want_write = true; return -1;
    default: return -2;
  }
}

void endpoint::shutdown_write() {
  shut = true;
  if (ssl) SSL_shutdown(ssl);
  else ::shutdown(fd, SHUT_WR);
}

void endpoint::close() {
  if (ssl) SSL_free(ssl);
  ssl = nullptr;
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::uint64_t relay(endpoint& c, endpoint& u, transform c2u, transform u2c) {
  set_nonblock(c.fd, true);
  set_nonblock(u.fd, true);
  std::string to_u, to_c;
  std::size_t off_u = 0, off_c = 0;
  std::uint64_t sent_to_client = 0;
  static thread_local std::string buf(256 * 1024, '\0');
  constexpr std::size_t high = 4 << 20;
  bool failed = false;
  auto pump = [&](endpoint& src, endpoint& dst, std::string& q, std::size_t& off, transform& t, bool& progress,
                  std::uint64_t* counter) {
    if (!src.eof && q.size() - off < high) {
      long n = src.rd(buf.data(), buf.size());
      if (n > 0) {
        t.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), q);
        progress = true;
      } else if (n == 0) {
        src.eof = true;
        t.flush(q);
        progress = true;
      } else if (n == -2) {
        failed = true;
        return;
      }
    }
    if (off < q.size()) {
      long n = dst.wr(q.data() + off, q.size() - off);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
        if (counter) *counter += static_cast<std::uint64_t>(n);
        progress = true;
        if (off == q.size()) { q.clear(); off = 0; }
      } else if (n == -2) {
        failed = true;
        return;
      }
    }
    if (src.eof && off >= q.size() && !dst.shut) {
      dst.shutdown_write();
      progress = true;
    }
  };
  for (;;) {
    bool progress = false;
    pump(c, u, to_u, off_u, c2u, progress, nullptr);
    if (failed) break;
    pump(u, c, to_c, off_c, u2c, progress, &sent_to_client);
    if (failed) break;
    if (c.eof && u.eof && to_u.empty() && to_c.empty()) break;
    if (progress) continue;
    if ((c.ssl && SSL_pending(c.ssl) > 0) || (u.ssl && SSL_pending(u.ssl) > 0)) continue;
    auto ev = [](endpoint const& e, bool out) {
      return static_cast<short>((e.eof ? 0 : POLLIN) | ((out || e.want_write) ? POLLOUT : 0));
    };
    pollfd p[2] = {{c.fd, ev(c, !to_c.empty()), 0}, {u.fd, ev(u, !to_u.empty()), 0}};
    c.want_write = u.want_write = false;
    // Bytes the scrubber holds back (a possible start of a secret's value) go out once the
    // upstream pauses: a response must never stall on them.
    bool held = u2c.holding();
    int r = ::poll(p, 2, held ? 50 : 600000);
    if (r == 0 && held) {
      u2c.flush(to_c);
      continue;
    }
    if (r <= 0) break;  // idle for 10 minutes
    // A peer that is gone entirely while we have nothing to read from it ends the relay.
    if (((p[0].revents & (POLLHUP | POLLERR)) && c.eof) || ((p[1].revents & (POLLHUP | POLLERR)) && u.eof)) {
      if (to_c.empty() && to_u.empty()) break;
    }
  }
  return sent_to_client;
}

namespace {
void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}
}  // namespace

void intercept(engine& e, int client_fd, int up_fd, std::string const& host, verdict const& v) {
  endpoint c{client_fd}, u{up_fd};
  char first = 0;
  set_timeouts(client_fd, 20);
  set_timeouts(up_fd, 20);
  ssize_t n = ::recv(client_fd, &first, 1, MSG_PEEK);
  if (n <= 0) { c.close(); u.close(); return; }
  request_rewriter rw(v.secrets);
  stream_replacer scrub(e.scrub_for(v.secrets));
  if (first == 0x16) {
    c.ssl = SSL_new(e.ca->server_for(host));
    SSL_set_fd(c.ssl, client_fd);
    if (SSL_accept(c.ssl) != 1) {
      e.log("intercept " + host + ": the sandbox's TLS handshake failed (does it trust the sandbox CA?): " + ssl_errors());
      c.close(); u.close();
      return;
    }
    u.ssl = SSL_new(e.upstream.get());
    SSL_set_fd(u.ssl, up_fd);
    auto lit = address::parse(host);
    if (lit) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(u.ssl), lit->to_string().c_str());
    } else {
      SSL_set_tlsext_host_name(u.ssl, host.c_str());
      SSL_set1_host(u.ssl, host.c_str());
    }
    if (SSL_connect(u.ssl) != 1) {
      long vr = SSL_get_verify_result(u.ssl);
      std::string why = vr != X509_V_OK ? X509_verify_cert_error_string(vr) : ssl_errors();
      e.log("intercept " + host + ": upstream TLS failed: " + why);
      std::string body = "sbx: the upstream TLS connection to " + host + " failed: " + why + "\n";
      std::string resp = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body;
      SSL_write(c.ssl, resp.data(), static_cast<int>(resp.size()));
      SSL_shutdown(c.ssl);
      c.close(); u.close();
      return;
    }
  }
  set_timeouts(client_fd, 0);
  set_timeouts(up_fd, 0);
  auto sent = relay(c, u, transform{&rw, nullptr}, transform{nullptr, scrub.empty() ? nullptr : &scrub});
  e.log("intercepted " + host + (c.ssl ? " (tls)" : " (http)") + ": " + std::to_string(rw.requests()) + " request(s), " +
        std::to_string(rw.replaced()) + " placeholder(s) replaced, " + std::to_string(sent) + " bytes to the sandbox");
  c.close();
  u.close();
}

}  // namespace sbx::local_net
