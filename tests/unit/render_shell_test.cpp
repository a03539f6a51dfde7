// SPDX-License-Identifier: Apache-2.0
#include <sbx/shell.hpp>

#include "matchers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace {

using sbx::error_kind;
using sbx::render_shell;
using sbx::test::fails_with;
using sbx::test::succeeds_with;
using testing::AllOf;
using testing::HasSubstr;

std::string message_of(sbx::result<std::string> const& r) { return std::string(r.error().message()); }

TEST(render_shell, substitutes_each_placeholder_with_the_quoted_argument) {
  EXPECT_THAT(render_shell("echo {}", "hello"), succeeds_with(std::string("echo hello")));
  EXPECT_THAT(render_shell("echo {}", std::string("it's")), succeeds_with(std::string("echo 'it'\\''s'")));
  EXPECT_THAT(render_shell("cp {} {}", std::string_view("a b"), "c"), succeeds_with(std::string("cp 'a b' c")));
  EXPECT_THAT(render_shell("echo {}", ""), succeeds_with(std::string("echo ''")));
  EXPECT_THAT(render_shell("{}x{}", "a", "b c"), succeeds_with(std::string("ax'b c'")));
}

TEST(render_shell, a_format_without_placeholders_is_copied) {
  EXPECT_THAT(render_shell("ls -la"), succeeds_with(std::string("ls -la")));
  EXPECT_THAT(render_shell(""), succeeds_with(std::string("")));
}

TEST(render_shell, a_vector_expands_to_several_quoted_words) {
  EXPECT_THAT(render_shell("grep -r {} {}", "it's", std::vector<std::string>{"a dir", "b"}),
              succeeds_with(std::string("grep -r 'it'\\''s' 'a dir' b")));
}

TEST(render_shell, an_array_of_string_view_expands_to_several_quoted_words) {
  std::array<std::string_view, 3> words = {"a", "b c", ""};
  EXPECT_THAT(render_shell("rm -- {}", words), succeeds_with(std::string("rm -- a 'b c' ''")));
}

TEST(render_shell, an_empty_range_expands_to_no_words) {
  EXPECT_THAT(render_shell("ls {}", std::vector<std::string>{}), succeeds_with(std::string("ls ")));
}

TEST(render_shell, integers_are_rendered_in_decimal) {
  EXPECT_THAT(render_shell("head -n {}", 42), succeeds_with(std::string("head -n 42")));
  EXPECT_THAT(render_shell("kill -s {} {}", 9, -1), succeeds_with(std::string("kill -s 9 -1")));
  EXPECT_THAT(render_shell("echo {}", std::numeric_limits<std::uint64_t>::max()),
              succeeds_with(std::string("echo 18446744073709551615")));
  EXPECT_THAT(render_shell("echo {}", std::numeric_limits<std::int64_t>::min()),
              succeeds_with(std::string("echo -9223372036854775808")));
}

TEST(render_shell, doubled_braces_are_literal) {
  EXPECT_THAT(render_shell("echo {{}}"), succeeds_with(std::string("echo {}")));
  EXPECT_THAT(render_shell("echo {{{}}}", "x"), succeeds_with(std::string("echo {x}")));
  EXPECT_THAT(render_shell("awk '{{print $1}}' {}", "f"), succeeds_with(std::string("awk '{print $1}' f")));
  EXPECT_THAT(render_shell("a }} b {{ c"), succeeds_with(std::string("a } b { c")));
}

TEST(render_shell, braces_inside_arguments_are_not_placeholders) {
  EXPECT_THAT(render_shell("echo {} {}", "{}", "}{"), succeeds_with(std::string("echo '{}' '}{'")));
}

TEST(render_shell, more_placeholders_than_arguments_names_the_missing_one) {
  auto r = render_shell("echo {} {}", "a");
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(r), AllOf(HasSubstr("\"echo {} {}\""), HasSubstr("2 placeholders but 1 argument"),
                                   HasSubstr("placeholder 2 (at offset 8) has no argument")));
}

TEST(render_shell, a_placeholder_without_any_argument_is_refused) {
  auto r = render_shell("echo {}");
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(r), HasSubstr("placeholder 1 (at offset 5) has no argument"));
}

TEST(render_shell, more_arguments_than_placeholders_names_the_unused_one) {
  auto r = render_shell("echo {}", "a", "b", "c");
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(r), AllOf(HasSubstr("\"echo {}\""), HasSubstr("1 placeholder but 3 arguments"),
                                   HasSubstr("argument 2 is not used")));
}

TEST(render_shell, a_lone_open_brace_is_refused_with_its_offset) {
  auto r = render_shell("echo { x", "a");
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(r), AllOf(HasSubstr("lone \"{\" at offset 5"), HasSubstr("\"{{\"")));
  EXPECT_THAT(render_shell("echo {0}", "a"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(render_shell("echo {:x}", 1), fails_with(error_kind::invalid_request));
  EXPECT_THAT(render_shell("echo {", "a"), fails_with(error_kind::invalid_request));
  EXPECT_THAT(render_shell("echo {{}", "a"), fails_with(error_kind::invalid_request));
}

TEST(render_shell, a_lone_close_brace_is_refused_with_its_offset) {
  auto r = render_shell("echo } x");
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(r), AllOf(HasSubstr("lone \"}\" at offset 5"), HasSubstr("\"}}\"")));
  auto r2 = render_shell("echo {}}", "a");
  ASSERT_THAT(r2, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(r2), HasSubstr("offset 7"));
}

TEST(render_shell, an_argument_with_a_nul_byte_is_refused_naming_it) {
  auto r = render_shell("cat {} {}", "ok", std::string("a\0b", 3));
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(r), AllOf(HasSubstr("argument 2"), HasSubstr("NUL")));
  auto first = render_shell("cat {}", std::string(1, '\0'));
  ASSERT_THAT(first, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(first), HasSubstr("argument 1"));
}

TEST(render_shell, a_range_element_with_a_nul_byte_is_refused) {
  auto r = render_shell("rm {}", std::vector<std::string>{"a", std::string("b\0", 2)});
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(r), AllOf(HasSubstr("argument 1"), HasSubstr("NUL")));
}

TEST(render_shell, a_format_with_a_nul_byte_is_refused) {
  auto r = render_shell(std::string_view("echo \0 {}", 9), "a");
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(message_of(r), HasSubstr("NUL byte at offset 5"));
}

TEST(render_shell, the_low_level_form_takes_already_quoted_words) {
  std::vector<std::string> quoted = {"'a b'", "c"};
  EXPECT_THAT(sbx::detail::render_shell("x {} {}", quoted), succeeds_with(std::string("x 'a b' c")));
}

}  // namespace
