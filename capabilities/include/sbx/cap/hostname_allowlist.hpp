// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// The sandbox's egress can be limited to named hosts ("api.openai.com", "*.github.com", "host:443"); everything else is refused.
/// Unlocks: `request<P>::allow_hosts(...)`.
struct hostname_allowlist {
  static constexpr std::string_view name = "hostname_allowlist";
  static constexpr unsigned bit = 0;
};

}  // namespace sbx::cap
