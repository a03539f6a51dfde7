// SPDX-License-Identifier: Apache-2.0
// The capability contract, asked as questions: every gated member of sandbox<P>, client<P>
// and request<P> is available exactly when P has its marker. Negative availability goes
// through named concepts (GCC rejects a bare `requires {...}` outside a template). A file that
// compiles is a passing test.
#include <sbx/capabilities.hpp>
#include <sbx/client.hpp>
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using sbx::test::bare_provider;
using sbx::test::deno_like_provider;
using sbx::test::full_provider;
namespace cap = sbx::cap;

// sandbox<P>
template <class S> concept can_update_network = requires(S& s, sbx::network_policy const& n) { s.update_network(n); };
template <class S> concept can_snapshot = requires(S& s) { s.snapshot("name"); };
template <class S> concept can_expose_port = requires(S& s) { s.expose_port(std::uint16_t{8000}); };
template <class S> concept can_pause = requires(S& s) { s.pause(); };
template <class S> concept can_resume = requires(S& s) { s.resume(); };
template <class S> concept can_open_pty = requires(S& s, sbx::pty_request const& r) { s.open_pty(); s.open_pty(r); };
template <class S> concept can_repl = requires(S& s) { s.repl("python"); };
// client<P>
template <class C> concept can_create_volume = requires(C& c, sbx::volume_request const& r) { c.create_volume(r); };
template <class C> concept can_list_volumes = requires(C& c) { c.list_volumes(); };
template <class C> concept can_delete_volume = requires(C& c) { c.delete_volume("vol-1"); };
template <class C> concept can_list_snapshots = requires(C& c) { c.list_snapshots(); };
template <class C> concept can_delete_snapshot = requires(C& c) { c.delete_snapshot("snap-1"); };
// request<P>
template <class R> concept can_allow_hosts = requires(R& r, std::vector<std::string> v) { r.allow_hosts(v); };
template <class R> concept can_allow_cidrs = requires(R& r, std::vector<std::string> v) { r.allow_cidrs(v); };
template <class R> concept can_secret = requires(R& r, std::vector<std::string> v) { r.secret("API_KEY", "value", v); };
template <class R> concept can_mount = requires(R& r) { r.mount("vol-1", "/data"); r.mount("vol-1", "/data", true); };
template <class R> concept can_from_snapshot = requires(R& r) { r.from_snapshot("snap-1"); };
template <class R> concept can_expose = requires(R& r) { r.expose(std::uint16_t{8000}); };
template <class R> concept can_image = requires(R& r) { r.image(sbx::image::ref("python:3.12")); };

// Ungated members stay available on every provider: the gates are not blanket.
template <class S> concept can_exec = requires(S& s) { s.exec({"true"}); s.read_file("/etc/hostname"); s.kill(); };
template <class R> concept can_set_common_fields = requires(R& r) { r.memory("1 GiB").timeout("5m").env("A", "b").label("k", "v"); };

// --- every gated member, bare (no marker) against full (all ten) ---------------------------
using bare_box = sbx::sandbox<bare_provider>;
using full_box = sbx::sandbox<full_provider>;
using bare_client = sbx::client<bare_provider>;
using full_client = sbx::client<full_provider>;
using bare_request = sbx::request<bare_provider>;
using full_request = sbx::request<full_provider>;

static_assert(!can_update_network<bare_box>);
static_assert(can_update_network<full_box>);
static_assert(!can_snapshot<bare_box>);
static_assert(can_snapshot<full_box>);
static_assert(!can_expose_port<bare_box>);
static_assert(can_expose_port<full_box>);
static_assert(!can_pause<bare_box>);
static_assert(can_pause<full_box>);
static_assert(!can_resume<bare_box>);
static_assert(can_resume<full_box>);
static_assert(!can_open_pty<bare_box>);
static_assert(can_open_pty<full_box>);
static_assert(!can_repl<bare_box>);
static_assert(can_repl<full_box>);

