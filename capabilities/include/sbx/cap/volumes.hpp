// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// Persistent storage that outlives a sandbox and can be mounted into others.
/// Unlocks: `client<P>::create_volume(...)`, `list_volumes()`, `delete_volume(id)`, `request<P>::mount(...)`.
struct volumes {
  static constexpr std::string_view name = "volumes";
  static constexpr unsigned bit = 4;
};

}  // namespace sbx::cap
