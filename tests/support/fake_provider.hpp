// SPDX-License-Identifier: Apache-2.0
#pragma once

// A provider type for the capability-contract tests only (tests/static, tests/compile_fail,
// the any_* unsupported table): it has exactly the markers it is given, and every operation
// it defines answers `internal` ("fake provider: ..."), so a test can tell "reached the
// provider" from "refused as unsupported". Real behaviour is tested on real providers.

#include <sbx/provider.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::test {

namespace detail {
inline error reached(std::string_view op) { return make_error(error_kind::internal, "fake provider reached: " + std::string(op)); }
}  // namespace detail

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

/// Defines every operation a provider can have; which ones the facade offers depends only on
/// the capability set `Caps`.
template <class... Caps>
class fake_provider : public core_provider<Caps...> {
 public:
  using handle = typename core_provider<Caps...>::handle;
  static constexpr std::string_view name = "fake";

  result<void> update_network(handle const&, network_policy const&) { return detail::reached("update_network"); }
  result<snapshot_info> snapshot(handle const&, std::string_view) { return detail::reached("snapshot"); }
  result<std::vector<snapshot_info>> list_snapshots() { return detail::reached("list_snapshots"); }
  result<void> delete_snapshot(std::string_view) { return detail::reached("delete_snapshot"); }
  result<volume_info> create_volume(volume_request const&) { return detail::reached("create_volume"); }
  result<std::vector<volume_info>> list_volumes() { return detail::reached("list_volumes"); }
  result<void> delete_volume(std::string_view) { return detail::reached("delete_volume"); }
  result<std::string> expose_port(handle const&, std::uint16_t) { return detail::reached("expose_port"); }
  result<void> pause(handle const&) { return detail::reached("pause"); }
  result<void> resume(handle const&) { return detail::reached("resume"); }
  result<pty> open_pty(handle const&, pty_request const&) { return detail::reached("open_pty"); }
  result<sbx::repl> repl(handle const&, std::string_view) { return detail::reached("repl"); }
};

/// No capability at all.
using bare_provider = fake_provider<>;
/// Every capability.
using full_provider =
    fake_provider<cap::hostname_allowlist, cap::cidr_allowlist, cap::secret_injection, cap::snapshots, cap::volumes,
                  cap::port_exposure, cap::pause_resume, cap::pty, cap::kernel_session, cap::custom_image,
                  cap::network_update>;
/// Shaped like Deno Sandbox: no cidr_allowlist, snapshots, pause_resume, pty, custom_image.
using deno_like_provider = fake_provider<cap::hostname_allowlist, cap::secret_injection, cap::volumes,
                                         cap::port_exposure, cap::kernel_session>;

}  // namespace sbx::test
