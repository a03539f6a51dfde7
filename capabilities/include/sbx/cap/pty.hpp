// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// An interactive terminal: a shell with a pseudo-terminal that can be resized.
/// Unlocks: `sandbox<P>::open_pty(...)`.
struct pty {
  static constexpr std::string_view name = "pty";
  static constexpr unsigned bit = 7;
};

}  // namespace sbx::cap
