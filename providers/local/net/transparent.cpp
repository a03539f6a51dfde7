// SPDX-License-Identifier: Apache-2.0
// The transparent port: every TCP connection the sandbox makes to a non-loopback address
// is redirected here by nftables inside its netns (REDIRECT in the output hook). The
// original destination (SO_ORIGINAL_DST) is either a synthetic address handed out by the
// DNS stub, which stands for a name, or a literal address. For ports 80 and 443 the first
// flight's SNI / Host is read too: a name that the policy does not allow is refused even
// when the address is (no fronting through an allowed address). Denials reset the
// connection.
#include "engine.hpp"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace sbx::local_net {

namespace {

void reset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

bool first_flight_done(std::string_view d) {
  bool more = false;
  if (!d.empty() && static_cast<unsigned char>(d[0]) == 0x16) {
    tls_sni(d, &more);
    return !more;
  }
  if (looks_like_http(d) || d.size() < 8) {
    http_host(d, &more);
    return !more;
  }
  return true;
}

}  // namespace

void serve_transparent_client(engine& e, int fd) {
  ++e.connections;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  address dst;
  std::uint16_t port = 0;
  sockaddr_storage local{};
  socklen_t llen = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
  if (local.ss_family == AF_INET6) {
    if (::getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len) != 0) return reset(fd);
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    char buf[INET6_ADDRSTRLEN];
    ::inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf);
    dst = *address::parse(buf);
    port = ntohs(s6->sin6_port);
  } else {
    if (::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len) != 0) return reset(fd);
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    std::memcpy(dst.b.data(), &s4->sin_addr, 4);
    port = ntohs(s4->sin_port);
  }
  // A connection straight to this port (not redirected) has itself as destination.
  if ((dst.v6 && special_range(dst) == "loopback") || (!dst.v6 && dst.b[0] == 127)) return reset(fd);

  std::string host = dst.to_string();
  bool synthetic = false;
  if (auto n = e.name_for(dst)) {
    host = *n;
    synthetic = true;
  }
  std::string sni;
  if (port == 443 || port == 80) {
    std::string d = peek_until(fd, 3000, 16 * 1024, first_flight_done);
    sni = (!d.empty() && static_cast<unsigned char>(d[0]) == 0x16) ? tls_sni(d) : http_host(d);
    sni = address::parse(sni) ? std::string() : normalize_name(sni);
  }
  verdict v;
  if (!synthetic && !sni.empty()) {
    // A literal destination with a name in the first flight: the name decides, and the
    // connection goes where the host resolves that name (never to the client's address).
    v = e.decide(sni, port);
    if (v.allowed) host = sni;
  } else {
    v = e.decide(host, port);
    if (v.allowed && !sni.empty() && sni != host) {
      auto pol = e.current();
      if (!pol->allows_name(sni, port)) {
        v.allowed = false;
        v.reason = "the connection to " + host + " names " + sni + " (TLS SNI / Host), which the policy does not allow";
      }
    }
  }
  if (!v.allowed) {
    e.deny_event(!sni.empty() && !synthetic ? sni : host, port, v.reason, "transparent");
    e.log("deny transparent " + host + ":" + std::to_string(port) + ": " + v.reason);
    return reset(fd);
  }
  std::string why;
  int up = connect_any(v.addrs, port, &why);
  if (up < 0) {
    e.log("fail transparent " + host + ":" + std::to_string(port) + ": " + why);
    return reset(fd);
  }
  e.log("allow transparent " + host + ":" + std::to_string(port) + (v.secrets.empty() ? "" : " (intercepted: secrets bound)"));
  if (!v.secrets.empty()) return intercept(e, fd, up, host, v);
  endpoint c{fd}, u{up};
  relay(c, u, {}, {});
  c.close();
  u.close();
}

}  // namespace sbx::local_net
