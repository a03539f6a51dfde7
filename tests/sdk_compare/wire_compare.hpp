// SPDX-License-Identifier: Apache-2.0
#pragma once

// What two clients put on the wire for the same scenario, step by step, as recorded by the
// deno server's trace (`serve_options::trace_file`), and where they differ.
//
// A trace line becomes an entry: its kind, its method or route and its sorted keys
// ("rpc spawn {args,command,stderr,stdout}", "http DELETE /api/v3/sandbox/{id} body{} query{}").
// A step is the set of distinct entries received while it ran: how many chunks a stream took or
// in which order concurrent requests arrived does not matter; which methods and keys were used does.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::test::wire {

/// One scenario step as one client ran it.
struct step_trace {
  std::string name;
  bool ok = true;             ///< the step's own checks passed
  std::string error;          ///< why not
  std::vector<std::string> lines;  ///< raw trace lines received during the step
};

/// Which client an entry was seen from.
enum class side : std::uint8_t { cpp_only, sdk_only };

/// A difference that is expected, with the reason. `step` "*" matches every step.
struct allowance {
  std::string_view step;
  side where;
  std::string_view entry;
  std::string_view reason;
};

/// The canonical entry of one trace line; a line that is not a trace record becomes "unparsable <line>".
std::string entry_of(std::string_view trace_line);
std::set<std::string> entries_of(std::vector<std::string> const& lines);

/// The outcome for one step.
struct step_diff {
  std::string name;
  std::set<std::string> both, cpp_only, sdk_only;     ///< unexplained differences are in cpp_only/sdk_only
  std::vector<std::pair<std::string, std::string>> allowed;  ///< (entry with its side, reason)
  std::vector<std::string> problems;                  ///< failed steps, missing steps, stale allowances
  /// Requests (not stream notifications, whose count is chunking) seen on both sides but a
  /// different number of times: (C++ count, SDK count). Informative, not a failure.
  std::map<std::string, std::pair<std::size_t, std::size_t>> counts;
  bool ok() const { return cpp_only.empty() && sdk_only.empty() && problems.empty(); }
};

struct report {
  std::vector<step_diff> steps;
  std::vector<std::string> problems;  ///< not tied to one step (unused allowances of unknown steps)
  bool ok() const;
  /// Every step: what matched, what differed and why it is or is not allowed.
  std::string to_string() const;
};

/// Compares the two runs step by step (steps matched by name, in the C++ run's order). An
/// allowance that explains nothing is a problem too, so that the table cannot rot.
report compare(std::vector<step_trace> const& cpp, std::vector<step_trace> const& sdk,
               std::vector<allowance> const& allowed);

/// Parses the node script's output `{"steps":[{"name","ok","error","lines"}]}`.
std::vector<step_trace> parse_steps(std::string_view json_text);

/// Follows a growing trace file: `next()` waits until the file has stopped growing for
/// `quiet` and returns the complete lines written since the previous call.
class trace_tail {
 public:
  explicit trace_tail(std::string path, int quiet_ms = 250) : path_(std::move(path)), quiet_ms_(quiet_ms) {}
  std::vector<std::string> next();

 private:
  std::string path_;
  int quiet_ms_;
  std::uintmax_t offset_ = 0;
};

}  // namespace sbx::test::wire
