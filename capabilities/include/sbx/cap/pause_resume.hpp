// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// The sandbox can be frozen and thawed, keeping its memory and processes.
/// Unlocks: `sandbox<P>::pause()` and `sandbox<P>::resume()`.
struct pause_resume {
  static constexpr std::string_view name = "pause_resume";
  static constexpr unsigned bit = 6;
};

}  // namespace sbx::cap
