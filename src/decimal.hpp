// SPDX-License-Identifier: Apache-2.0
#pragma once

// Exact decimal-times-unit arithmetic shared by the memory and duration parsers (private to
// src/). No floating point: "1.5 GiB" must be 1610612736 bytes, not whatever a double rounds to.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sbx::detail {

/// The digits of a number written `digits[.digits]`, without the point.
struct decimal {
  std::string_view integer;
  std::string_view fraction;  ///< empty when there is no point
};

/// Reads `digits[.digits]` from the start of `s` into `out` and returns how many characters it
/// used; 0 if `s` does not start with a digit. A point not followed by a digit is not consumed.
inline std::size_t scan_decimal(std::string_view s, decimal& out) {
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i == 0) return 0;
  out.integer = s.substr(0, i);
  out.fraction = {};
  if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
    std::size_t j = i + 1;
    while (j < s.size() && is_digit(s[j])) ++j;
    out.fraction = s.substr(i + 1, j - i - 1);
    i = j;
  }
  return i;
}

enum class scale_status { ok, overflow, not_whole };

/// `out = d * unit`, exactly, if that is a whole number no greater than `max`.
/// `unit` must be at least 1 and below 2^63 (so that 10 * unit fits in 128 bits with room).
inline scale_status scale(decimal const& d, std::uint64_t unit, std::uint64_t max, std::uint64_t& out) {
  __extension__ typedef unsigned __int128 u128;  // GCC and Clang; __extension__ silences -Wpedantic
  u128 whole = 0;
  for (char c : d.integer) {
    whole = whole * 10 + static_cast<unsigned>(c - '0');
    // Checked per digit so that any number of digits is handled without wrapping.
    if (whole > max) return scale_status::overflow;
  }
  whole *= unit;
  if (whole > max) return scale_status::overflow;

  auto frac = d.fraction;
  while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
  // 0.d1d2...dn * unit, evaluated from the last digit: t = (d_i * unit + t) / 10. If the total
  // is whole, every partial suffix is too (10^k divides the suffix times unit whenever it
  // divides the total), so the first inexact division proves a fraction of the unit's atom,
  // and t stays below `unit` throughout.
  u128 t = 0;
  for (auto it = frac.rbegin(); it != frac.rend(); ++it) {
    u128 x = static_cast<u128>(static_cast<unsigned>(*it - '0')) * unit + t;
    if (x % 10 != 0) return scale_status::not_whole;
    t = x / 10;
  }
  u128 total = whole + t;
  if (total > max) return scale_status::overflow;
  out = static_cast<std::uint64_t>(total);
  return scale_status::ok;
}

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

inline bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

}  // namespace sbx::detail
