// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// A server listening inside the sandbox can be reached from outside at a URL.
/// Unlocks: `sandbox<P>::expose_port(port)` and `request<P>::expose(port)`.
struct port_exposure {
  static constexpr std::string_view name = "port_exposure";
  static constexpr unsigned bit = 5;
};

}  // namespace sbx::cap
