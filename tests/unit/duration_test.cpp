// SPDX-License-Identifier: Apache-2.0
#include <sbx/duration.hpp>

#include "matchers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <ostream>
#include <string>
#include <string_view>

namespace {

using namespace std::chrono_literals;
using sbx::error_kind;
using sbx::format_duration;
using sbx::parse_duration;
using sbx::test::fails_with;
using sbx::test::succeeds_with;
using std::chrono::milliseconds;
using testing::HasSubstr;

constexpr std::int64_t max_ms = std::numeric_limits<std::int64_t>::max();

struct good_case {
  const char* fact;
  friend void PrintTo(good_case const& c, std::ostream* os) { *os << c.fact; }
  std::string_view text;
  milliseconds value;
};

class duration_parses : public testing::TestWithParam<good_case> {};

TEST_P(duration_parses, to_the_exact_number_of_milliseconds) {
  auto const& c = GetParam();
  EXPECT_THAT(parse_duration(c.text), succeeds_with(c.value)) << "input: " << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    table, duration_parses,
    testing::Values(
        good_case{"seconds", "30s", 30s},
        good_case{"minutes", "5m", 5min},
        good_case{"hours_and_minutes", "1h30m", 90min},
        good_case{"fractional_hours_are_exact", "1.5h", 90min},
        good_case{"milliseconds", "250ms", 250ms},
        good_case{"word_minutes", "10 minutes", 10min},
        good_case{"word_hours", "2 hours", 2h},
        good_case{"bare_number_is_milliseconds", "1500", 1500ms},
        good_case{"bare_zero", "0", 0ms},
        good_case{"zero_seconds", "0s", 0ms},
        good_case{"day", "1d", 24h},
        good_case{"word_day", "1 day", 24h},
        good_case{"word_days", "2 days", 48h},
        good_case{"words_with_components", "1 hour 30 minutes", 90min},
        good_case{"spaced_components", "1h 30m 15s", 1h + 30min + 15s},
        good_case{"every_unit", "1d2h3m4s5ms", 24h + 2h + 3min + 4s + 5ms},
        good_case{"minutes_seconds_milliseconds", "1m30s500ms", 90500ms},
        good_case{"quarter_second", "0.25s", 250ms},
        good_case{"one_millisecond_as_fraction", "0.001s", 1ms},
        good_case{"fractional_minutes", "1.5 minutes", 90s},
        good_case{"words_ignore_case", "2 Hours", 2h},
        good_case{"upper_case_word", "1 SECOND", 1s},
        good_case{"singular_word_millisecond", "1 millisecond", 1ms},
        good_case{"sec_abbreviation", "1 sec", 1s},
        good_case{"mins_abbreviation", "5 mins", 5min},
        good_case{"hrs_abbreviation", "3 hrs", 3h},
        good_case{"msec_abbreviation", "100 msec", 100ms},
        good_case{"surrounding_whitespace_is_ignored", "  5m \n", 5min},
        good_case{"tab_between_number_and_unit", "1\th", 1h},
        good_case{"trailing_zeros_in_fraction", "2.500s", 2500ms},
        good_case{"largest_bare_number", "9223372036854775807", milliseconds(max_ms)},
        good_case{"largest_in_milliseconds", "9223372036854775807ms", milliseconds(max_ms)},
        good_case{"most_whole_days", "106751991167d", milliseconds(106751991167ll * 86400000ll)},
        good_case{"largest_in_components", "106751991167d7h12m55s807ms", milliseconds(max_ms)}),
    [](testing::TestParamInfo<good_case> const& i) { return std::string(i.param.fact); });

struct bad_case {
  const char* fact;
  friend void PrintTo(bad_case const& c, std::ostream* os) { *os << c.fact; }
  std::string_view text;
  std::string_view says;
  std::string_view quoted;  // how the message quotes the input, when not just "text"
};

class duration_rejects : public testing::TestWithParam<bad_case> {};

TEST_P(duration_rejects, as_invalid_request_quoting_the_input) {
  auto const& c = GetParam();
  auto r = parse_duration(c.text);
  ASSERT_THAT(r, fails_with(error_kind::invalid_request)) << "input: " << c.text;
  std::string quoted = c.quoted.empty() ? "\"" + std::string(c.text) + "\"" : std::string(c.quoted);
  EXPECT_THAT(std::string(r.error().message()), HasSubstr(quoted));
  EXPECT_THAT(std::string(r.error().message()), HasSubstr(std::string(c.says)));
}

INSTANTIATE_TEST_SUITE_P(
    table, duration_rejects,
    testing::Values(
        bad_case{"empty", "", "is empty", "\"\""},
        bad_case{"only_whitespace", " \t ", "is empty", "\" \\t \""},
        bad_case{"negative", "-5m", "negative", ""},
        bad_case{"negative_zero", "-0", "negative", ""},
        bad_case{"plus_sign", "+5m", "sign", ""},
        bad_case{"unknown_unit", "5 parsecs", "unknown unit \"parsecs\"", ""},
        bad_case{"fortnights_are_unknown", "2 fortnights", "unknown unit \"fortnights\"", ""},
        bad_case{"upper_case_m_is_not_minutes", "5M", "abbreviations are lower case", ""},
        bad_case{"upper_case_s_is_refused", "5S", "abbreviations are lower case", ""},
        bad_case{"half_a_millisecond", "0.5ms", "finer than one millisecond", ""},
        bad_case{"tenth_of_a_millisecond_in_seconds", "1.0001s", "finer than one millisecond", ""},
        bad_case{"bare_fraction_is_sub_millisecond", "1.5", "finer than one millisecond", ""},
        bad_case{"microseconds", "500us", "finer than one millisecond", ""},
        bad_case{"micro_sign_seconds", "5\xc2\xb5s", "finer than one millisecond", ""},
        bad_case{"nanoseconds", "1ns", "finer than one millisecond", ""},
        bad_case{"one_day_too_many", "106751991168d", "too large", ""},
        bad_case{"one_past_max", "9223372036854775808", "too large", ""},
        bad_case{"huge_number", "99999999999999999999999999999h", "too large", ""},
        bad_case{"sum_overflows", "106751991167d 1000h", "too large", ""},
        bad_case{"scientific_notation", "1e3", "scientific notation", ""},
        bad_case{"number_without_unit_after_component", "1h30", "no unit after \"30\"", ""},
        bad_case{"two_bare_numbers", "1500 5", "no unit after \"1500\"", ""},
        bad_case{"components_out_of_order", "30m1h", "largest to smallest", ""},
        bad_case{"repeated_unit", "5m5m", "write each unit once", ""},
        bad_case{"seconds_word_after_abbreviation", "1s 2 seconds", "write each unit once", ""},
        bad_case{"unknown_second_unit", "1h 2x", "unknown unit \"x\"", ""},
        bad_case{"no_number", "abc", "does not start with a number", ""},
        bad_case{"unit_alone", "h", "does not start with a number", ""},
        bad_case{"point_without_digits_after", "1.h", "malformed number", ""},
        bad_case{"point_without_digits_before", ".5s", "point", ""},
        bad_case{"junk_after_unit", "5s!", "where a number belongs", ""},
        bad_case{"decimal_comma", "1,5s", "where a unit belongs", ""},
        bad_case{"newline_inside", "5\nm", "where a unit belongs", "\"5\\nm\""}),
    [](testing::TestParamInfo<bad_case> const& i) { return std::string(i.param.fact); });

TEST(duration, format_uses_components_from_days_to_milliseconds) {
  EXPECT_EQ(format_duration(0ms), "0s");
  EXPECT_EQ(format_duration(5min), "5m");
  EXPECT_EQ(format_duration(90min), "1h30m");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(26h), "1d2h");
  EXPECT_EQ(format_duration(90500ms), "1m30s500ms");
  EXPECT_EQ(format_duration(1s), "1s");
  EXPECT_EQ(format_duration(-5min), "-5m");
  EXPECT_EQ(format_duration(milliseconds(max_ms)), "106751991167d7h12m55s807ms");
  EXPECT_EQ(format_duration(milliseconds(std::numeric_limits<std::int64_t>::min())), "-106751991167d7h12m55s808ms");
}

TEST(duration, format_round_trips_through_parse) {
  std::mt19937_64 rng(424242);
  std::vector<milliseconds> values = {0ms, 1ms, 999ms, 1s, 59s, 1min, 90min, 24h, milliseconds(max_ms)};
  std::uniform_int_distribution<std::int64_t> any(0, max_ms);
  for (int i = 0; i < 2000; ++i) {
    values.push_back(milliseconds(any(rng) >> (rng() % 63)));
    // Whole multiples of each unit, so that zero components are left out in every position.
    values.push_back(milliseconds((rng() % 100000) * std::int64_t{1000} * (1 + rng() % 3600)));
  }
  for (auto v : values) EXPECT_THAT(parse_duration(format_duration(v)), succeeds_with(v)) << format_duration(v);
}

}  // namespace
