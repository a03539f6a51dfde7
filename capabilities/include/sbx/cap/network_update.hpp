// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// The network policy of a running sandbox can be replaced, taking effect for new
/// connections, without restarting it. A marker of its own because providers differ: Deno
/// fixes `allow_net` at creation, the local provider swaps its proxy's policy live.
/// Unlocks: `sandbox<P>::update_network(...)`.
struct network_update {
  static constexpr std::string_view name = "network_update";
  static constexpr unsigned bit = 10;
};

}  // namespace sbx::cap
