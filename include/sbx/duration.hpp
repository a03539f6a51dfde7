// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/result.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace sbx {

/// Parses a duration: "30s", "5m", "1h30m", "1.5h", "250ms", "10 minutes", "2 hours", or a bare
/// number of milliseconds ("1500"). Units: ms, s, m, h, d and their English words, singular or
/// plural. Errors: invalid_request quoting `text` (empty, negative, unknown unit, overflow,
/// below one millisecond of precision such as "0.5ms").
result<std::chrono::milliseconds> parse_duration(std::string_view text);

/// The shortest exact spelling: "5m", "1h30m", "250ms", "0s".
std::string format_duration(std::chrono::milliseconds d);

}  // namespace sbx
