// SPDX-License-Identifier: Apache-2.0
// The DNS stub at 127.0.0.1:53 inside the sandbox (UDP and TCP). It never forwards a query:
// a name the policy allows gets a synthetic IPv4 address from 198.18.0.0/15 that the
// transparent port maps back to the name (the host resolves it when a connection is
// made); any other name is NXDOMAIN. So no query leaves the machine because a sandbox
// asked, which closes DNS as an exfiltration channel except through names under allowed
// wildcards once they are connected to.
#include "engine.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace sbx::local_net {

namespace {

// Builds the answer to `q` (a DNS query message) or returns "" for junk.
std::string answer(engine& e, std::string_view q) {
  if (q.size() < 12) return {};
  auto u8 = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(q[i])); };
  if (u8(2) & 0x80) return {};  // a response, not a query
  unsigned qd = (u8(4) << 8) | u8(5);
  if (qd != 1) return {};
  std::size_t p = 12;
  std::string name;
  while (p < q.size() && u8(p) != 0) {
    unsigned l = u8(p);
    if (l > 63 || p + 1 + l > q.size()) return {};
    if (!name.empty()) name += '.';
    name.append(q.substr(p + 1, l));
    p += 1 + l;
  }
  if (p + 5 > q.size()) return {};
  std::size_t qend = p + 5;
  unsigned qtype = (u8(p + 1) << 8) | u8(p + 2);
  std::string norm = normalize_name(name);
  auto pol = e.current();
  bool ok = !norm.empty() && pol->allows_name_any_port(norm);
  std::string r(q.substr(0, qend));
  r[2] = static_cast<char>(0x80 | (u8(2) & 0x79));  // QR, opcode, RD copied; AA/TC clear
  r[3] = static_cast<char>(0x80 | (ok ? 0 : 3));    // RA; NOERROR or NXDOMAIN
  r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
  if (!ok) {
    if (!norm.empty() && (qtype == 1 || qtype == 28)) {
      e.deny_event(norm, 0, pol->m == policy::mode::blocked ? "the network is blocked (DNS)" : norm + " matches none of the allowed hosts (DNS)", "dns");
    }
    return r;
  }
  if (qtype == 1) {
    address a = e.fake_for(norm);
    r[7] = 1;
    static constexpr char rr[] = {'\xc0', '\x0c', 0, 1, 0, 1, 0, 0, 0, 5, 0, 4};
    r.append(rr, sizeof rr);
    r.append(reinterpret_cast<char const*>(a.b.data()), 4);
  }
  // AAAA and the rest: NOERROR without answers (the sandbox connects over IPv4 to names).
  return r;
}

}  // namespace

void serve_dns_udp(engine& e, int fd) {
  char buf[1500];
  for (;;) {
    sockaddr_storage from{};
    socklen_t fl = sizeof from;
    ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) continue;
    std::string r = answer(e, std::string_view(buf, static_cast<std::size_t>(n)));
    if (!r.empty()) ::sendto(fd, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
  }
}

void serve_dns_tcp_client(engine& e, int fd) {
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (;;) {
    unsigned char lb[2];
    if (::recv(fd, lb, 2, MSG_WAITALL) != 2) break;
    std::size_t len = (lb[0] << 8) | lb[1];
    std::string q(len, '\0');
    if (len == 0 || ::recv(fd, q.data(), len, MSG_WAITALL) != static_cast<ssize_t>(len)) break;
    std::string r = answer(e, q);
    if (r.empty()) break;
    unsigned char ob[2] = {static_cast<unsigned char>(r.size() >> 8), static_cast<unsigned char>(r.size())};
    std::string out(reinterpret_cast<char*>(ob), 2);
    out += r;
    if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) break;
  }
  ::close(fd);
}

}  // namespace sbx::local_net
