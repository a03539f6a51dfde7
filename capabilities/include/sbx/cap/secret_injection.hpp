// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// A secret reaches the named hosts without entering the sandbox: its env var holds a placeholder that the network layer swaps for the value on the way out.
/// Unlocks: `request<P>::secret(name, value, hosts)`.
struct secret_injection {
  static constexpr std::string_view name = "secret_injection";
  static constexpr unsigned bit = 2;
};

}  // namespace sbx::cap
