// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// Egress can be limited to address ranges ("10.0.0.0/8", "2001:db8::/32").
/// Unlocks: `request<P>::allow_cidrs(...)`.
struct cidr_allowlist {
  static constexpr std::string_view name = "cidr_allowlist";
  static constexpr unsigned bit = 1;
};

}  // namespace sbx::cap
