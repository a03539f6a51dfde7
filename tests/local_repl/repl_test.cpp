// SPDX-License-Identifier: Apache-2.0
// Kernel sessions on the local provider: python3 and node REPLs in real sandboxes. State,
// values, printing (kept apart from the protocol), exceptions, timeouts (the session
// survives an interrupted eval; an interpreter that will not stop is killed), interpreter
// death, multi-line input, large outputs and unicode.

#include "support.hpp"

#include <matchers.hpp>

#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace sbx::test {
namespace {

using namespace std::chrono_literals;
using testing::AllOf;
using testing::Field;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;
using testing::StartsWith;
using clock = std::chrono::steady_clock;

class local_repl : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_LOCAL();
    auto b = local_client().create(request<local>{});
    ASSERT_THAT(b, succeeds());
    box_.emplace(std::move(b).value());
  }
  sbx::repl open(std::string_view lang) {
    auto r = box_->repl(lang);
    if (!r) {
      ADD_FAILURE() << "repl(" << lang << "): " << r.error().to_string();
      return {};
    }
    return std::move(r).value();
  }
  // Evaluates and returns the output, failing the test on an error.
  static repl_output ok(sbx::repl& r, std::string_view code, std::optional<std::chrono::milliseconds> t = {}) {
    auto o = r.eval(code, t);
    if (!o) {
      ADD_FAILURE() << "eval(" << code << "): " << o.error().to_string();
      return {};
    }
    return std::move(o).value();
  }
  std::optional<sandbox<local>> box_;
};

#define OPEN(var, lang)   \
  auto var = open(lang);  \
  ASSERT_TRUE(var)

// ---- python ----

TEST_F(local_repl, python_keeps_variables_functions_and_classes_between_evals) {
  OPEN(py, "python");
  EXPECT_THAT(ok(py, "x = 41"), AllOf(Field(&repl_output::value, ""), Field(&repl_output::error, "")));
  EXPECT_EQ(ok(py, "x + 1").value, "42");
  EXPECT_EQ(ok(py, "def double(a):\n    \"\"\"Twice a.\"\"\"\n    return a * 2\n").value, "");
  EXPECT_EQ(ok(py, "class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n"
                   "    def __repr__(self):\n        return f'Point({self.x}, {self.y})'\n\n"
                   "p = Point(1, double(x))\n").error, "");
  EXPECT_EQ(ok(py, "p").value, "Point(1, 82)");
  EXPECT_EQ(ok(py, "for i in range(3):\n    x += i\nx").value, "44");
  EXPECT_EQ(ok(py, "import math\nmath.pi").value.substr(0, 6), "3.1415");
  EXPECT_EQ(ok(py, "'text'").value, "'text'");   // repr, like a notebook
  EXPECT_EQ(ok(py, "None").value, "");
  EXPECT_EQ(ok(py, "_").value, "'text'");         // the last value, as in the interactive shell
}

TEST_F(local_repl, python_print_goes_to_stdout_and_stderr_apart_from_the_value) {
  OPEN(py, "python");
  auto o = ok(py, "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\n7");
  EXPECT_EQ(o.stdout_data, "to out\n");
  EXPECT_EQ(o.stderr_data, "to err\n");
  EXPECT_EQ(o.value, "7");
  // Output belongs to the eval that printed it.
  EXPECT_THAT(ok(py, "1"), AllOf(Field(&repl_output::stdout_data, ""), Field(&repl_output::stderr_data, "")));
  // Writes to fd 1 directly and from child processes are captured, not mixed into the protocol.
  auto raw = ok(py, "import os, subprocess\nos.write(1, b'raw fd\\n')\nsubprocess.run(['echo', 'from a child'])\n"
                    "subprocess.run('echo child err >&2', shell=True)\n'after'");
  EXPECT_EQ(raw.stdout_data, "raw fd\nfrom a child\n");
  EXPECT_EQ(raw.stderr_data, "child err\n");
  EXPECT_EQ(raw.value, "'after'");
  // stdin is not the protocol stream: reading it sees end of file.
  EXPECT_THAT(ok(py, "input()").error, HasSubstr("EOFError"));
  EXPECT_EQ(ok(py, "import sys; sys.stdin.read()").value, "''");
}

