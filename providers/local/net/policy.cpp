// SPDX-License-Identifier: Apache-2.0
#include "policy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace sbx::local_net {

std::optional<address> address::parse(std::string_view s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (s.empty() || s.size() > 64) return std::nullopt;
  std::string z(s);
  address a;
  if (::inet_pton(AF_INET, z.c_str(), a.b.data()) == 1) return a;
  std::uint8_t six[16];
  if (::inet_pton(AF_INET6, z.c_str(), six) == 1) {
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(six, mapped, 12) == 0) {
      std::memcpy(a.b.data(), six + 12, 4);
      return a;
    }
    a.v6 = true;
    std::memcpy(a.b.data(), six, 16);
    return a;
  }
  return std::nullopt;
}

std::string address::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(v6 ? AF_INET6 : AF_INET, b.data(), buf, sizeof buf);
  return buf;
}

std::optional<cidr> cidr::parse(std::string_view s) {
  auto slash = s.find('/');
  auto a = address::parse(s.substr(0, slash));
  if (!a) return std::nullopt;
  int max = a->v6 ? 128 : 32;
  int bits = max;
  if (slash != std::string_view::npos) {
    auto t = s.substr(slash + 1);
    if (t.empty() || t.size() > 3 || !std::all_of(t.begin(), t.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return std::nullopt;
    bits = std::stoi(std::string(t));
    if (bits > max) return std::nullopt;
  }
  cidr c{*a, bits};
  // The base is kept masked so that "10.1.2.3/8" means 10.0.0.0/8.
  for (int i = 0; i < (a->v6 ? 16 : 4); ++i) {
    int keep = std::clamp(bits - i * 8, 0, 8);
    c.base.b[i] &= static_cast<std::uint8_t>(keep == 0 ? 0 : (0xff << (8 - keep)) & 0xff);
  }
  return c;
}

bool cidr::contains(address const& a) const {
  if (a.v6 != base.v6) return false;
  for (int i = 0; i < (a.v6 ? 16 : 4); ++i) {
    int keep = std::clamp(bits - i * 8, 0, 8);
    if (keep == 0) return true;
    std::uint8_t m = static_cast<std::uint8_t>((0xff << (8 - keep)) & 0xff);
    if ((a.b[i] & m) != base.b[i]) return false;
  }
  return true;
}

std::string normalize_name(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return {};
  std::string out;
  out.reserve(s.size());
  std::size_t label = 0;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '.') {
      if (label == 0) return {};
      label = 0;
      out.push_back('.');
      continue;
    }
    if (!(std::isalnum(u) || c == '-' || c == '_')) return {};
    if (++label > 63) return {};
    out.push_back(static_cast<char>(std::tolower(u)));
  }
  if (label == 0) return {};
  return out;
}

