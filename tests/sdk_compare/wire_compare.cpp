// SPDX-License-Identifier: Apache-2.0
#include "wire_compare.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace sbx::test::wire {
namespace {

using json = nlohmann::json;

std::string keys(json const& j, std::string_view field) {
  std::string out = "{";
  auto it = j.find(field);
  if (it != j.end() && it->is_array()) {
    bool first = true;
    for (auto const& k : *it) {
      if (!first) out += ",";
      first = false;
      out += k.is_string() ? k.get<std::string>() : k.dump();
    }
  }
  return out + "}";
}

std::string str(json const& j, std::string_view field) {
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string("?");
}

std::string with_side(std::string const& e, side s) { return (s == side::cpp_only ? "only C++: " : "only SDK: ") + e; }

}  // namespace

std::string entry_of(std::string_view line) {
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("kind")) return "unparsable " + std::string(line);
  auto kind = str(j, "kind");
  if (kind == "rpc") return "rpc " + str(j, "method") + " " + keys(j, "params");
  if (kind == "notification") return "notify " + str(j, "method") + " " + keys(j, "params");
  if (kind == "http") return "http " + str(j, "method") + " " + str(j, "route") + " body" + keys(j, "body") + " query" + keys(j, "query");
  if (kind == "ws") return "ws " + str(j, "route") + " config" + keys(j, "config");
  return kind + " " + str(j, "method") + " " + keys(j, "params");
}

std::set<std::string> entries_of(std::vector<std::string> const& lines) {
  std::set<std::string> out;
  for (auto const& l : lines)
    if (!l.empty()) out.insert(entry_of(l));
  return out;
}

bool report::ok() const {
  if (!problems.empty()) return false;
  for (auto const& s : steps)
    if (!s.ok()) return false;
  return true;
}

std::string report::to_string() const {
  std::ostringstream o;
  std::string differ;
  for (auto const& s : steps)
    if (!s.ok()) differ += " " + s.name;
  if (!differ.empty()) o << "steps that differ or failed:" << differ << "\n";
  for (auto const& s : steps) {
    o << (s.ok() ? "same " : "DIFF ") << s.name << "\n";
    for (auto const& p : s.problems) o << "    problem:  " << p << "\n";
    for (auto const& e : s.cpp_only) o << "    only C++: " << e << "\n";
    for (auto const& e : s.sdk_only) o << "    only SDK: " << e << "\n";
    for (auto const& [e, why] : s.allowed) o << "    allowed   " << e << "  (" << why << ")\n";
    for (auto const& e : s.both) {
      o << "    both:     " << e;
      if (auto c = s.counts.find(e); c != s.counts.end()) o << "   (C++ " << c->second.first << "x, SDK " << c->second.second << "x)";
      o << "\n";
    }
  }
  for (auto const& p : problems) o << "problem: " << p << "\n";
  return o.str();
}

report compare(std::vector<step_trace> const& cpp, std::vector<step_trace> const& sdk,
               std::vector<allowance> const& allowed) {
  report r;
  std::map<std::string, step_trace const*> by_name;
  for (auto const& s : sdk) by_name[s.name] = &s;
  std::vector<bool> used(allowed.size(), false);
  std::set<std::string> cpp_names;
  for (auto const& c : cpp) {
    cpp_names.insert(c.name);
    step_diff d;
    d.name = c.name;
    if (!c.ok) d.problems.push_back("the C++ step failed: " + c.error);
    auto it = by_name.find(c.name);
    if (it == by_name.end()) {
      d.problems.push_back("the SDK run has no step of this name");
      r.steps.push_back(std::move(d));
      continue;
    }
    auto const& s = *it->second;
    if (!s.ok) d.problems.push_back("the SDK step failed: " + s.error);
    auto ce = entries_of(c.lines), se = entries_of(s.lines);
    std::map<std::string, std::pair<std::size_t, std::size_t>> n;
    for (auto const& l : c.lines) ++n[entry_of(l)].first;
    for (auto const& l : s.lines) ++n[entry_of(l)].second;
    for (auto const& [e, k] : n)
      if (k.first && k.second && k.first != k.second && !e.starts_with("notify ")) d.counts[e] = k;
    for (auto const& e : ce) (se.count(e) ? d.both : d.cpp_only).insert(e);
    for (auto const& e : se)
      if (!ce.count(e)) d.sdk_only.insert(e);
    for (std::size_t i = 0; i < allowed.size(); ++i) {
      auto const& a = allowed[i];
      if (a.step != "*" && a.step != c.name) continue;
      auto& pool = a.where == side::cpp_only ? d.cpp_only : d.sdk_only;
      auto e = pool.find(std::string(a.entry));
      if (e == pool.end()) continue;
      used[i] = true;
      d.allowed.emplace_back(with_side(*e, a.where), std::string(a.reason));
      pool.erase(e);
    }
    r.steps.push_back(std::move(d));
  }
  for (auto const& s : sdk)
    if (!cpp_names.count(s.name)) r.problems.push_back("the C++ run has no step \"" + s.name + "\"");
  for (std::size_t i = 0; i < allowed.size(); ++i)
    if (!used[i])
      r.problems.push_back("allowance explains nothing any more, remove it: step " + std::string(allowed[i].step) + ", " +
                           with_side(std::string(allowed[i].entry), allowed[i].where));
  return r;
}

std::vector<step_trace> parse_steps(std::string_view text) {
  auto j = json::parse(text, nullptr, false);
  std::vector<step_trace> out;
  if (j.is_discarded() || !j.is_object() || !j.contains("steps") || !j["steps"].is_array()) return out;
  for (auto const& s : j["steps"]) {
    step_trace t;
    t.name = s.value("name", "");
    t.ok = s.value("ok", false);
    t.error = s.value("error", "");
    if (s.contains("lines") && s["lines"].is_array())
      for (auto const& l : s["lines"]) t.lines.push_back(l.get<std::string>());
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::string> trace_tail::next() {
  namespace fs = std::filesystem;
  using clock = std::chrono::steady_clock;
  std::error_code ec;
  auto size = [&] { auto n = fs::file_size(path_, ec); return ec ? std::uintmax_t{0} : n; };
  // The server writes a line when it receives a request; a notification the client sent last
  // (a stream's end, a cancel) may still be in flight when the call returns. Quiet = settled.
  auto last = size();
  auto since = clock::now();
  while (clock::now() - since < std::chrono::milliseconds(quiet_ms_)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto now = size();
    if (now != last) {
      last = now;
      since = clock::now();
    }
  }
  std::vector<std::string> lines;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return lines;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string l;
  while (std::getline(in, l)) {
    if (in.eof()) break;  // a partial last line: left for the next call
    offset_ += l.size() + 1;
    lines.push_back(l);
  }
  return lines;
}

}  // namespace sbx::test::wire
