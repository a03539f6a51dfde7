// SPDX-License-Identifier: Apache-2.0
// The compiling twins of the sbx::deno compile_fail cases, and the rest of Deno's typed
// surface: what must compile on sandbox<deno> / request<deno>, and (as named concepts) what
// must not. Built by tests/deno/CMakeLists.txt; a file that compiles is a passing test.
#include <sbx/client.hpp>
#include <sbx/providers/deno.hpp>
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

namespace deno_twins {

using deno_plus_pause = sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::pause_resume>;
using deno_plus_pty = sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::pty>;
using deno_plus_cidrs = sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::cidr_allowlist>;

// compile_fail/pause_on_deno.cpp
sbx::result<void> pause_twin(sbx::sandbox<deno_plus_pause>& box) { return box.pause(); }
// compile_fail/open_pty_on_deno.cpp
sbx::result<sbx::pty> open_pty_twin(sbx::sandbox<deno_plus_pty>& box) { return box.open_pty(); }
// compile_fail/allow_cidrs_on_deno.cpp
sbx::request<deno_plus_cidrs> allow_cidrs_twin() {
  return sbx::request<deno_plus_cidrs>{}.memory("1 GiB").allow_cidrs({"10.0.0.0/8"});
}

// The fake deno-like provider and sbx::deno claim the same markers.
template <class Cap>
constexpr bool same_claim = sbx::supports<sbx::deno, Cap> == sbx::supports<sbx::test::deno_like_provider, Cap>;
static_assert(same_claim<sbx::cap::hostname_allowlist> &&
              same_claim<sbx::cap::cidr_allowlist> &&
              same_claim<sbx::cap::secret_injection> &&
              same_claim<sbx::cap::snapshots> &&
              same_claim<sbx::cap::volumes> &&
              same_claim<sbx::cap::port_exposure> &&
              same_claim<sbx::cap::pause_resume> &&
              same_claim<sbx::cap::pty> &&
              same_claim<sbx::cap::kernel_session> &&
              same_claim<sbx::cap::custom_image> &&
              same_claim<sbx::cap::network_update>);

template <class S> concept can_pause = requires(S& s) { s.pause(); };
template <class S> concept can_resume = requires(S& s) { s.resume(); };
template <class S> concept can_open_pty = requires(S& s) { s.open_pty(); };
template <class S> concept can_snapshot = requires(S& s) { s.snapshot("x"); };
template <class S> concept can_update_network = requires(S& s) { s.update_network(sbx::network_policy::open()); };
template <class R> concept can_allow_cidrs = requires(R& r) { r.allow_cidrs({"10.0.0.0/8"}); };
template <class R> concept can_set_image = requires(R& r) { r.image(sbx::image::ref("x")); };
template <class R> concept can_boot_from_snapshot = requires(R& r) { r.from_snapshot("x"); };
template <class C> concept can_list_snapshots = requires(C& c) { c.list_snapshots(); };

using box = sbx::sandbox<sbx::deno>;
using req = sbx::request<sbx::deno>;
using cli = sbx::client<sbx::deno>;
static_assert(!can_pause<box> && !can_resume<box> && !can_open_pty<box> && !can_snapshot<box>);
static_assert(!can_update_network<box>, "Deno fixes allow_net at creation: no cap::network_update");
static_assert(!can_allow_cidrs<req> && !can_set_image<req> && !can_boot_from_snapshot<req>);
static_assert(!can_list_snapshots<cli>, "Deno's snapshots are typed-only extras on the provider");

// What Deno does offer, typed.
req full_request() {
  return req{}
      .memory("1280 MiB")
      .timeout("5m")
      .label("team", "x")
      .allow_hosts({"example.com", "*.deno.land:443"})
      .secret("API_KEY", "value", {"api.example.com"})
      .mount("my-volume", "/data")
      .expose(8000)
      .region("ams")
      .boot_from("my-snapshot")
      .expose_ssh();
}

sbx::result<void> operations(cli& c, box& b) {
  SBX_TRY(url, b.expose_port(8080));
  SBX_TRY(r, b.repl("javascript"));
  SBX_TRY(v, b.eval("1 + 1"));
  SBX_TRY(e, b.env_get("HOME"));
  SBX_TRYV(b.env_set("K", "v"));
  SBX_TRYV(b.env_delete("K"));
  SBX_TRY(all, b.env_all());
  SBX_TRY(ssh, b.expose_ssh());
  SBX_TRY(vol, c.create_volume({.name = "v", .capacity_bytes = {}, .labels = {}}));
  SBX_TRY(vols, c.list_volumes());
  SBX_TRYV(c.delete_volume("v"));
  SBX_TRY(snap, c.provider().snapshot_volume("v", "s"));
  SBX_TRY(snaps, c.provider().list_snapshots());
  SBX_TRYV(c.provider().delete_snapshot("s"));
  (void)url; (void)r; (void)v; (void)e; (void)all; (void)ssh; (void)vol; (void)vols; (void)snap; (void)snaps;
  return sbx::success();
}

}  // namespace deno_twins
