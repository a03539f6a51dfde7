// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/result.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace sbx {

/// Parses a duration: "30s", "5m", "1h30m", "1.5h", "250ms", "10 minutes", "2 hours", or a bare
/// number of milliseconds ("1500").
///
/// Grammar: one or more `digits [. digits] [space] unit` components, each unit at most once and
/// from largest to smallest ("1h 30m", "1 hour 30 minutes"; not "30m1h"), spaces or tabs
/// allowed between number and unit and between components, any ASCII whitespace at the ends.
/// A number without a unit is milliseconds only when it is the whole text ("1h30" is refused).
/// Units: `ms s m h d` (also `msec sec secs min mins hr hrs`), matched exactly, so lower case
/// only: "5M" is refused because other tools read `M` as months; the words millisecond, second,
/// minute, hour, day, singular or plural, in any case ("2 Hours"). A fraction is allowed when
/// the result is a whole number of milliseconds ("1.5h", "0.25s"), computed exactly.
/// Errors: invalid_request quoting `text` (empty, a sign as in "-5m", unknown unit, scientific
/// notation, components out of order or repeated, more than INT64_MAX ms, below one millisecond
/// of precision such as "0.5ms" or a unit like "us").
result<std::chrono::milliseconds> parse_duration(std::string_view text);

/// The exact spelling in components from days down to milliseconds, zero ones left out:
/// "5m", "1h30m", "1d2h", "250ms", "0s"; negative durations get a leading "-". For a
/// non-negative `d`, `parse_duration(format_duration(d)) == d`.
std::string format_duration(std::chrono::milliseconds d);

}  // namespace sbx