TEST_F(local_repl, python_exception_is_a_value_with_the_traceback_and_the_session_survives) {
  OPEN(py, "python");
  ok(py, "x = 1");
  auto e = ok(py, "def f():\n    raise ValueError('boom')\nprint('before')\nf()");
  EXPECT_THAT(e.error, HasSubstr("Traceback (most recent call last)"));
  EXPECT_THAT(e.error, HasSubstr("ValueError: boom"));
  EXPECT_THAT(e.error, HasSubstr("raise ValueError('boom')"));  // the source line of the cell
  EXPECT_THAT(e.error, Not(HasSubstr("_sbx_repl_main"))) << "driver frames leak into the traceback";
  EXPECT_EQ(e.stdout_data, "before\n");
  EXPECT_FALSE(e.ok());
  EXPECT_THAT(ok(py, "def broken(:\n  pass").error, HasSubstr("SyntaxError"));
  EXPECT_THAT(ok(py, "import sys; sys.exit(3)").error, HasSubstr("SystemExit: 3"));
  EXPECT_THAT(ok(py, "raise KeyboardInterrupt").error, HasSubstr("KeyboardInterrupt"));
  EXPECT_EQ(ok(py, "x").value, "1");
}

TEST_F(local_repl, python_timeout_interrupts_the_eval_and_keeps_the_state) {
  OPEN(py, "python");
  ok(py, "x = 'kept'");
  auto t0 = clock::now();
  EXPECT_THAT(py.eval("while True:\n    pass", 500ms), fails_with(error_kind::timeout));
  EXPECT_LT(clock::now() - t0, 3s);
  EXPECT_EQ(ok(py, "x").value, "'kept'");
  EXPECT_THAT(py.eval("import time\ntime.sleep(60)", 300ms), fails_with(error_kind::timeout));
  // User code that swallows the interrupt is interrupted again (every 100 ms) until it gives
  // up, and the eval still reports its timeout.
  EXPECT_THAT(py.eval("import time\nfor i in range(5):\n    try:\n        time.sleep(10)\n    except BaseException:\n        pass\n", 300ms),
              fails_with(error_kind::timeout));
  EXPECT_EQ(ok(py, "x").value, "'kept'");
  EXPECT_EQ(ok(py, "sum(range(10))", 5s).value, "45");  // a timeout that is not reached changes nothing
}

TEST_F(local_repl, python_that_will_not_stop_is_killed_and_the_session_then_reports_exec_failed) {
  OPEN(py, "python");
  ok(py, "x = 1");
  auto t0 = clock::now();
  auto r = py.eval("while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n", 300ms);
  EXPECT_THAT(r, fails_with(error_kind::timeout));
  EXPECT_LT(clock::now() - t0, 10s);
  EXPECT_THAT(py.eval("x"), fails_with(error_kind::exec_failed));
  EXPECT_THAT(py.eval("x"), fails_with(error_kind::exec_failed));
}

TEST_F(local_repl, python_interpreter_death_is_exec_failed_from_then_on) {
  OPEN(py, "python");
  auto r = py.eval("import os\nos._exit(3)");
  ASSERT_THAT(r, fails_with(error_kind::exec_failed));
  EXPECT_THAT(r.error().to_string(), HasSubstr("exit status 3"));
  EXPECT_THAT(py.eval("1"), fails_with(error_kind::exec_failed));
  // A new session in the same sandbox works.
  OPEN(again, "python3");
  EXPECT_EQ(ok(again, "1 + 1").value, "2");
}

