// SPDX-License-Identifier: Apache-2.0
// Decisions: names and literals against the policy, host-side resolution (with the test-only
// override), the synthetic addresses of the DNS stub, secret bindings.
#include "engine.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace sbx::local_net {

namespace {
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

address engine::fake_for(std::string const& name) {
  std::lock_guard lk(fake_mu_);
  if (auto it = fake_by_name_.find(name); it != fake_by_name_.end()) return it->second;
  std::uint32_t v = next_fake_++;
  if ((v & 0xfffe0000u) != ((198u << 24) | (18u << 16))) v = next_fake_ = (198u << 24) | (18u << 16) | 10u;  // wrapped: reuse
  address a;
  a.b[0] = static_cast<std::uint8_t>(v >> 24);
  a.b[1] = static_cast<std::uint8_t>(v >> 16);
  a.b[2] = static_cast<std::uint8_t>(v >> 8);
  a.b[3] = static_cast<std::uint8_t>(v);
  if (auto old = name_by_fake_.find(v); old != name_by_fake_.end()) fake_by_name_.erase(old->second);
  fake_by_name_[name] = a;
  name_by_fake_[v] = name;
  return a;
}

std::optional<std::string> engine::name_for(address const& a) {
  if (a.v6) return std::nullopt;
  std::uint32_t v = (std::uint32_t{a.b[0]} << 24) | (std::uint32_t{a.b[1]} << 16) | (std::uint32_t{a.b[2]} << 8) | a.b[3];
  std::lock_guard lk(fake_mu_);
  if (auto it = name_by_fake_.find(v); it != name_by_fake_.end()) return it->second;
  return std::nullopt;
}

bool engine::is_host_address(address const& a) {
  std::lock_guard lk(log_mu_);
  if (now_ms() - host_addrs_at_ > 5000) {
    host_addrs_.clear();
    ifaddrs* ifs = nullptr;
    if (::getifaddrs(&ifs) == 0) {
      for (ifaddrs* i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr) continue;
        char buf[INET6_ADDRSTRLEN];
        if (i->ifa_addr->sa_family == AF_INET)
          ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
        else if (i->ifa_addr->sa_family == AF_INET6)
          ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, buf, sizeof buf);
        else
          continue;
        if (auto x = address::parse(buf)) host_addrs_.push_back(*x);
      }
      ::freeifaddrs(ifs);
    }
    host_addrs_at_ = now_ms();
  }
  return std::find(host_addrs_.begin(), host_addrs_.end(), a) != host_addrs_.end();
}

substitutions engine::secrets_for(std::string const& host, std::uint16_t port) const {
  substitutions out;
  auto lit = address::parse(host);
  std::string name = lit ? std::string() : normalize_name(host);
  for (auto const& s : secrets) {
    bool bound = std::any_of(s.hosts.begin(), s.hosts.end(), [&](host_pattern const& p) {
      if (p.k == host_pattern::kind::literal) return lit && p.addr == *lit && (p.port == 0 || p.port == port);
      return !name.empty() && p.matches_name(name, port);
    });
    if (bound) out.emplace_back(s.placeholder, s.value);
  }
  return out;
}

substitutions engine::scrub_for(substitutions const& s) const {
  substitutions out;
  // The mask has the value's length, so that Content-Length and chunk sizes stay right: the
  // placeholder cut (or padded with '*') to fit. Short values would turn ordinary response
  // bytes into masks; they are not scrubbed.
  for (auto const& [ph, value] : s) {
    if (value.size() < 8) continue;
    std::string mask = ph.substr(0, value.size());
    mask.resize(value.size(), '*');
    out.emplace_back(value, mask);
  }
  return out;
}

