// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/result.hpp>

#include <array>
#include <concepts>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace sbx {

/// Quotes `word` for a POSIX shell so that it is read back as exactly one word, byte for
/// byte: `it's` becomes `'it'\''s'`, the empty string `''`. Words made only of characters
/// the shell never treats specially (letters, digits, `-_./:,+@%`) are left bare. Quoting is
/// about the shell, not the command's own option parsing: a leading `-` stays an option.
std::string shell_quote(std::string_view word);

namespace detail {

template <class T>
concept string_like = std::convertible_to<T const&, std::string_view>;

// Not std::ranges: <ranges> alone costs a user TU about half a second with GCC 12.
template <class T>
concept word_range = !string_like<T> && requires(T const& t) {
  std::begin(t);
  std::end(t);
  requires string_like<std::iter_value_t<decltype(std::begin(t))>>;
};

inline std::string quote_arg(std::string_view s) { return shell_quote(s); }
// Integers as numbers; char and bool are refused (`'a'` would print 97, `true` 1).
template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char> && !std::same_as<T, signed char> &&
           !std::same_as<T, unsigned char> && !std::same_as<T, char8_t> && !std::same_as<T, char16_t> &&
           !std::same_as<T, char32_t> && !std::same_as<T, wchar_t>)
std::string quote_arg(T v) { return shell_quote(std::to_string(v)); }
/// A range expands to several words, each quoted: `{"a b", "c"}` -> `'a b' c`.
template <word_range R>
std::string quote_arg(R const& words) {
  std::string out;
  for (auto const& w : words) {
    if (!out.empty()) out += ' ';
    out += shell_quote(std::string_view(w));
  }
  return out;
}

/// Substitutes `{}` in `format` with `quoted` in order; `{{` and `}}` are literal braces.
/// Errors: invalid_request (placeholder and argument counts differ, a lone brace, or an
/// argument with a NUL byte, which no command line can carry).
result<std::string> render_shell(std::string_view format, std::span<std::string const> quoted);

}  // namespace detail

/// Renders a shell command from a fmt-style `format` in which every `{}` is replaced by the
/// next argument, shell-quoted; a range argument becomes several quoted words. Injection is
/// impossible by construction: no argument can end its word.
///
///     sbx::render_shell("grep -r {} {}", pattern, std::vector<std::string>{"a dir", "b"})
///     // -> grep -r 'it'\''s' 'a dir' b
template <class... Args>
result<std::string> render_shell(std::string_view format, Args const&... args) {
  std::array<std::string, sizeof...(Args)> quoted{detail::quote_arg(args)...};
  return detail::render_shell(format, std::span<std::string const>(quoted.data(), quoted.size()));
}

}  // namespace sbx
