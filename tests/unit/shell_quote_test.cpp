// SPDX-License-Identifier: Apache-2.0
// shell_quote checked against real shells: every generated word, rendered into a command, must
// come back from `sh -c` byte for byte and as exactly one word.
#include <sbx/shell.hpp>

#include "matchers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <ostream>
#include <random>
#include <spawn.h>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using sbx::shell_quote;

struct run_result {
  int status = -1;  // as from waitpid
  std::string out;
  std::string err;
};

// Runs `shell -c script` with a fixed environment and no stdin, collecting stdout and stderr.
run_result run_shell(std::string const& shell, std::string const& script, std::string const& locale) {
  run_result r;
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) posix_spawn_file_actions_addclose(&fa, fd);

  std::string lc_all = "LC_ALL=" + locale;
  std::string path = "PATH=/usr/bin:/bin";
  // A HOME that is not "~" itself, so that an unquoted tilde would show in the output.
  std::string home = "HOME=/sbx-test-home";
  std::vector<char*> envp = {lc_all.data(), path.data(), home.data(), nullptr};
  std::string dash_c = "-c";
  std::string shell_copy = shell;
  std::string script_copy = script;
  std::vector<char*> argv = {shell_copy.data(), dash_c.data(), script_copy.data(), nullptr};

  pid_t pid = -1;
  int rc = posix_spawn(&pid, shell.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << shell << ": " << std::strerror(rc);
    close(out_pipe[0]);
    close(err_pipe[0]);
    return r;
  }

  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      ADD_FAILURE() << "poll: " << std::strerror(errno);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

// Pieces a word is built from: everything a shell might treat specially, and then some.
std::vector<std::string> const& pieces() {
  static std::vector<std::string> const p = [] {
    std::vector<std::string> v;
    for (char c : std::string_view("'\"$`\\\n*?[]~#;|&<>(){} \t=!%^,:@+-./_\r\v\f"))
      v.emplace_back(1, c);
    for (char const* s : {"\xc3\xa9", "\xc3\xbc", "\xe6\x97\xa5\xe6\x9c\xac", "\xe2\x82\xac", "\xf0\x9f\x8e\x89",
                          "\xc2\xa0", "\xc3\x9f", "\xe2\x80\x8b", "$(id)", "`id`", "${HOME}", "$HOME", "'\\''", "\\'",
                          "*.cpp", "~root", "--", "-e", "a=b", "\r\n", "$'x'", "\"$@\"", "$((1+1))", "!!", "\\0",
                          "%s%n", "{a,b}", "[!a]", "$1", "$$", "2>&1", "<<EOF", "\\\n"})
      v.emplace_back(s);
    return v;
  }();
  return p;
}

std::string random_word(std::mt19937_64& rng) {
  auto pick = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::size_t mode = pick(100);
  std::size_t count = mode < 5 ? 0 : mode < 75 ? 1 + pick(16) : mode < 95 ? 17 + pick(184) : 1000 + pick(1000);
  std::string w;
  if (pick(10) == 0) w = pick(2) ? "-" : "--";
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t kind = pick(10);
    if (kind < 4) {
      w += pieces()[pick(pieces().size())];
    } else if (kind < 7) {
      static constexpr std::string_view alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
      w += alnum[pick(alnum.size())];
    } else if (kind < 9) {
      w += static_cast<char>(0x20 + pick(0x5f));  // printable ASCII
    } else {
      w += static_cast<char>(1 + pick(255));  // any byte but NUL, including invalid UTF-8
    }
  }
  return w;
}

std::vector<std::string> test_words() {
  std::vector<std::string> words = {"",   "'",  "''", "\\", "\n", "-n", "--", "-e",  "=", "a=b", "~",
                                    "~/", "*",  "?",  "[",  "#",  "#x", "!",  "$",   "`", "\"",  " ",
                                    "\t", "{}", "%",  "a b", "it's", std::string(5000, '\''),
                                    std::string(20000, 'x')};
  std::mt19937_64 rng(0x5b5eed);
  while (words.size() < 12000) words.push_back(random_word(rng));
  return words;
}

// Three ways to use a word: as an argument, as an assignment's value, and in `set --` (which
// would show a split into several words as extra positional parameters).
std::string command_for(std::string const& word, std::size_t i) {
  switch (i % 3) {
    case 0: return sbx::render_shell("printf '%s\\0' {}", word).value();
    case 1: return sbx::render_shell("x={}; printf '%s\\0' \"$x\"", word).value();
    default: return sbx::render_shell("set -- {}; printf '%s\\0' \"$#\" \"$1\"", word).value();
  }
}

std::string expected_for(std::string const& word, std::size_t i) {
  std::string e = i % 3 == 2 ? std::string("1") + '\0' : std::string();
  return e + word + '\0';
}

struct shell_case {
  std::string shell;
  std::string locale;
  friend void PrintTo(shell_case const& c, std::ostream* os) { *os << c.shell << " LC_ALL=" << c.locale; }
};

class shell_round_trip : public testing::TestWithParam<shell_case> {
 protected:
  void SetUp() override {
    if (GetParam().shell != "/bin/sh" && access(GetParam().shell.c_str(), X_OK) != 0)
      GTEST_SKIP() << GetParam().shell << " is not installed on this machine";
  }
};

// A command line is one argv string, at most 128 KiB on Linux (MAX_ARG_STRLEN); stay well below.
constexpr std::size_t max_script = 96 * 1024;
constexpr std::size_t max_batch = 200;