static_assert(!can_create_volume<bare_client>);
static_assert(can_create_volume<full_client>);
static_assert(!can_list_volumes<bare_client>);
static_assert(can_list_volumes<full_client>);
static_assert(!can_delete_volume<bare_client>);
static_assert(can_delete_volume<full_client>);
static_assert(!can_list_snapshots<bare_client>);
static_assert(can_list_snapshots<full_client>);
static_assert(!can_delete_snapshot<bare_client>);
static_assert(can_delete_snapshot<full_client>);

static_assert(!can_allow_hosts<bare_request>);
static_assert(can_allow_hosts<full_request>);
static_assert(!can_allow_cidrs<bare_request>);
static_assert(can_allow_cidrs<full_request>);
static_assert(!can_secret<bare_request>);
static_assert(can_secret<full_request>);
static_assert(!can_mount<bare_request>);
static_assert(can_mount<full_request>);
static_assert(!can_from_snapshot<bare_request>);
static_assert(can_from_snapshot<full_request>);
static_assert(!can_expose<bare_request>);
static_assert(can_expose<full_request>);
static_assert(!can_image<bare_request>);
static_assert(can_image<full_request>);

static_assert(can_exec<bare_box> && can_exec<full_box>);
static_assert(can_set_common_fields<bare_request> && can_set_common_fields<full_request>);

// --- deno-like: hostname_allowlist, secret_injection, volumes, port_exposure, kernel_session --
using deno_box = sbx::sandbox<deno_like_provider>;
using deno_client = sbx::client<deno_like_provider>;
using deno_request = sbx::request<deno_like_provider>;

static_assert(!can_update_network<deno_box>);
static_assert(!can_snapshot<deno_box>);
static_assert(can_expose_port<deno_box>);
static_assert(!can_pause<deno_box>);
static_assert(!can_resume<deno_box>);
static_assert(!can_open_pty<deno_box>);
static_assert(can_repl<deno_box>);
static_assert(can_create_volume<deno_client>);
static_assert(can_list_volumes<deno_client>);
static_assert(can_delete_volume<deno_client>);
static_assert(!can_list_snapshots<deno_client>);
static_assert(!can_delete_snapshot<deno_client>);
static_assert(can_allow_hosts<deno_request>);
static_assert(!can_allow_cidrs<deno_request>);
static_assert(can_secret<deno_request>);
static_assert(can_mount<deno_request>);
static_assert(!can_from_snapshot<deno_request>);
static_assert(can_expose<deno_request>);
static_assert(!can_image<deno_request>);

// --- each marker unlocks exactly its own members --------------------------------------------
// For each marker, in capability_names order: 1 when P offers all of the members the marker
// gates, 0 when it offers none of them, -1 for a mix (a gate on the wrong marker).
constexpr int all_or_none(std::initializer_list<bool> offered) {
  bool any = false, all = true;
  for (bool b : offered) { any = any || b; all = all && b; }
  return all ? 1 : any ? -1 : 0;
}

template <class P>
constexpr std::array<int, sbx::capability_count> offered_members() {
  using S = sbx::sandbox<P>;
  using C = sbx::client<P>;
  using R = sbx::request<P>;
  std::array<int, sbx::capability_count> a{};
  a[cap::hostname_allowlist::bit] = all_or_none({can_allow_hosts<R>});
  a[cap::cidr_allowlist::bit] = all_or_none({can_allow_cidrs<R>});
  a[cap::secret_injection::bit] = all_or_none({can_secret<R>});
  a[cap::snapshots::bit] = all_or_none({can_snapshot<S>, can_list_snapshots<C>, can_delete_snapshot<C>, can_from_snapshot<R>});
  a[cap::volumes::bit] = all_or_none({can_create_volume<C>, can_list_volumes<C>, can_delete_volume<C>, can_mount<R>});
  a[cap::port_exposure::bit] = all_or_none({can_expose_port<S>, can_expose<R>});
  a[cap::pause_resume::bit] = all_or_none({can_pause<S>, can_resume<S>});
  a[cap::pty::bit] = all_or_none({can_open_pty<S>});
  a[cap::kernel_session::bit] = all_or_none({can_repl<S>});
  a[cap::custom_image::bit] = all_or_none({can_image<R>});
  a[cap::network_update::bit] = all_or_none({can_update_network<S>});
  return a;
}

