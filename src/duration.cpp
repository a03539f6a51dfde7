// SPDX-License-Identifier: Apache-2.0
#include <sbx/duration.hpp>

#include "decimal.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <limits>

namespace sbx {
namespace {

using rep = std::chrono::milliseconds::rep;
constexpr std::uint64_t max_ms = static_cast<std::uint64_t>(std::numeric_limits<rep>::max());

struct unit_entry {
  std::string_view abbreviation;  // matched exactly: lower case only
  std::string_view word;          // singular; plural is word + "s"; matched without regard to case
  std::uint64_t ms;
  int rank;  // components must come in strictly decreasing rank
};

constexpr std::array<unit_entry, 5> units = {{
    {"d", "day", 86'400'000, 4},
    {"h", "hour", 3'600'000, 3},
    {"m", "minute", 60'000, 2},
    {"s", "second", 1'000, 1},
    {"ms", "millisecond", 1, 0},
}};

// Short forms people write besides the one-letter ones.
struct alias {
  std::string_view spelling;
  std::size_t unit;  // index into units
};
constexpr std::array<alias, 8> aliases = {{
    {"hr", 1}, {"hrs", 1}, {"min", 2}, {"mins", 2}, {"sec", 3}, {"secs", 3}, {"msec", 4}, {"msecs", 4},
}};

constexpr std::string_view unit_help = "use ms, s, m, h, d or millisecond(s), second(s), minute(s), hour(s), day(s)";

error bad(std::string_view text, std::string_view what) {
  return make_error(error_kind::invalid_request, fmt::format("duration {:?} {}", text, what));
}

// Index into `units`, or -1.
int find_unit(std::string_view u) {
  for (std::size_t i = 0; i < units.size(); ++i) {
    if (u == units[i].abbreviation) return static_cast<int>(i);
    auto const& w = units[i].word;
    if (detail::iequals(u, w)) return static_cast<int>(i);
    if (u.size() == w.size() + 1 && detail::iequals(u.substr(0, w.size()), w) && detail::ascii_lower(u.back()) == 's')
      return static_cast<int>(i);
  }
  for (auto const& a : aliases)
    if (u == a.spelling) return static_cast<int>(a.unit);
  return -1;
}

bool is_sub_millisecond(std::string_view u) {
  constexpr std::array<std::string_view, 9> sub = {"us",          "\xc2\xb5s",   "ns",           "microsecond",
                                                   "microseconds", "nanosecond",  "nanoseconds", "usec",
                                                   "nsec"};
  for (auto s : sub)
    if (detail::iequals(u, s)) return true;
  return false;
}

bool is_lower_abbreviation(std::string_view u) {
  std::string lower;
  for (char c : u) lower += detail::ascii_lower(c);
  for (auto const& x : units)
    if (lower == x.abbreviation) return true;
  for (auto const& a : aliases)
    if (lower == a.spelling) return true;
  return false;
}

void skip_blanks(std::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
}

}  // namespace

result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::string_view s = detail::trim(text);
  if (s.empty()) return bad(text, "is empty; expected a duration such as \"30s\", \"5m\" or \"1h30m\"");
  if (s.front() == '-') return bad(text, "is negative; a duration is zero or more");
  if (s.front() == '+') return bad(text, "has a sign; write the number alone");

  std::uint64_t total = 0;
  int last_rank = 1000;
  std::string_view last_unit;
  bool first = true;
  while (!s.empty()) {
    if (s.front() == '.') return bad(text, "has a point without a digit before it (write \"0.5s\")");
    detail::decimal number;
    std::size_t used = detail::scan_decimal(s, number);
    if (used == 0) {
      if (first) return bad(text, "does not start with a number");
      return bad(text, fmt::format("has {:?} where a number belongs", s));
    }
    std::string_view number_text = s.substr(0, used);
    s.remove_prefix(used);
    if (!s.empty() && s.front() == '.') return bad(text, "has a malformed number (a point must sit between digits)");
    if (s.size() >= 2 && (s[0] == 'e' || s[0] == 'E') && ((s[1] >= '0' && s[1] <= '9') || s[1] == '+' || s[1] == '-'))
      return bad(text, "uses scientific notation, which is not accepted; write the digits out");
    skip_blanks(s);

    std::size_t letters = 0;
    // 'µ' (U+00B5, C2 B5) is read as part of a unit so that "5µs" gets the precision message.
    while (letters < s.size() &&
           (detail::is_ascii_letter(s[letters]) || s[letters] == '\xc2' || s[letters] == '\xb5'))
      ++letters;
    std::string_view unit = s.substr(0, letters);
    s.remove_prefix(letters);

    std::uint64_t per_unit = 0;
    if (unit.empty()) {
      // A bare number is milliseconds, but only on its own: in "1h30" the 30 is a forgotten unit.
      skip_blanks(s);
      if (!first || !s.empty()) {
        if (!s.empty() && !(s.front() >= '0' && s.front() <= '9'))
          return bad(text, fmt::format("has {:?} after {:?} where a unit belongs; {}", s, number_text, unit_help));
        return bad(text, fmt::format("has no unit after {:?}; {}", number_text, unit_help));
      }
      per_unit = 1;
      last_unit = "ms";
    } else {
      int i = find_unit(unit);
      if (i < 0) {
        if (is_sub_millisecond(unit))
          return bad(text, fmt::format("uses {:?}, finer than one millisecond, the precision of sbx durations", unit));
        if (is_lower_abbreviation(unit))
          return bad(text, fmt::format("has an unknown unit {:?}: abbreviations are lower case (\"M\" is a month in "
                                       "some tools); {}",
                                       unit, unit_help));
        return bad(text, fmt::format("has an unknown unit {:?}; {}", unit, unit_help));
      }
      auto const& u = units[static_cast<std::size_t>(i)];
      if (u.rank >= last_rank)
        return bad(text, fmt::format("has {:?} after {:?}; write each unit once, from largest to smallest (\"1h30m\")",
                                     unit, last_unit));
      last_rank = u.rank;
      last_unit = unit;
      per_unit = u.ms;
    }

    std::uint64_t ms = 0;
    switch (detail::scale(number, per_unit, max_ms, ms)) {
      case detail::scale_status::ok: break;
      case detail::scale_status::overflow:
        return bad(text, fmt::format("is too large: the most is {} milliseconds (about 292 million years)", max_ms));
      case detail::scale_status::not_whole:
        return bad(text, "is finer than one millisecond, the precision of sbx durations");
    }
    if (ms > max_ms - total)
      return bad(text, fmt::format("is too large: the most is {} milliseconds (about 292 million years)", max_ms));
    total += ms;
    first = false;
    skip_blanks(s);
  }
  return std::chrono::milliseconds(static_cast<rep>(total));
}

std::string format_duration(std::chrono::milliseconds d) {
  rep count = d.count();
  if (count == 0) return "0s";
  std::string out;
  std::uint64_t left = 0;
  if (count < 0) {
    out = "-";
    // Negating the most negative value overflows; compute the magnitude in unsigned arithmetic.
    left = 0 - static_cast<std::uint64_t>(count);
  } else {
    left = static_cast<std::uint64_t>(count);
  }
  for (auto const& u : units) {
    if (left >= u.ms) {
      out += fmt::format("{}{}", left / u.ms, u.abbreviation);
      left %= u.ms;
    }
  }
  return out;
}

}  // namespace sbx