TEST_F(local_repl, python_large_output_and_unicode_arrive_byte_exact) {
  OPEN(py, "python");
  auto big = ok(py, "import sys\nsys.stdout.write('a' * (1 << 20))\nsys.stderr.write('b' * (1 << 20))\n'x' * (1 << 20)");
  EXPECT_EQ(big.stdout_data, std::string(1u << 20, 'a'));
  EXPECT_EQ(big.stderr_data, std::string(1u << 20, 'b'));
  EXPECT_EQ(big.value, "'" + std::string(1u << 20, 'x') + "'");
  auto u = ok(py, "s = 'héllo wörld – 中文 🎉'\nprint(s)\ns");
  EXPECT_EQ(u.stdout_data, "héllo wörld – 中文 🎉\n");
  EXPECT_EQ(u.value, "'héllo wörld – 中文 🎉'");
  EXPECT_EQ(ok(py, "len(s)").value, "18");
  // Output that looks like protocol framing is only output.
  auto fake = ok(py, "print('SBXREPL0000 ok 0 0 2 0\\n42')\n'real'");
  EXPECT_EQ(fake.value, "'real'");
  EXPECT_THAT(fake.stdout_data, HasSubstr("SBXREPL0000 ok"));
}

// ---- javascript ----

TEST_F(local_repl, node_keeps_variables_functions_and_classes_between_evals) {
  OPEN(js, "javascript");
  EXPECT_EQ(ok(js, "var x = 41").value, "");
  EXPECT_EQ(ok(js, "x + 1").value, "42");
  EXPECT_EQ(ok(js, "function double(a) {\n  return a * 2;\n}\nlet y = double(x);").error, "");
  EXPECT_EQ(ok(js, "y").value, "82");
  EXPECT_EQ(ok(js, "class Point {\n  constructor(x, y) { this.x = x; this.y = y; }\n  sum() { return this.x + this.y; }\n}\n"
                   "const p = new Point(1, 2);\np.sum()").value, "3");
  EXPECT_EQ(ok(js, "p").value, "Point { x: 1, y: 2 }");
  EXPECT_EQ(ok(js, "'text'").value, "'text'");  // util.inspect, like the node REPL
  EXPECT_EQ(ok(js, "({a: [1, 2], b: 'c'})").value, "{ a: [ 1, 2 ], b: 'c' }");
  EXPECT_EQ(ok(js, "require('path').join('a', 'b')").value, "'a/b'");
  EXPECT_EQ(ok(js, "Promise.resolve(6).then(v => v * 7)").value, "42");  // a promise is awaited
  EXPECT_EQ(ok(js, "typeof Buffer + ' ' + typeof setTimeout + ' ' + typeof process.version").value, "'function function string'");
}

TEST_F(local_repl, node_console_output_is_captured_per_eval) {
  OPEN(js, "node");
  auto o = ok(js, "console.log('to out'); console.error('to err'); process.stdout.write('raw\\n'); 7");
  EXPECT_EQ(o.stdout_data, "to out\nraw\n");
  EXPECT_EQ(o.stderr_data, "to err\n");
  EXPECT_EQ(o.value, "7");
  EXPECT_THAT(ok(js, "1"), AllOf(Field(&repl_output::stdout_data, ""), Field(&repl_output::stderr_data, "")));
  auto child = ok(js, "require('child_process').execSync('echo from a child; echo child err >&2', {stdio: 'inherit'}); 'after'");
  EXPECT_EQ(child.stdout_data, "from a child\n");
  EXPECT_EQ(child.stderr_data, "child err\n");
  EXPECT_EQ(child.value, "'after'");
  // Output of async work that finishes later shows up with the eval that awaited it.
  auto later = ok(js, "new Promise(r => setTimeout(() => { console.log('tick'); r('done'); }, 50))");
  EXPECT_EQ(later.stdout_data, "tick\n");
  EXPECT_EQ(later.value, "'done'");
}

TEST_F(local_repl, node_thrown_errors_are_values_and_the_session_survives) {
  OPEN(js, "javascript");
  ok(js, "var x = 1");
  auto e = ok(js, "function f() { throw new TypeError('boom'); }\nf()");
  EXPECT_THAT(e.error, HasSubstr("TypeError: boom"));
  EXPECT_THAT(e.error, HasSubstr("at f"));
  EXPECT_THAT(e.error, Not(HasSubstr("[eval]"))) << "driver frames leak into the stack";
  EXPECT_THAT(ok(js, "throw 'a string'").error, HasSubstr("a string"));
  EXPECT_THAT(ok(js, "Promise.reject(new Error('async boom'))").error, HasSubstr("async boom"));
  EXPECT_THAT(ok(js, "function (").error, HasSubstr("SyntaxError"));
  EXPECT_EQ(ok(js, "x").value, "1");
}

