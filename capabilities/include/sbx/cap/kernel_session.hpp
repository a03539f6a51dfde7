// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace sbx::cap {

/// A stateful interpreter session (Python, JavaScript) that keeps variables between evaluations.
/// Unlocks: `sandbox<P>::repl(language)`.
struct kernel_session {
  static constexpr std::string_view name = "kernel_session";
  static constexpr unsigned bit = 8;
};

}  // namespace sbx::cap