bool split_host_port(std::string_view s, std::string& host, std::uint16_t& port) {
  port = 0;
  std::string_view p;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    host = std::string(s.substr(1, close - 1));
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') return false;
      p = s.substr(close + 2);
      if (p.empty()) return false;
    }
  } else if (std::count(s.begin(), s.end(), ':') > 1) {
    host = std::string(s);  // a bare IPv6 literal has no port
  } else if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
    host = std::string(s.substr(0, colon));
    p = s.substr(colon + 1);
    if (p.empty()) return false;
  } else {
    host = std::string(s);
  }
  if (!p.empty()) {
    if (p.size() > 5 || !std::all_of(p.begin(), p.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return false;
    int v = std::stoi(std::string(p));
    if (v < 1 || v > 65535) return false;
    port = static_cast<std::uint16_t>(v);
  }
  return !host.empty();
}

std::optional<host_pattern> host_pattern::parse(std::string_view s, std::string* why) {
  auto fail = [&](std::string m) -> std::optional<host_pattern> {
    if (why) *why = std::move(m);
    return std::nullopt;
  };
  std::string host;
  host_pattern p;
  if (!split_host_port(s, host, p.port)) return fail("\"" + std::string(s) + "\" is not host, host:port, *.suffix or an IP literal (bad port?)");
  if (auto a = address::parse(host)) {
    p.k = kind::literal;
    p.addr = *a;
    return p;
  }
  if (host.rfind("*.", 0) == 0) {
    p.k = kind::wildcard;
    p.name = normalize_name(std::string_view(host).substr(2));
    if (p.name.empty()) return fail("\"" + std::string(s) + "\": the suffix after \"*.\" is not a valid DNS name");
    return p;
  }
  if (host.find('*') != std::string::npos) return fail("\"" + std::string(s) + "\": \"*\" is only allowed as a leading \"*.\"");
  p.name = normalize_name(host);
  if (p.name.empty()) return fail("\"" + std::string(s) + "\" is not a valid DNS name or IP literal");
  return p;
}

bool host_pattern::matches_name(std::string_view host, std::uint16_t prt) const {
  if (port != 0 && port != prt) return false;
  switch (k) {
    case kind::exact: return host == name;
    case kind::wildcard:
      return host.size() > name.size() + 1 && host.substr(host.size() - name.size()) == name &&
             host[host.size() - name.size() - 1] == '.';
    case kind::literal: return false;
  }
  return false;
}

std::string special_range(address const& a) {
  struct range { char const* c; char const* why; };
  static const range ranges[] = {
      {"0.0.0.0/8", "unspecified (\"this network\")"},
      {"127.0.0.0/8", "loopback"},
      {"169.254.169.254/32", "cloud metadata"},
      {"169.254.0.0/16", "link-local"},
      {"10.0.0.0/8", "private"},
      {"172.16.0.0/12", "private"},
      {"192.168.0.0/16", "private"},
      {"100.64.0.0/10", "carrier-grade NAT (shared)"},
      {"192.0.0.0/24", "IETF protocol assignments"},
      {"198.18.0.0/15", "benchmarking (the sandbox's own synthetic addresses)"},
      {"224.0.0.0/4", "multicast"},
      {"240.0.0.0/4", "reserved"},
      {"::/128", "unspecified"},
      {"::1/128", "loopback"},
      {"fd00:ec2::254/128", "cloud metadata"},
      {"fe80::/10", "link-local"},
      {"fc00::/7", "private (unique local)"},
      {"ff00::/8", "multicast"},
      {"64:ff9b::/96", "NAT64 (may embed a private IPv4)"},
      {"2002::/16", "6to4 (may embed a private IPv4)"},
  };
  static const auto parsed = [] {
    std::vector<std::pair<cidr, char const*>> v;
    for (auto const& r : ranges) v.emplace_back(*cidr::parse(r.c), r.why);
    return v;
  }();
  for (auto const& [c, why] : parsed)
    if (c.contains(a)) return why;
  return {};
}

std::optional<policy> policy::make(mode m, std::vector<std::string> const& hosts, std::vector<std::string> const& cidrs,
                                   std::string* why) {
  policy p;
  p.m = m;
  p.host_text = hosts;
  p.cidr_text = cidrs;
  for (auto const& h : hosts) {
    auto hp = host_pattern::parse(h, why);
    if (!hp) return std::nullopt;
    p.hosts.push_back(*hp);
  }
  for (auto const& c : cidrs) {
    auto cp = cidr::parse(c);
    if (!cp) {
      if (why) *why = "\"" + c + "\" is not a CIDR (a.b.c.d/n or v6::/n)";
      return std::nullopt;
    }
    p.cidrs.push_back(*cp);
  }
  return p;
}

bool policy::allows_name(std::string_view host, std::uint16_t port) const {
  if (m == mode::open) return true;
  if (m == mode::blocked) return false;
  return std::any_of(hosts.begin(), hosts.end(), [&](host_pattern const& p) { return p.matches_name(host, port); });
}

bool policy::allows_name_any_port(std::string_view host) const {
  if (m == mode::open) return true;
  if (m == mode::blocked) return false;
  return std::any_of(hosts.begin(), hosts.end(), [&](host_pattern const& p) {
    host_pattern q = p;
    q.port = 0;
    return q.matches_name(host, 0);
  });
}

namespace {
bool explicitly_allowed(policy const& p, address const& a, std::uint16_t port) {
  for (auto const& h : p.hosts)
    if (h.k == host_pattern::kind::literal && h.addr == a && (h.port == 0 || h.port == port)) return true;
  return std::any_of(p.cidrs.begin(), p.cidrs.end(), [&](cidr const& c) { return c.contains(a); });
}
// What even open mode never reaches: the host's own loopback services, link-local and
// metadata endpoints, and addresses that are not destinations.
std::string never_open(address const& a) {
  auto why = special_range(a);
  if (why == "loopback" || why == "link-local" || why == "cloud metadata" || why.rfind("unspecified", 0) == 0 ||
      why == "multicast" || why == "reserved" || why.rfind("benchmarking", 0) == 0)
    return why;
  return {};
}
}  // namespace

std::string policy::check_address(address const& a, std::uint16_t port) const {
  switch (m) {
    case mode::blocked: return "the network is blocked";
    case mode::open: {
      auto why = never_open(a);
      return why.empty() ? std::string() : a.to_string() + " is " + why + ", never reachable even with an open network";
    }
    case mode::allow:
      if (explicitly_allowed(*this, a, port)) return {};
      return a.to_string() + ":" + std::to_string(port) + " is not in the allowed hosts or cidrs";
  }
  return "unknown mode";
}

std::string policy::check_resolved(address const& a, std::uint16_t port) const {
  if (m == mode::open) return check_address(a, port);
  if (m == mode::blocked) return "the network is blocked";
  auto why = special_range(a);
  if (why.empty() || explicitly_allowed(*this, a, port)) return {};
  return "it resolves to " + a.to_string() + " (" + why + "), which is refused unless that address is allowed explicitly";
}

std::string policy::describe() const {
  auto join = [](std::vector<std::string> const& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    return s + "]";
  };
  switch (m) {
    case mode::blocked: return "blocked";
    case mode::open: return "open";
    case mode::allow: return "allow hosts " + join(host_text) + " cidrs " + join(cidr_text);
  }
  return "?";
}

}  // namespace sbx::local_net
