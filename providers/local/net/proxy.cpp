// SPDX-License-Identifier: Apache-2.0
// The proxy for clients that honour HTTP(S)_PROXY: CONNECT host:port (tunnel, or
// interception for hosts bound to a secret) and absolute-form plain HTTP requests (one
// request per connection). Denials are answered 403 with a body naming the host and the
// policy.
#include "engine.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

namespace sbx::local_net {

namespace {

bool has_head(std::string_view d) { return d.find("\r\n\r\n") != std::string_view::npos; }

void respond(int fd, int code, std::string const& status, std::string const& body) {
  std::string r = "HTTP/1.1 " + std::to_string(code) + " " + status +
                  "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Sbx-Network-Policy: denied\r\nConnection: close\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)!::send(fd, r.data(), r.size(), MSG_NOSIGNAL);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void serve_proxy_client(engine& e, int fd) {
  ++e.connections;
  std::string peeked = peek_until(fd, 30000, 64 * 1024, has_head);
  auto end = peeked.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (!peeked.empty()) respond(fd, 400, "Bad Request", "sbx: malformed proxy request\n");
    ::close(fd);
    return;
  }
  std::string head(end + 4, '\0');
  if (::recv(fd, head.data(), head.size(), MSG_WAITALL) != static_cast<ssize_t>(head.size())) {
    ::close(fd);
    return;
  }
  auto line_end = head.find("\r\n");
  std::string line = head.substr(0, line_end);
  auto sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) {
    respond(fd, 400, "Bad Request", "sbx: malformed request line\n");
    ::close(fd);
    return;
  }
  std::string method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1), version = line.substr(sp2 + 1);

  std::string host, path = "/";
  std::uint16_t port = 0;
  bool connect = method == "CONNECT";
  if (connect) {
    if (!split_host_port(target, host, port) || port == 0) {
      respond(fd, 400, "Bad Request", "sbx: CONNECT needs host:port, got \"" + target + "\"\n");
      ::close(fd);
      return;
    }
  } else {
    if (lower(target.substr(0, 7)) != "http://") {
      respond(fd, 400, "Bad Request", "sbx: this proxy takes CONNECT or absolute http:// URLs, got \"" + target + "\"\n");
      ::close(fd);
      return;
    }
    std::string rest = target.substr(7);
    auto slash = rest.find_first_of("/?");
    std::string authority = rest.substr(0, slash);
    if (slash != std::string::npos) path = rest.substr(slash);
    if (path.front() == '?') path = "/" + path;
    if (auto at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
    if (!split_host_port(authority, host, port)) {
      respond(fd, 400, "Bad Request", "sbx: bad host in \"" + target + "\"\n");
      ::close(fd);
      return;
    }
    if (port == 0) port = 80;
  }

  verdict v = e.decide(host, port);
  if (!v.allowed) {
    auto pol = e.current();
    e.deny_event(host, port, v.reason, "proxy");
    e.log("deny proxy " + host + ":" + std::to_string(port) + ": " + v.reason);
    respond(fd, 403, "Forbidden",
            "sbx: connection to " + host + ":" + std::to_string(port) + " denied by the sandbox's network policy (" +
                pol->describe() + "): " + v.reason + "\n");
    ::close(fd);
    return;
  }
  std::string why;
  int up = connect_any(v.addrs, port, &why);
  if (up < 0) {
    e.log("fail proxy " + host + ":" + std::to_string(port) + ": " + why);
    respond(fd, 502, "Bad Gateway", "sbx: " + why + "\n");
    ::close(fd);
    return;
  }
  e.log("allow proxy " + host + ":" + std::to_string(port) + (v.secrets.empty() ? "" : " (intercepted: secrets bound)"));

  if (connect) {
    static constexpr std::string_view ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (::send(fd, ok.data(), ok.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(ok.size())) {
      ::close(fd);
      ::close(up);
      return;
    }
    if (!v.secrets.empty()) return intercept(e, fd, up, normalize_name(host).empty() ? host : normalize_name(host), v);
    endpoint c{fd}, u{up};
    relay(c, u, {}, {});
    c.close();
    u.close();
    return;
  }

  // Absolute-form plain HTTP: rewrite to origin form, one request per connection.
  std::string out = method + " " + path + " " + version + "\r\n";
  std::size_t pos = line_end + 2;
  while (pos < head.size()) {
    auto e2 = head.find("\r\n", pos);
    if (e2 == std::string::npos || e2 == pos) break;
    std::string h = head.substr(pos, e2 - pos);
    pos = e2 + 2;
    auto colon = h.find(':');
    std::string name = lower(h.substr(0, colon));
    if (name == "proxy-connection" || name == "proxy-authorization" || name == "connection" || name == "keep-alive") continue;
    out += h + "\r\n";
  }
  out += "Connection: close\r\n\r\n";
  request_rewriter rw(v.secrets);
  stream_replacer scrub(e.scrub_for(v.secrets));
  std::string first;
  rw.feed(out, first);
  endpoint c{fd}, u{up};
  std::size_t off = 0;
  while (off < first.size()) {
    ssize_t n = ::send(up, first.data() + off, first.size() - off, MSG_NOSIGNAL);
    if (n <= 0) { c.close(); u.close(); return; }
    off += static_cast<std::size_t>(n);
  }
  relay(c, u, transform{v.secrets.empty() ? nullptr : &rw, nullptr}, transform{nullptr, scrub.empty() ? nullptr : &scrub});
  c.close();
  u.close();
}

}  // namespace sbx::local_net
