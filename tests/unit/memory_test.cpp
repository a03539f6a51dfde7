// SPDX-License-Identifier: Apache-2.0
#include <sbx/memory.hpp>

#include "matchers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <string_view>

namespace sbx {
// So that a failed expectation shows "1 GiB (1073741824 bytes)" rather than raw bytes.
inline void PrintTo(memory m, std::ostream* os) { *os << m.to_string() << " (" << m.bytes() << " bytes)"; }
}  // namespace sbx

namespace {

using sbx::memory;
using sbx::error_kind;
using sbx::test::fails_with;
using sbx::test::succeeds_with;
using testing::HasSubstr;

constexpr std::uint64_t KiB = 1ull << 10, MiB = 1ull << 20, GiB = 1ull << 30, TiB = 1ull << 40, PiB = 1ull << 50,
                        EiB = 1ull << 60;
constexpr std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max();

struct good_case {
  const char* fact;
  friend void PrintTo(good_case const& c, std::ostream* os) { *os << c.fact; }
  std::string_view text;
  std::uint64_t bytes;
};

class memory_parses : public testing::TestWithParam<good_case> {};

TEST_P(memory_parses, to_the_exact_number_of_bytes) {
  auto const& c = GetParam();
  EXPECT_THAT(memory::parse(c.text), succeeds_with(memory(c.bytes))) << "input: " << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    table, memory_parses,
    testing::Values(
        good_case{"bare_number_is_bytes", "1048576", 1048576},
        good_case{"zero_is_zero", "0", 0},
        good_case{"zero_with_unit_is_zero", "0 GiB", 0},
        good_case{"gib_with_space", "1 GiB", GiB},
        good_case{"mib_without_space", "768MiB", 768 * MiB},
        good_case{"mib_1280", "1280 MiB", 1280 * MiB},
        good_case{"one_and_a_half_gib_is_exact", "1.5 GiB", 1610612736},
        good_case{"decimal_gb_fraction", "1.5GB", 1'500'000'000},
        good_case{"docker_lower_k_is_binary", "512k", 512 * KiB},
        good_case{"docker_lower_m_is_binary", "512m", 512 * MiB},
        good_case{"docker_upper_g_is_binary", "2G", 2 * GiB},
        good_case{"bare_t_is_binary", "1T", TiB},
        good_case{"kubernetes_mi_is_binary", "256Mi", 256 * MiB},
        good_case{"kubernetes_gi_is_binary", "4Gi", 4 * GiB},
        good_case{"kilo_b_is_decimal", "4kB", 4000},
        good_case{"upper_kb_is_decimal", "4KB", 4000},
        good_case{"lower_mb_is_decimal", "512mb", 512'000'000},
        good_case{"lower_gib_is_case_insensitive", "1gib", GiB},
        good_case{"upper_gib_is_case_insensitive", "1GIB", GiB},
        good_case{"tib", "3 TiB", 3 * TiB},
        good_case{"pib", "2 PiB", 2 * PiB},
        good_case{"eib", "1 EiB", EiB},
        good_case{"eb_is_decimal", "18 EB", 18'000'000'000'000'000'000ull},
        good_case{"tb_is_decimal", "2 TB", 2'000'000'000'000ull},
        good_case{"b_is_bytes", "1000 B", 1000},
        good_case{"lower_b_is_bytes", "1000b", 1000},
        good_case{"word_byte", "1 byte", 1},
        good_case{"word_bytes", "2 bytes", 2},
        good_case{"tab_between_number_and_unit", "1\tGiB", GiB},
        good_case{"several_spaces_between_number_and_unit", "1   GiB", GiB},
        good_case{"surrounding_whitespace_is_ignored", "  1 GiB \n", GiB},
        good_case{"leading_zeros", "007 MiB", 7 * MiB},
        good_case{"trailing_zeros_in_fraction", "1.50000 GiB", 1610612736},
        good_case{"half_kib", "0.5 KiB", 512},
        good_case{"quarter_mb", "1.25 MB", 1'250'000},
        good_case{"one_byte_as_fraction_of_kib", "0.0009765625 KiB", 1},
        good_case{"one_byte_as_fraction_of_kb", "0.001 kB", 1},
        good_case{"fraction_that_is_whole_bytes", "2.0 B", 2},
        good_case{"largest_bare_number", "18446744073709551615", max_bytes},
        good_case{"largest_as_exact_fraction_of_eib",
                  "15.999999999999999999132638262011596452794037759304046630859375 EiB", max_bytes},
        good_case{"largest_as_fraction_of_eb", "18.446744073709551615 EB", max_bytes},
        good_case{"just_below_16_eib_in_pib", "16383 PiB", 16383 * PiB}),
    [](testing::TestParamInfo<good_case> const& i) { return std::string(i.param.fact); });

struct bad_case {
  const char* fact;
  friend void PrintTo(bad_case const& c, std::ostream* os) { *os << c.fact; }
  std::string_view text;
  std::string_view says;    // a phrase the message must contain
  std::string_view quoted;  // how the message quotes the input, when not just "text"
};

class memory_rejects : public testing::TestWithParam<bad_case> {};

TEST_P(memory_rejects, as_invalid_request_quoting_the_input) {
  auto const& c = GetParam();
  auto r = memory::parse(c.text);
  ASSERT_THAT(r, fails_with(error_kind::invalid_request)) << "input: " << c.text;
  std::string quoted = c.quoted.empty() ? "\"" + std::string(c.text) + "\"" : std::string(c.quoted);
  EXPECT_THAT(std::string(r.error().message()), HasSubstr(quoted));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr(std::string(c.says)));
}

INSTANTIATE_TEST_SUITE_P(
    table, memory_rejects,
    testing::Values(
        bad_case{"empty", "", "is empty", "\"\""},
        bad_case{"only_whitespace", "   ", "is empty", ""},
        bad_case{"negative", "-1 GiB", "negative", ""},
        bad_case{"negative_zero", "-0", "negative", ""},
        bad_case{"plus_sign", "+1 GiB", "sign", ""},
        bad_case{"scientific_notation", "1e3", "scientific notation, which is not accepted because it is ambiguous", ""},
        bad_case{"scientific_notation_upper", "1E6", "scientific notation", ""},
        bad_case{"scientific_notation_negative_exponent", "1e-3", "scientific notation", ""},
        bad_case{"scientific_notation_with_fraction", "1.5e3 MiB", "scientific notation", ""},
        bad_case{"unknown_unit", "5 parsecs", "unknown unit \"parsecs\"", ""},
        bad_case{"zebibytes_are_unknown", "5 ZiB", "unknown unit \"ZiB\"", ""},
        bad_case{"bits_are_unknown", "5 Mbit", "unknown unit \"Mbit\"", ""},
        bad_case{"half_a_byte", "0.5 B", "not a whole number of bytes", ""},
        bad_case{"bare_fraction_is_a_fraction_of_a_byte", "1.3", "not a whole number of bytes", ""},
        bad_case{"tiny_fraction_of_kib", "1.0000001 KiB", "not a whole number of bytes", ""},
        bad_case{"tenth_of_a_byte_in_kb", "0.0001 kB", "not a whole number of bytes", ""},
        bad_case{"sixteen_eib_overflows", "16 EiB", "too large", ""},
        bad_case{"many_tib_overflow", "99999999999 TiB", "too large", ""},
        bad_case{"one_past_max_overflows", "18446744073709551616", "too large", ""},
        bad_case{"forty_digits_overflow", "9999999999999999999999999999999999999999", "too large", ""},
        bad_case{"nineteen_eb_overflow", "19 EB", "too large", ""},
        bad_case{"overflow_by_the_fraction", "18.446744073709551616 EB", "too large", ""},
        bad_case{"junk_after_unit", "1 GiB foo", "after the unit \"GiB\"", ""},
        bad_case{"digit_after_unit", "1GiB2", "after the unit", ""},
        bad_case{"two_sizes", "1 GiB 512 MiB", "after the unit", ""},
        bad_case{"symbol_instead_of_unit", "5 %", "after the number", ""},
        bad_case{"decimal_comma", "1,5 GiB", "after the number", ""},
        bad_case{"digit_separator", "1_000 MiB", "after the number", ""},
        bad_case{"point_without_digits_after", "1. GiB", "malformed number", ""},
        bad_case{"point_without_digits_before", ".5 GiB", "point", ""},
        bad_case{"two_points", "1.5.2 GiB", "malformed number", ""},
        bad_case{"unit_without_number", "GiB", "does not start with a number", ""},
        bad_case{"non_ascii_unit", "5 \xc2\xb5" "B", "after the number", ""},
        bad_case{"newline_between_number_and_unit", "1\nGiB", "after the number", "\"1\\nGiB\""}),
    [](testing::TestParamInfo<bad_case> const& i) { return std::string(i.param.fact); });

TEST(memory, a_fraction_one_atom_past_the_maximum_is_refused_not_wrapped) {
  // The largest value is 16 EiB - 2^-60 EiB exactly; one more decimal digit makes it inexact, and
  // 16 EiB itself must not wrap around to 0.
  EXPECT_THAT(memory::parse("15.999999999999999999132638262011596452794037759304046630859376 EiB"),
              fails_with(error_kind::invalid_request));
  EXPECT_THAT(memory::parse("16.0 EiB"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(memory::parse("15.5 EiB"), succeeds_with(memory(15 * EiB + EiB / 2)));
}

TEST(memory, to_string_uses_the_largest_exact_binary_unit) {
  EXPECT_EQ(memory(0).to_string(), "0 B");
  EXPECT_EQ(memory(1).to_string(), "1 B");
  EXPECT_EQ(memory(1000).to_string(), "1000 B");
  EXPECT_EQ(memory(1536).to_string(), "1536 B");
  EXPECT_EQ(memory(KiB).to_string(), "1 KiB");
  EXPECT_EQ(memory::mib(1280).to_string(), "1280 MiB");
  EXPECT_EQ(memory::gib(1).to_string(), "1 GiB");
  EXPECT_EQ(memory(3 * TiB).to_string(), "3 TiB");
  EXPECT_EQ(memory(5 * PiB).to_string(), "5 PiB");
  EXPECT_EQ(memory(EiB).to_string(), "1 EiB");
  EXPECT_EQ(memory(15 * EiB).to_string(), "15 EiB");
  EXPECT_EQ(memory(max_bytes).to_string(), "18446744073709551615 B");
}

TEST(memory, to_string_round_trips_through_parse) {
  std::mt19937_64 rng(20240611);
  std::vector<std::uint64_t> values = {0, 1, 1023, 1024, 1025, 1536, MiB, 1280 * MiB, GiB + 1, 3 * TiB, EiB, max_bytes};
  for (int i = 0; i < 2000; ++i) {
    std::uint64_t v = rng();
    // Mix in values with many trailing zero bits so that every unit is exercised.
    values.push_back(v >> (rng() % 64) << (rng() % 61));
  }
  for (auto v : values) {
    memory m(v);
    EXPECT_THAT(memory::parse(m.to_string()), succeeds_with(m)) << m.to_string();
  }
}

TEST(memory, compares_by_bytes) {
  EXPECT_EQ(memory::parse("1 GiB").value(), memory::mib(1024));
  EXPECT_LT(memory::parse("1 GB").value(), memory::parse("1 GiB").value());
  EXPECT_EQ(memory::gib(2).mebibytes(), 2048u);
}

}  // namespace
