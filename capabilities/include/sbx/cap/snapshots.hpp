// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// The sandbox's filesystem can be captured and new sandboxes booted from it.
/// Unlocks: `sandbox<P>::snapshot(name)`, `client<P>::list_snapshots()`, `client<P>::delete_snapshot(id)`, `request<P>::from_snapshot(id)`.
struct snapshots {
  static constexpr std::string_view name = "snapshots";
  static constexpr unsigned bit = 3;
};

}  // namespace sbx::cap
