// SPDX-License-Identifier: Apache-2.0
#pragma once

// Provider types for the capability-contract tests (tests/static, tests/compile_fail):
// `with_marker<P, Cap>` is a fake provider with exactly one marker more than `P`, so a
// compile_fail case and its compiling twin differ by that marker alone; `core_provider`
// defines only the operations every provider has, so a case can claim a marker and define
// part of what it needs, and `detail::check_claims` must reject it.

#include <sbx/provider.hpp>

#include "fake_provider.hpp"

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::test {

namespace detail {
template <class Provider, class Cap>
struct with_marker_impl;
template <class... Caps, class Cap>
struct with_marker_impl<fake_provider<Caps...>, Cap> {
  using type = fake_provider<Caps..., Cap>;
};
}  // namespace detail

/// The fake provider `Provider` (a `fake_provider<...>`) plus the marker `Cap`.
template <class Provider, class Cap>
using with_marker = typename detail::with_marker_impl<Provider, Cap>::type;

/// Claims `Caps` and defines none of the gated operations; every operation answers internal.
template <class... Caps>
class core_provider {
 public:
  using provider_concept = provider_tag;
  using handle = std::string;
  using options = no_options;
  static constexpr std::string_view name = "core";
  static constexpr auto capabilities = sbx::capabilities<Caps...>;

  result<handle> create(common_request const&, options const&) { return handle("core-1"); }
  result<handle> connect(std::string_view id) { return handle(id); }
  result<std::vector<sandbox_info>> list(std::map<std::string, std::string> const&) { return std::vector<sandbox_info>{}; }
  std::string id(handle const& h) const { return h; }
  result<sandbox_info> info(handle const&) { return detail::reached("info"); }
  result<void> kill(handle const&) { return success(); }
  void release(handle const&) noexcept {}
  result<void> extend_timeout(handle const&, std::chrono::milliseconds) { return detail::reached("extend_timeout"); }
  result<exec_result> exec(handle const&, exec_request const&) { return detail::reached("exec"); }
  result<process> spawn(handle const&, exec_request const&) { return detail::reached("spawn"); }
  result<std::string> read_file(handle const&, std::string_view) { return detail::reached("read_file"); }
  result<void> read_file(handle const&, std::string_view, byte_sink) { return detail::reached("read_file"); }
  result<void> write_file(handle const&, std::string_view, std::string_view, write_options const&) { return detail::reached("write_file"); }
  result<void> write_file(handle const&, std::string_view, byte_source, write_options const&) { return detail::reached("write_file"); }
  result<std::vector<file_info>> list_dir(handle const&, std::string_view) { return detail::reached("list_dir"); }
  result<file_info> stat(handle const&, std::string_view) { return detail::reached("stat"); }
  result<bool> exists(handle const&, std::string_view) { return detail::reached("exists"); }
  result<void> make_dir(handle const&, std::string_view) { return detail::reached("make_dir"); }
  result<void> remove(handle const&, std::string_view, bool) { return detail::reached("remove"); }
  result<void> rename(handle const&, std::string_view, std::string_view) { return detail::reached("rename"); }
  result<void> upload(handle const&, std::string_view, std::string_view) { return detail::reached("upload"); }
  result<void> download(handle const&, std::string_view, std::string_view) { return detail::reached("download"); }
};

}  // namespace sbx::test
