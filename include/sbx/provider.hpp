// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/capabilities.hpp>
#include <sbx/exec.hpp>
#include <sbx/files.hpp>
#include <sbx/info.hpp>
#include <sbx/request.hpp>
#include <sbx/result.hpp>

#include <chrono>
#include <concepts>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sbx {

/// A provider type opts in with `using provider_concept = sbx::provider_tag;`.
struct provider_tag {};

/// Options a provider adds to its requests when it has none of its own.
struct no_options {
  friend bool operator==(no_options, no_options) = default;
};

/// The operations every provider implements. A provider is a cheap, copyable handle to
/// thread-safe shared state (its configuration, connection pool); `handle` names one sandbox.
template <class P>
concept provider =
    std::same_as<typename P::provider_concept, provider_tag> && std::copy_constructible<P> &&
    requires { typename P::handle; typename P::options; } &&
    requires(P& p, P const& cp, typename P::handle const& h, common_request const& cr, typename P::options const& o,
             exec_request const& er, std::string_view path, std::string_view data, write_options const& wo,
             byte_sink sink, byte_source source, std::map<std::string, std::string> const& labels,
             std::chrono::milliseconds ms) {
      { P::name } -> std::convertible_to<std::string_view>;
      P::capabilities;
      { p.create(cr, o) } -> std::same_as<result<typename P::handle>>;
      { p.connect(path) } -> std::same_as<result<typename P::handle>>;
      { p.list(labels) } -> std::same_as<result<std::vector<sandbox_info>>>;
      { cp.id(h) } -> std::convertible_to<std::string>;
      { p.info(h) } -> std::same_as<result<sandbox_info>>;
      { p.kill(h) } -> std::same_as<result<void>>;
      { p.release(h) } noexcept;
      { p.extend_timeout(h, ms) } -> std::same_as<result<void>>;
      { p.exec(h, er) } -> std::same_as<result<exec_result>>;
      { p.spawn(h, er) } -> std::same_as<result<process>>;
      { p.read_file(h, path) } -> std::same_as<result<std::string>>;
      { p.read_file(h, path, sink) } -> std::same_as<result<void>>;
      { p.write_file(h, path, data, wo) } -> std::same_as<result<void>>;
      { p.write_file(h, path, source, wo) } -> std::same_as<result<void>>;
      { p.list_dir(h, path) } -> std::same_as<result<std::vector<file_info>>>;
      { p.stat(h, path) } -> std::same_as<result<file_info>>;
      { p.exists(h, path) } -> std::same_as<result<bool>>;
      { p.make_dir(h, path) } -> std::same_as<result<void>>;
      { p.remove(h, path, true) } -> std::same_as<result<void>>;
      { p.rename(h, path, path) } -> std::same_as<result<void>>;
      { p.upload(h, path, path) } -> std::same_as<result<void>>;
      { p.download(h, path, path) } -> std::same_as<result<void>>;
    };

// What a provider must define for each marker it claims. `sandbox<P>` checks
// "claims => implements" once, at class level, with a sentence.

template <class P>
concept network_update_provider = requires(P& p, typename P::handle const& h, network_policy const& n) {
  { p.update_network(h, n) } -> std::same_as<result<void>>;
};
template <class P>
concept snapshot_provider = requires(P& p, typename P::handle const& h, std::string_view s) {
  { p.snapshot(h, s) } -> std::same_as<result<snapshot_info>>;
  { p.list_snapshots() } -> std::same_as<result<std::vector<snapshot_info>>>;
  { p.delete_snapshot(s) } -> std::same_as<result<void>>;
};
template <class P>
concept volume_provider = requires(P& p, volume_request const& v, std::string_view s) {
  { p.create_volume(v) } -> std::same_as<result<volume_info>>;
  { p.list_volumes() } -> std::same_as<result<std::vector<volume_info>>>;
  { p.delete_volume(s) } -> std::same_as<result<void>>;
};
template <class P>
concept port_provider = requires(P& p, typename P::handle const& h, std::uint16_t port) {
  { p.expose_port(h, port) } -> std::same_as<result<std::string>>;
};
template <class P>
concept pause_provider = requires(P& p, typename P::handle const& h) {
  { p.pause(h) } -> std::same_as<result<void>>;
  { p.resume(h) } -> std::same_as<result<void>>;
};
template <class P>
concept pty_provider = requires(P& p, typename P::handle const& h, pty_request const& r) {
  { p.open_pty(h, r) } -> std::same_as<result<pty>>;
};
template <class P>
concept repl_provider = requires(P& p, typename P::handle const& h, std::string_view lang) {
  { p.repl(h, lang) } -> std::same_as<result<sbx::repl>>;
};

namespace detail {

/// "Claims => implements", as one constant so the check reads as one sentence per marker.
template <class P>
constexpr bool check_claims() {
  static_assert(!supports<P, cap::network_update> || network_update_provider<P>,
                "a provider that claims cap::network_update must define update_network(handle, network_policy)");
  static_assert(!supports<P, cap::snapshots> || snapshot_provider<P>,
                "a provider that claims cap::snapshots must define snapshot(handle, name), list_snapshots() and delete_snapshot(id)");
  static_assert(!supports<P, cap::volumes> || volume_provider<P>,
                "a provider that claims cap::volumes must define create_volume(volume_request), list_volumes() and delete_volume(id)");
  static_assert(!supports<P, cap::port_exposure> || port_provider<P>,
                "a provider that claims cap::port_exposure must define expose_port(handle, port)");
  static_assert(!supports<P, cap::pause_resume> || pause_provider<P>,
                "a provider that claims cap::pause_resume must define pause(handle) and resume(handle)");
  static_assert(!supports<P, cap::pty> || pty_provider<P>,
                "a provider that claims cap::pty must define open_pty(handle, pty_request)");
  static_assert(!supports<P, cap::kernel_session> || repl_provider<P>,
                "a provider that claims cap::kernel_session must define repl(handle, language)");
  return true;
}

}  // namespace detail
}  // namespace sbx