verdict engine::decide(std::string const& host_in, std::uint16_t port) {
  verdict v;
  auto pol = current();
  std::string host = host_in;
  auto lit = address::parse(host);
  if (lit) {
    // A synthetic address from our own DNS stub stands for the name it was handed out for.
    if (auto n = name_for(*lit)) {
      host = *n;
      lit.reset();
    }
  }
  if (port == 0) {
    v.reason = "port 0";
    return v;
  }
  if (lit) {
    auto why = pol->check_address(*lit, port);
    if (why.empty() && pol->m == policy::mode::open && is_host_address(*lit)) why = lit->to_string() + " is this host's own address";
    if (!why.empty()) {
      v.reason = why;
      return v;
    }
    v.allowed = true;
    v.addrs.push_back(*lit);
    v.secrets = secrets_for(host, port);
    return v;
  }
  std::string name = normalize_name(host);
  if (name.empty()) {
    v.reason = "\"" + host + "\" is not a valid host name";
    return v;
  }
  if (!pol->allows_name(name, port)) {
    v.reason = pol->m == policy::mode::blocked ? "the network is blocked"
                                               : name + ":" + std::to_string(port) + " matches none of the allowed hosts";
    return v;
  }
  std::vector<address> answers;
  if (auto it = resolve_override.find(name); it != resolve_override.end()) {
    answers = it->second;
  } else if (!host_dns) {
    v.reason = "host-side DNS is disabled (SBX_NET_TEST_NO_DNS) and " + name + " has no test resolver entry";
    return v;
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
      v.reason = "resolving " + name + " on the host failed: " + ::gai_strerror(rc);
      return v;
    }
    for (addrinfo* r = res; r; r = r->ai_next) {
      char buf[INET6_ADDRSTRLEN];
      if (r->ai_family == AF_INET) ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(r->ai_addr)->sin_addr, buf, sizeof buf);
      else if (r->ai_family == AF_INET6) ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(r->ai_addr)->sin6_addr, buf, sizeof buf);
      else continue;
      if (auto a = address::parse(buf); a && std::find(answers.begin(), answers.end(), *a) == answers.end()) answers.push_back(*a);
    }
    ::freeaddrinfo(res);
  }
  std::string first_why;
  for (auto const& a : answers) {
    auto why = pol->check_resolved(a, port);
    if (why.empty() && pol->m == policy::mode::open && is_host_address(a)) why = "it resolves to " + a.to_string() + ", this host's own address";
    if (why.empty()) v.addrs.push_back(a);
    else if (first_why.empty()) first_why = why;
  }
  // IPv4 first: the sandbox has no IPv6 preference to honour and v4 is what tests and most
  // upstreams serve.
  std::stable_partition(v.addrs.begin(), v.addrs.end(), [](address const& a) { return !a.v6; });
  if (v.addrs.empty()) {
    v.reason = first_why.empty() ? name + " has no addresses" : first_why;
    return v;
  }
  v.allowed = true;
  v.secrets = secrets_for(name, port);
  return v;
}

int connect_any(std::vector<address> const& addrs, std::uint16_t port, std::string* why) {
  for (auto const& a : addrs) {
    sockaddr_storage ss{};
    socklen_t len;
    if (a.v6) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(port);
      std::memcpy(&s6->sin6_addr, a.b.data(), 16);
      len = sizeof *s6;
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
      s4->sin_family = AF_INET;
      s4->sin_port = htons(port);
      std::memcpy(&s4->sin_addr, a.b.data(), 4);
      len = sizeof *s4;
    }
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, 10000);
      if (rc == 1) {
        int err = 0;
        socklen_t el = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        rc = err ? -1 : 0;
        errno = err;
      } else {
        rc = -1;
        errno = ETIMEDOUT;
      }
    }
    if (rc == 0) {
      set_nonblock(fd, false);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
      return fd;
    }
    if (why) *why = "connecting to " + a.to_string() + ":" + std::to_string(port) + " failed: " + std::strerror(errno);
    ::close(fd);
  }
  if (why && why->empty()) *why = "no address to connect to";
  return -1;
}

void set_nonblock(int fd, bool on) {
  int fl = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
}

std::string peek_until(int fd, int timeout_ms, std::size_t max, bool (*done)(std::string_view)) {
  std::string buf(max, '\0');
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::size_t have = 0;
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), max, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) break;
    if (n > 0) {
      have = static_cast<std::size_t>(n);
      if (done(std::string_view(buf.data(), have)) || have >= max) break;
    } else if (errno != EAGAIN && errno != EINTR) {
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    // Wake only when more than what we already peeked has arrived.
    int lowat = static_cast<int>(have + 1);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    if (r <= 0) break;
    if (p.revents & (POLLHUP | POLLERR)) {
      ssize_t m = ::recv(fd, buf.data(), max, MSG_PEEK | MSG_DONTWAIT);
      if (m > 0) have = static_cast<std::size_t>(m);
      break;
    }
  }
  buf.resize(have);
  return buf;
}

}  // namespace sbx::local_net