TEST_F(local_repl, node_timeout_interrupts_sync_and_async_evals_and_keeps_the_state) {
  OPEN(js, "javascript");
  ok(js, "var x = 'kept'");
  auto t0 = clock::now();
  EXPECT_THAT(js.eval("while (true) {}", 500ms), fails_with(error_kind::timeout));
  EXPECT_LT(clock::now() - t0, 3s);
  EXPECT_EQ(ok(js, "x").value, "'kept'");
  EXPECT_THAT(js.eval("new Promise(() => {})", 300ms), fails_with(error_kind::timeout));
  EXPECT_EQ(ok(js, "x").value, "'kept'");
}

TEST_F(local_repl, node_interpreter_death_is_exec_failed_from_then_on) {
  OPEN(js, "javascript");
  auto r = js.eval("process.exit(4)");
  ASSERT_THAT(r, fails_with(error_kind::exec_failed));
  EXPECT_THAT(r.error().to_string(), HasSubstr("exit status 4"));
  EXPECT_THAT(js.eval("1"), fails_with(error_kind::exec_failed));
}

TEST_F(local_repl, node_large_output_and_unicode_arrive_byte_exact) {
  OPEN(js, "javascript");
  auto big = ok(js, "process.stdout.write('a'.repeat(1 << 20)); 'x'.repeat(1 << 20).length");
  EXPECT_EQ(big.stdout_data, std::string(1u << 20, 'a'));
  EXPECT_EQ(big.value, "1048576");
  auto u = ok(js, "const s = 'héllo wörld – 中文 🎉'; console.log(s); s");
  EXPECT_EQ(u.stdout_data, "héllo wörld – 中文 🎉\n");
  EXPECT_EQ(u.value, "'héllo wörld – 中文 🎉'");
  EXPECT_EQ(ok(js, "[...s].length").value, "18");
}

// ---- both ----

TEST_F(local_repl, unknown_language_is_invalid_request_naming_the_accepted_ones) {
  auto r = box_->repl("cobol");
  ASSERT_THAT(r, fails_with(error_kind::invalid_request));
  EXPECT_THAT(r.error().to_string(), AllOf(HasSubstr("cobol"), HasSubstr("python"), HasSubstr("javascript")));
}

TEST_F(local_repl, sessions_are_independent_and_evals_from_several_threads_are_serialised) {
  OPEN(a, "python");
  OPEN(b, "python");
  ok(a, "v = 'a'");
  ok(b, "v = 'b'");
  EXPECT_EQ(ok(a, "v").value, "'a'");
  EXPECT_EQ(ok(b, "v").value, "'b'");
  ok(a, "n = 0");
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      for (int k = 0; k < 25; ++k) (void)a.eval("n += 1");
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok(a, "n").value, "100");
}

TEST_F(local_repl, closing_a_session_ends_its_interpreter) {
  OPEN(py, "python");
  ok(py, "import os\nopen('/tmp/repl.pid', 'w').write(str(os.getpid()))");
  auto pid = box_->read_file("/tmp/repl.pid");
  ASSERT_THAT(pid, succeeds());
  EXPECT_THAT(py.close(), succeeds());
  auto alive = box_->exec({"sh", "-c", "test -d /proc/" + pid.value()});
  ASSERT_THAT(alive, succeeds());
  EXPECT_NE(alive.value().exit_code, 0) << "the interpreter still runs after close";
}

TEST_F(local_repl, an_eval_round_trip_is_fast) {
  OPEN(py, "python");
  OPEN(js, "javascript");
  for (auto* r : {&py, &js}) {
    ok(*r, "1");
    std::vector<double> us;
    for (int i = 0; i < 200; ++i) {
      auto t0 = clock::now();
      ok(*r, "1 + 1");
      us.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    std::cout << "[figures] " << (r == &py ? "python" : "node") << " eval round trip p50 " << us[100] << " us, p99 " << us[198] << " us\n";
    EXPECT_LT(us[100], 20000.0);
  }
}

}  // namespace
}  // namespace sbx::test