template <class P>
constexpr std::array<int, sbx::capability_count> claimed() {
  std::array<int, sbx::capability_count> a{};
  a[cap::hostname_allowlist::bit] = sbx::supports<P, cap::hostname_allowlist>;
  a[cap::cidr_allowlist::bit] = sbx::supports<P, cap::cidr_allowlist>;
  a[cap::secret_injection::bit] = sbx::supports<P, cap::secret_injection>;
  a[cap::snapshots::bit] = sbx::supports<P, cap::snapshots>;
  a[cap::volumes::bit] = sbx::supports<P, cap::volumes>;
  a[cap::port_exposure::bit] = sbx::supports<P, cap::port_exposure>;
  a[cap::pause_resume::bit] = sbx::supports<P, cap::pause_resume>;
  a[cap::pty::bit] = sbx::supports<P, cap::pty>;
  a[cap::kernel_session::bit] = sbx::supports<P, cap::kernel_session>;
  a[cap::custom_image::bit] = sbx::supports<P, cap::custom_image>;
  a[cap::network_update::bit] = sbx::supports<P, cap::network_update>;
  return a;
}

template <class Cap>
constexpr std::array<int, sbx::capability_count> only() {
  std::array<int, sbx::capability_count> a{};
  a[Cap::bit] = 1;
  return a;
}

template <class P>
constexpr bool members_follow_claims = offered_members<P>() == claimed<P>();

template <class Cap>
constexpr bool unlocks_exactly_its_members =
    offered_members<sbx::test::fake_provider<Cap>>() == only<Cap>() &&
    offered_members<sbx::test::with_marker<deno_like_provider, Cap>>() == claimed<sbx::test::with_marker<deno_like_provider, Cap>>();

static_assert(unlocks_exactly_its_members<cap::hostname_allowlist>);
static_assert(unlocks_exactly_its_members<cap::cidr_allowlist>);
static_assert(unlocks_exactly_its_members<cap::secret_injection>);
static_assert(unlocks_exactly_its_members<cap::snapshots>);
static_assert(unlocks_exactly_its_members<cap::volumes>);
static_assert(unlocks_exactly_its_members<cap::port_exposure>);
static_assert(unlocks_exactly_its_members<cap::pause_resume>);
static_assert(unlocks_exactly_its_members<cap::pty>);
static_assert(unlocks_exactly_its_members<cap::kernel_session>);
static_assert(unlocks_exactly_its_members<cap::custom_image>);
static_assert(unlocks_exactly_its_members<cap::network_update>);
static_assert(members_follow_claims<bare_provider>);
static_assert(members_follow_claims<full_provider>);
static_assert(members_follow_claims<deno_like_provider>);