TEST_P(shell_round_trip, every_generated_word_comes_back_byte_for_byte) {
  auto const words = test_words();
  ASSERT_GE(words.size(), 10000u);
  std::size_t begin = 0, invocations = 0, failures = 0;
  while (begin < words.size() && failures < 5) {
    std::string script, expected;
    std::size_t end = begin;
    while (end < words.size() && end - begin < max_batch) {
      std::string cmd = command_for(words[end], end);
      if (end > begin && script.size() + cmd.size() + 1 > max_script) break;
      script += cmd;
      script += '\n';
      expected += expected_for(words[end], end);
      ++end;
    }
    auto r = run_shell(GetParam().shell, script, GetParam().locale);
    ++invocations;
    if (r.status != 0 || !r.err.empty() || r.out != expected) {
      ++failures;
      // Find the first word whose output differs, to name it in the failure.
      std::size_t at = 0, word = begin;
      for (; word < end; ++word) {
        std::string e = expected_for(words[word], word);
        if (r.out.compare(at, e.size(), e) != 0) break;
        at += e.size();
      }
      ADD_FAILURE() << GetParam().shell << " (LC_ALL=" << GetParam().locale << ") status " << r.status
                    << ", stderr: " << r.err << "\nfirst bad word #" << word
                    << (word < end ? ": " + testing::PrintToString(words[word]) + " rendered as " +
                                         testing::PrintToString(command_for(words[word], word))
                                   : std::string(" (none: extra output)"));
    }
    begin = end;
  }
  EXPECT_EQ(begin, words.size());
  RecordProperty("invocations", static_cast<int>(invocations));
}

TEST_P(shell_round_trip, a_range_argument_becomes_one_word_per_element) {
  auto const all = test_words();
  std::vector<std::string> words;
  std::size_t size = 0;
  for (std::size_t i = 1; i < all.size() && words.size() < 300; ++i) {
    if (all[i].size() > 500) continue;
    words.push_back(all[i]);
    size += all[i].size();
  }
  auto script = sbx::render_shell("printf '%s\\0' {}", words);
  ASSERT_THAT(script, sbx::test::succeeds());
  std::string expected;
  for (auto const& w : words) expected += w + '\0';
  auto r = run_shell(GetParam().shell, script.value(), GetParam().locale);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(r.out == expected) << "output differs for " << words.size() << " words";
}

TEST_P(shell_round_trip, a_quoted_word_cannot_run_a_command) {
  // If quoting failed, the shell would print INJECTED instead of (or besides) the words.
  std::vector<std::string> attacks = {"$(printf INJECTED)", "`printf INJECTED`", "'; printf INJECTED; '",
                                      "\"; printf INJECTED; \"", "x\nprintf INJECTED", "a'$(printf INJECTED)'b",
                                      "\\'; printf INJECTED #"};
  for (auto const& a : attacks) {
    auto r = run_shell(GetParam().shell, sbx::render_shell("printf '%s' {}", a).value(), GetParam().locale);
    EXPECT_EQ(r.out, a);
    EXPECT_EQ(r.status, 0) << r.err;
  }
}

INSTANTIATE_TEST_SUITE_P(shells, shell_round_trip,
                         testing::Values(shell_case{"/bin/sh", "C"}, shell_case{"/bin/sh", "C.UTF-8"},
                                         shell_case{"/bin/dash", "C"}, shell_case{"/bin/dash", "C.UTF-8"},
                                         shell_case{"/bin/bash", "C"}, shell_case{"/bin/bash", "C.UTF-8"}),
                         [](testing::TestParamInfo<shell_case> const& i) {
                           std::string n = i.param.shell.substr(i.param.shell.rfind('/') + 1) + "_" + i.param.locale;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

struct quote_case {
  std::string word;
  std::string quoted;
};

TEST(shell_quote, leaves_safe_words_bare_and_single_quotes_the_rest) {
  std::vector<quote_case> cases = {
      {"hello", "hello"},
      {"a-b_c.d/e:f,g+h@i%j", "a-b_c.d/e:f,g+h@i%j"},
      {"-n", "-n"},
      {"/usr/bin/env", "/usr/bin/env"},
      {"", "''"},
      {"a b", "'a b'"},
      {"it's", "'it'\\''s'"},
      {"'", "''\\'''"},
      {"a=b", "'a=b'"},
      {"~", "'~'"},
      {"$HOME", "'$HOME'"},
      {"*", "'*'"},
      {"#", "'#'"},
      {"\n", "'\n'"},
      {"\\", "'\\'"},
      {"\xc3\xa9", "'\xc3\xa9'"},
      {"{}", "'{}'"},
  };
  for (auto const& c : cases) EXPECT_EQ(shell_quote(c.word), c.quoted) << testing::PrintToString(c.word);
}

TEST(shell_quote, quotes_every_byte_outside_the_safe_set) {
  std::string_view safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,+@%";
  for (int b = 1; b < 256; ++b) {
    std::string w(1, static_cast<char>(b));
    bool bare = safe.find(static_cast<char>(b)) != std::string_view::npos;
    std::string expected = bare ? w : (b == '\'' ? std::string("''\\'''") : "'" + w + "'");
    EXPECT_EQ(shell_quote(w), expected) << "byte " << b;
  }
}

}  // namespace
