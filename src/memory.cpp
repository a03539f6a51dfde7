// SPDX-License-Identifier: Apache-2.0
#include <sbx/memory.hpp>

#include "decimal.hpp"

#include <fmt/format.h>

#include <array>
#include <limits>

namespace sbx {
namespace {

struct unit_entry {
  std::string_view spelling;  // lower case; matched case-insensitively
  std::uint64_t bytes;
};

constexpr std::uint64_t one_kib = 1ull << 10, one_mib = 1ull << 20, one_gib = 1ull << 30;
constexpr std::uint64_t one_tib = 1ull << 40, one_pib = 1ull << 50, one_eib = 1ull << 60;
constexpr std::uint64_t one_kb = 1000ull, one_mb = one_kb * 1000, one_gb = one_mb * 1000;
constexpr std::uint64_t one_tb = one_gb * 1000, one_pb = one_tb * 1000, one_eb = one_pb * 1000;

// Bare K/M/G/... are binary as in `docker --memory` and the JVM's -Xmx (Kubernetes reads bare
// K/M/G as decimal; we follow docker because it is what people type for containers), "Ki" is
// the Kubernetes spelling of KiB, and an explicit "B" after an SI prefix means decimal.
constexpr std::array<unit_entry, 28> units = {{
    {"b", 1},           {"byte", 1},         {"bytes", 1},
    {"k", one_kib},     {"ki", one_kib},     {"kib", one_kib},   {"kb", one_kb},
    {"m", one_mib},     {"mi", one_mib},     {"mib", one_mib},   {"mb", one_mb},
    {"g", one_gib},     {"gi", one_gib},     {"gib", one_gib},   {"gb", one_gb},
    {"t", one_tib},     {"ti", one_tib},     {"tib", one_tib},   {"tb", one_tb},
    {"p", one_pib},     {"pi", one_pib},     {"pib", one_pib},   {"pb", one_pb},
    {"e", one_eib},     {"ei", one_eib},     {"eib", one_eib},   {"eb", one_eb},
    {"", 1},
}};

constexpr std::string_view unit_help =
    "use B, KiB, MiB, GiB, TiB, PiB, EiB or K, M, G, T, P, E (powers of 1024), or kB, MB, GB, TB, PB, EB "
    "(powers of 1000)";

error bad(std::string_view text, std::string_view what) {
  return make_error(error_kind::invalid_request, fmt::format("memory {:?} {}", text, what));
}

}  // namespace

result<memory> memory::parse(std::string_view text) {
  std::string_view s = detail::trim(text);
  if (s.empty()) return bad(text, "is empty; expected a size such as \"512 MiB\" or \"1 GiB\"");
  if (s.front() == '-') return bad(text, "is negative; a memory size is zero or more bytes");
  if (s.front() == '+') return bad(text, "has a sign; write the number alone");
  if (s.front() == '.') return bad(text, "starts with a point; write a digit before it (\"0.5 GiB\")");

  detail::decimal number;
  std::size_t used = detail::scan_decimal(s, number);
  if (used == 0) return bad(text, "does not start with a number");
  s.remove_prefix(used);

  if (!s.empty() && s.front() == '.') return bad(text, "has a malformed number (a point must sit between digits)");
  if (s.size() >= 2 && (s[0] == 'e' || s[0] == 'E') &&
      ((s[1] >= '0' && s[1] <= '9') ||
       ((s[1] == '+' || s[1] == '-') && s.size() >= 3 && s[2] >= '0' && s[2] <= '9')))
    return bad(text,
               "uses scientific notation, which is not accepted because it is ambiguous: \"e\" is also the exa "
               "unit (\"1e\" is 1 EiB) while other tools read \"1e3\" as 1000 bytes; write the digits out "
               "(\"1000\") or use a unit (\"1 kB\")");

  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  std::size_t letters = 0;
  while (letters < s.size() && detail::is_ascii_letter(s[letters])) ++letters;
  std::string_view unit = s.substr(0, letters);
  std::string_view rest = s.substr(letters);

  std::uint64_t per_unit = 0;
  for (auto const& u : units)
    if (detail::iequals(unit, u.spelling)) per_unit = u.bytes;
  if (per_unit == 0) return bad(text, fmt::format("has an unknown unit {:?}; {}", unit, unit_help));
  if (!rest.empty()) {
    if (unit.empty()) return bad(text, fmt::format("has {:?} after the number where a unit belongs; {}", rest, unit_help));
    return bad(text, fmt::format("has {:?} after the unit {:?}; expected nothing more", rest, unit));
  }

  std::uint64_t bytes = 0;
  switch (detail::scale(number, per_unit, std::numeric_limits<std::uint64_t>::max(), bytes)) {
    case detail::scale_status::ok: return memory(bytes);
    case detail::scale_status::overflow:
      return bad(text, fmt::format("is too large: the most is {} bytes (16 EiB minus one byte)",
                                   std::numeric_limits<std::uint64_t>::max()));
    case detail::scale_status::not_whole: return bad(text, "is not a whole number of bytes");
  }
  return bad(text, "could not be parsed");
}

std::string memory::to_string() const {
  constexpr std::array<unit_entry, 6> binary = {
      {{"EiB", one_eib}, {"PiB", one_pib}, {"TiB", one_tib}, {"GiB", one_gib}, {"MiB", one_mib}, {"KiB", one_kib}}};
  if (bytes_ != 0)
    for (auto const& u : binary)
      if (bytes_ % u.bytes == 0) return fmt::format("{} {}", bytes_ / u.bytes, u.spelling);
  return fmt::format("{} B", bytes_);
}

}  // namespace sbx
