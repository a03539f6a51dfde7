// SPDX-License-Identifier: Apache-2.0
#include <sbx/shell.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <vector>

namespace sbx {
namespace {

// Characters no POSIX shell gives a meaning to in any position of a word. `=` is left out
// (an assignment when the word comes first), so is `~` (tilde expansion at a word's start)
// and everything a glob, expansion, redirection or separator uses.
bool is_bare_safe(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '_': case '.': case '/': case ':': case ',': case '+': case '@': case '%': return true;
    default: return false;
  }
}

error bad(std::string message) { return make_error(error_kind::invalid_request, std::move(message)); }

std::string plural(std::size_t n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

}  // namespace

std::string shell_quote(std::string_view word) {
  if (word.empty()) return "''";
  bool bare = true;
  for (char c : word)
    if (!is_bare_safe(c)) {
      bare = false;
      break;
    }
  if (bare) return std::string(word);
  // Inside single quotes every byte is literal except `'` itself, which cannot be escaped there:
  // close the quote, emit an escaped quote, reopen.
  std::string out;
  out.reserve(word.size() + 2);
  out += '\'';
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

namespace detail {

result<std::string> render_shell(std::string_view format, std::span<std::string const> quoted) {
  // First pass: check the braces and find the placeholders, so that a count mismatch is
  // reported with the whole picture rather than at the first missing argument.
  std::vector<std::size_t> placeholders;
  for (std::size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == '\0') return bad(fmt::format("shell format {:?} has a NUL byte at offset {}, which no command line can carry", format, i));
    if (c == '{') {
      if (i + 1 < format.size() && format[i + 1] == '{') {
        ++i;
      } else if (i + 1 < format.size() && format[i + 1] == '}') {
        placeholders.push_back(i);
        ++i;
      } else {
        return bad(fmt::format("shell format {:?} has a lone \"{{\" at offset {}; only \"{{}}\" is a placeholder, "
                               "write \"{{{{\" for a literal brace",
                               format, i));
      }
    } else if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}')
        ++i;
      else
        return bad(fmt::format("shell format {:?} has a lone \"}}\" at offset {}; write \"}}}}\" for a literal brace",
                               format, i));
    }
  }
  if (placeholders.size() < quoted.size())
    return bad(fmt::format("shell format {:?} has {} but {} given; argument {} is not used", format,
                           plural(placeholders.size(), "placeholder"), plural(quoted.size(), "argument"),
                           placeholders.size() + 1));
  if (placeholders.size() > quoted.size())
    return bad(fmt::format("shell format {:?} has {} but {} given; placeholder {} (at offset {}) has no argument",
                           format, plural(placeholders.size(), "placeholder"), plural(quoted.size(), "argument"),
                           quoted.size() + 1, placeholders[quoted.size()]));
  for (std::size_t a = 0; a < quoted.size(); ++a)
    if (quoted[a].find('\0') != std::string::npos)
      return bad(fmt::format("shell argument {} of format {:?} contains a NUL byte, which no command line can carry",
                             a + 1, format));

  std::string out;
  std::size_t size = format.size();
  for (auto const& q : quoted) size += q.size();
  out.reserve(size);
  std::size_t next = 0;
  for (std::size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if ((c == '{' || c == '}') && i + 1 < format.size() && format[i + 1] == c) {
      out += c;
      ++i;
    } else if (c == '{') {  // validated above: this is "{}"
      out += quoted[next++];
      ++i;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace detail
}  // namespace sbx
