// SPDX-License-Identifier: Apache-2.0
#pragma once

// The local provider's network policy, as the engine (sbx-netd) applies it: host patterns
// (exact, "*." wildcard, optional ":port", IPv4/IPv6 literals), CIDRs, and the address
// ranges a name may never resolve into unless the address itself is allowed. Plain std, no
// sbx headers: shared by the provider library (validation) and the engine.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::local_net {

/// An IPv4 or IPv6 address (IPv4 kept as 4 bytes; v4-mapped IPv6 is normalised to IPv4).
struct address {
  bool v6 = false;
  std::array<std::uint8_t, 16> b{};
  static std::optional<address> parse(std::string_view s);  ///< "1.2.3.4", "::1", "[::1]"
  std::string to_string() const;
  friend bool operator==(address const&, address const&) = default;
};

struct cidr {
  address base;
  int bits = 0;
  static std::optional<cidr> parse(std::string_view s);  ///< "10.0.0.0/8", "fd00::/8", "1.2.3.4"
  bool contains(address const& a) const;
};

/// One entry of `network_policy::hosts`.
struct host_pattern {
  enum class kind { exact, wildcard, literal } k = kind::exact;
  std::string name;  ///< lower case, no trailing dot; for wildcard the suffix without "*."
  address addr;      ///< literal
  std::uint16_t port = 0;  ///< 0: any
  static std::optional<host_pattern> parse(std::string_view s, std::string* why);
  bool matches_name(std::string_view host, std::uint16_t port) const;
};

/// Why an address is special (loopback, private...), or empty for a public one.
std::string special_range(address const& a);

/// Lower case, trailing dot removed; empty if `s` is not a valid DNS name.
std::string normalize_name(std::string_view s);

/// Splits "host:port", "[v6]:port", "host" (port 0). Returns false on a malformed port.
bool split_host_port(std::string_view s, std::string& host, std::uint16_t& port);

struct policy {
  enum class mode { blocked, allow, open } m = mode::blocked;
  std::vector<host_pattern> hosts;
  std::vector<cidr> cidrs;
  std::vector<std::string> host_text, cidr_text;  ///< as given, for messages

  /// Parses; on a bad entry returns nullopt and says why in `why`.
  static std::optional<policy> make(mode m, std::vector<std::string> const& hosts, std::vector<std::string> const& cidrs,
                                    std::string* why);
  /// Whether a connection to name `host` (normalised) on `port` passes the name check.
  bool allows_name(std::string_view host, std::uint16_t port) const;
  /// Whether `host` could pass for some port (the DNS stub answers such names).
  bool allows_name_any_port(std::string_view host) const;
  /// Whether a connection to literal address `a` on `port` is allowed ("" when it is,
  /// otherwise the reason).
  std::string check_address(address const& a, std::uint16_t port) const;
  /// Whether a name that resolved to `a` may connect there ("" or the reason): public
  /// addresses pass; special ones only when explicitly allowed (literal or CIDR). In open
  /// mode only loopback, link-local/metadata, unspecified and multicast are refused.
  std::string check_resolved(address const& a, std::uint16_t port) const;
  /// One line for messages: "allow hosts [a, b] cidrs [c]".
  std::string describe() const;
};

}  // namespace sbx::local_net
