// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// The sandbox can boot from an image other than the provider's default.
/// Unlocks: `request<P>::image(...)`.
struct custom_image {
  static constexpr std::string_view name = "custom_image";
  static constexpr unsigned bit = 9;
};

}  // namespace sbx::cap