// --- supports<P, C> --------------------------------------------------------------------------
static_assert(claimed<bare_provider>() == std::array<int, sbx::capability_count>{});
static_assert(claimed<full_provider>() == std::array<int, sbx::capability_count>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
static_assert(sbx::supports<deno_like_provider, cap::hostname_allowlist> && sbx::supports<deno_like_provider, cap::secret_injection> &&
              sbx::supports<deno_like_provider, cap::volumes> && sbx::supports<deno_like_provider, cap::port_exposure> &&
              sbx::supports<deno_like_provider, cap::kernel_session>);
static_assert(!sbx::supports<deno_like_provider, cap::cidr_allowlist> && !sbx::supports<deno_like_provider, cap::snapshots> &&
              !sbx::supports<deno_like_provider, cap::pause_resume> && !sbx::supports<deno_like_provider, cap::pty> &&
              !sbx::supports<deno_like_provider, cap::custom_image> && !sbx::supports<deno_like_provider, cap::network_update>);
static_assert(sbx::supports<sbx::test::with_marker<bare_provider, cap::pty>, cap::pty>);
static_assert(!sbx::supports<sbx::test::with_marker<bare_provider, cap::pty>, cap::kernel_session>);
// The order of the markers in a set does not matter.
static_assert(sbx::supports<sbx::test::fake_provider<cap::pty, cap::volumes>, cap::volumes> &&
              sbx::supports<sbx::test::fake_provider<cap::volumes, cap::pty>, cap::volumes>);

// The fakes are providers, so the facade's own checks apply to them.
static_assert(sbx::provider<bare_provider> && sbx::provider<full_provider> && sbx::provider<deno_like_provider>);
static_assert(sbx::provider<sbx::test::core_provider<>> && sbx::provider<sbx::test::core_provider<cap::pty>>);
static_assert(sbx::detail::check_claims<full_provider>() && sbx::detail::check_claims<sbx::test::core_provider<>>());
// Markers without functions of their own (request fields only) can be claimed by any provider.
static_assert(sbx::detail::check_claims<sbx::test::core_provider<cap::cidr_allowlist, cap::secret_injection, cap::custom_image>>());

// --- marker bits: unique, dense, and in capability_names order ------------------------------
struct marker_row {
  unsigned bit;
  std::string_view name;
};
constexpr std::array<marker_row, 11> markers = {{
    {cap::hostname_allowlist::bit, cap::hostname_allowlist::name},
    {cap::cidr_allowlist::bit, cap::cidr_allowlist::name},
    {cap::secret_injection::bit, cap::secret_injection::name},
    {cap::snapshots::bit, cap::snapshots::name},
    {cap::volumes::bit, cap::volumes::name},
    {cap::port_exposure::bit, cap::port_exposure::name},
    {cap::pause_resume::bit, cap::pause_resume::name},
    {cap::pty::bit, cap::pty::name},
    {cap::kernel_session::bit, cap::kernel_session::name},
    {cap::custom_image::bit, cap::custom_image::name},
    {cap::network_update::bit, cap::network_update::name},
}};

constexpr bool bits_unique_and_dense() {
  std::array<int, sbx::capability_count> seen{};
  for (auto const& m : markers) {
    if (m.bit >= sbx::capability_count) return false;
    if (seen[m.bit]++ != 0) return false;
  }
  return true;
}
constexpr bool names_unique() {
  for (std::size_t i = 0; i < markers.size(); ++i)
    for (std::size_t j = i + 1; j < markers.size(); ++j)
      if (markers[i].name == markers[j].name) return false;
  return true;
}
constexpr bool names_in_bit_order() {
  for (auto const& m : markers)
    if (sbx::capability_names[m.bit] != m.name) return false;
  return true;
}

static_assert(markers.size() == sbx::capability_count);
static_assert(bits_unique_and_dense());
static_assert(names_unique());
static_assert(names_in_bit_order());
// Names are what users type and errors print: the header's name, in snake_case.
static_assert(cap::hostname_allowlist::name == "hostname_allowlist" && cap::cidr_allowlist::name == "cidr_allowlist" &&
              cap::secret_injection::name == "secret_injection" && cap::snapshots::name == "snapshots" &&
              cap::volumes::name == "volumes" && cap::port_exposure::name == "port_exposure" &&
              cap::pause_resume::name == "pause_resume" && cap::pty::name == "pty" &&
              cap::kernel_session::name == "kernel_session" && cap::custom_image::name == "custom_image" &&
              cap::network_update::name == "network_update");
// One header per marker in capabilities/include/sbx/cap/ (counted by CMake): a new marker
// must be added to capability_count, capability_names and capability_bits_of too.
#ifndef SBX_MARKER_HEADER_COUNT
#error "build with -DSBX_MARKER_HEADER_COUNT=<number of headers in capabilities/include/sbx/cap/>"
#endif
static_assert(SBX_MARKER_HEADER_COUNT == sbx::capability_count);

}  // namespace
