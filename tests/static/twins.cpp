// SPDX-License-Identifier: Apache-2.0
// The compiling twins of tests/compile_fail: each namespace is one case's code, unchanged,
// on the provider its `compiles-with:` line names (the case's provider plus the one marker
// it lacks) and on full_provider; for the claims cases, a provider that claims the marker
// and defines everything it needs. A file that compiles is a passing test.
#include <sbx/client.hpp>
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace twins {

// compile_fail/allow_cidrs_on_bare.cpp
namespace allow_cidrs_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::cidr_allowlist>;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").allow_cidrs({"10.0.0.0/8"}); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").allow_cidrs({"10.0.0.0/8"}); }
}  // namespace full
}  // namespace allow_cidrs_on_bare

// compile_fail/allow_cidrs_on_deno_like.cpp
namespace allow_cidrs_on_deno_like {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::cidr_allowlist>;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").allow_cidrs({"10.0.0.0/8"}); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").allow_cidrs({"10.0.0.0/8"}); }
}  // namespace full
}  // namespace allow_cidrs_on_deno_like

// compile_fail/allow_hosts_on_bare.cpp
namespace allow_hosts_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::hostname_allowlist>;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").allow_hosts({"api.example.com"}); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").allow_hosts({"api.example.com"}); }
}  // namespace full
}  // namespace allow_hosts_on_bare

// compile_fail/claims_network_update_without_update_network.cpp
namespace claims_network_update_without_update_network {
template <class... Caps>
struct no_update_network : sbx::test::core_provider<Caps...> {
};

namespace unclaimed {
using P = no_update_network<>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace unclaimed
namespace claimed_and_defined {
using P = sbx::test::fake_provider<sbx::cap::network_update>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace claimed_and_defined
}  // namespace claims_network_update_without_update_network

// compile_fail/claims_kernel_session_with_wrong_repl.cpp
namespace claims_kernel_session_with_wrong_repl {
template <class... Caps>
struct wrong_repl : sbx::test::core_provider<Caps...> {
  sbx::result<sbx::repl> repl(std::string const&) { return sbx::repl{}; }
};

namespace unclaimed {
using P = wrong_repl<>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace unclaimed
namespace claimed_and_defined {
using P = sbx::test::fake_provider<sbx::cap::kernel_session>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace claimed_and_defined
}  // namespace claims_kernel_session_with_wrong_repl

// compile_fail/claims_pause_resume_without_resume.cpp
namespace claims_pause_resume_without_resume {
template <class... Caps>
struct no_resume : sbx::test::core_provider<Caps...> {
  sbx::result<void> pause(std::string const&) { return sbx::success(); }
};

namespace unclaimed {
using P = no_resume<>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace unclaimed
namespace claimed_and_defined {
using P = sbx::test::fake_provider<sbx::cap::pause_resume>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace claimed_and_defined
}  // namespace claims_pause_resume_without_resume

// compile_fail/claims_port_exposure_without_expose_port.cpp
namespace claims_port_exposure_without_expose_port {
template <class... Caps>
struct no_expose_port : sbx::test::core_provider<Caps...> {
};

namespace unclaimed {
using P = no_expose_port<>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace unclaimed
namespace claimed_and_defined {
using P = sbx::test::fake_provider<sbx::cap::port_exposure>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace claimed_and_defined
}  // namespace claims_port_exposure_without_expose_port

// compile_fail/claims_pty_without_open_pty.cpp
namespace claims_pty_without_open_pty {
template <class... Caps>
struct no_open_pty : sbx::test::core_provider<Caps...> {
};

namespace unclaimed {
using P = no_open_pty<>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace unclaimed
namespace claimed_and_defined {
using P = sbx::test::fake_provider<sbx::cap::pty>;
sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
}  // namespace claimed_and_defined
}  // namespace claims_pty_without_open_pty

// compile_fail/claims_snapshots_without_list_snapshots.cpp
namespace claims_snapshots_without_list_snapshots {
template <class... Caps>
struct no_list_snapshots : sbx::test::core_provider<Caps...> {
  sbx::result<sbx::snapshot_info> snapshot(std::string const&, std::string_view) { return sbx::snapshot_info{}; }
  sbx::result<void> delete_snapshot(std::string_view) { return sbx::success(); }
};

namespace unclaimed {
using P = no_list_snapshots<>;
sbx::result<std::vector<sbx::sandbox_info>> use(sbx::client<P>& c) { return c.list({}); }
}  // namespace unclaimed
namespace claimed_and_defined {
using P = sbx::test::fake_provider<sbx::cap::snapshots>;
sbx::result<std::vector<sbx::sandbox_info>> use(sbx::client<P>& c) { return c.list({}); }
}  // namespace claimed_and_defined
}  // namespace claims_snapshots_without_list_snapshots

// compile_fail/claims_volumes_without_delete_volume.cpp
namespace claims_volumes_without_delete_volume {
template <class... Caps>
struct no_delete_volume : sbx::test::core_provider<Caps...> {
  sbx::result<sbx::volume_info> create_volume(sbx::volume_request const&) { return sbx::volume_info{}; }
  sbx::result<std::vector<sbx::volume_info>> list_volumes() { return std::vector<sbx::volume_info>{}; }
};

namespace unclaimed {
using P = no_delete_volume<>;
sbx::result<std::vector<sbx::sandbox_info>> use(sbx::client<P>& c) { return c.list({}); }
}  // namespace unclaimed
namespace claimed_and_defined {
using P = sbx::test::fake_provider<sbx::cap::volumes>;
sbx::result<std::vector<sbx::sandbox_info>> use(sbx::client<P>& c) { return c.list({}); }
}  // namespace claimed_and_defined
}  // namespace claims_volumes_without_delete_volume

// compile_fail/create_volume_on_bare.cpp
namespace create_volume_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::volumes>;
sbx::result<sbx::volume_info> use(sbx::client<P>& c) { return c.create_volume({.name = "data"}); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<sbx::volume_info> use(sbx::client<P>& c) { return c.create_volume({.name = "data"}); }
}  // namespace full
}  // namespace create_volume_on_bare

// compile_fail/delete_snapshot_on_bare.cpp
namespace delete_snapshot_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::snapshots>;
sbx::result<void> use(sbx::client<P>& c) { return c.delete_snapshot("snap-1"); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<void> use(sbx::client<P>& c) { return c.delete_snapshot("snap-1"); }
}  // namespace full
}  // namespace delete_snapshot_on_bare

// compile_fail/delete_volume_on_bare.cpp
namespace delete_volume_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::volumes>;
sbx::result<void> use(sbx::client<P>& c) { return c.delete_volume("vol-1"); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<void> use(sbx::client<P>& c) { return c.delete_volume("vol-1"); }
}  // namespace full
}  // namespace delete_volume_on_bare

// compile_fail/expose_on_bare.cpp
namespace expose_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::port_exposure>;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").expose(8000); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").expose(8000); }
}  // namespace full
}  // namespace expose_on_bare

// compile_fail/expose_port_on_bare.cpp
namespace expose_port_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::port_exposure>;
sbx::result<std::string> use(sbx::sandbox<P>& box) { return box.expose_port(8000); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<std::string> use(sbx::sandbox<P>& box) { return box.expose_port(8000); }
}  // namespace full
}  // namespace expose_port_on_bare

// compile_fail/from_snapshot_on_bare.cpp
namespace from_snapshot_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::snapshots>;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").from_snapshot("snap-1"); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").from_snapshot("snap-1"); }
}  // namespace full
}  // namespace from_snapshot_on_bare

// compile_fail/image_on_bare.cpp
namespace image_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::custom_image>;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").image(sbx::image::ref("python:3.12")); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").image(sbx::image::ref("python:3.12")); }
}  // namespace full
}  // namespace image_on_bare

// compile_fail/list_snapshots_on_bare.cpp
namespace list_snapshots_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::snapshots>;
sbx::result<std::vector<sbx::snapshot_info>> use(sbx::client<P>& c) { return c.list_snapshots(); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<std::vector<sbx::snapshot_info>> use(sbx::client<P>& c) { return c.list_snapshots(); }
}  // namespace full
}  // namespace list_snapshots_on_bare

// compile_fail/list_volumes_on_bare.cpp
namespace list_volumes_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::volumes>;
sbx::result<std::vector<sbx::volume_info>> use(sbx::client<P>& c) { return c.list_volumes(); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<std::vector<sbx::volume_info>> use(sbx::client<P>& c) { return c.list_volumes(); }
}  // namespace full
}  // namespace list_volumes_on_bare

// compile_fail/mount_on_bare.cpp
namespace mount_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::volumes>;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").mount("vol-1", "/data", true); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").mount("vol-1", "/data", true); }
}  // namespace full
}  // namespace mount_on_bare

// compile_fail/open_pty_on_bare.cpp
namespace open_pty_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::pty>;
sbx::result<sbx::pty> use(sbx::sandbox<P>& box) { return box.open_pty(); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<sbx::pty> use(sbx::sandbox<P>& box) { return box.open_pty(); }
}  // namespace full
}  // namespace open_pty_on_bare

// compile_fail/open_pty_on_deno_like.cpp
namespace open_pty_on_deno_like {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::pty>;
sbx::result<sbx::pty> use(sbx::sandbox<P>& box) { return box.open_pty(); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<sbx::pty> use(sbx::sandbox<P>& box) { return box.open_pty(); }
}  // namespace full
}  // namespace open_pty_on_deno_like

// compile_fail/pause_on_bare.cpp
namespace pause_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::pause_resume>;
sbx::result<void> use(sbx::sandbox<P>& box) { return box.pause(); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<void> use(sbx::sandbox<P>& box) { return box.pause(); }
}  // namespace full
}  // namespace pause_on_bare

// compile_fail/pause_on_deno_like.cpp
namespace pause_on_deno_like {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::pause_resume>;
sbx::result<void> use(sbx::sandbox<P>& box) { return box.pause(); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<void> use(sbx::sandbox<P>& box) { return box.pause(); }
}  // namespace full
}  // namespace pause_on_deno_like

// compile_fail/repl_on_bare.cpp
namespace repl_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::kernel_session>;
sbx::result<sbx::repl> use(sbx::sandbox<P>& box) { return box.repl("python"); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<sbx::repl> use(sbx::sandbox<P>& box) { return box.repl("python"); }
}  // namespace full
}  // namespace repl_on_bare

// compile_fail/resume_on_bare.cpp
namespace resume_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::pause_resume>;
sbx::result<void> use(sbx::sandbox<P>& box) { return box.resume(); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<void> use(sbx::sandbox<P>& box) { return box.resume(); }
}  // namespace full
}  // namespace resume_on_bare

// compile_fail/secret_on_bare.cpp
namespace secret_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::secret_injection>;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").secret("API_KEY", "s3cr3t", {"api.example.com"}); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").secret("API_KEY", "s3cr3t", {"api.example.com"}); }
}  // namespace full
}  // namespace secret_on_bare

// compile_fail/snapshot_on_bare.cpp
namespace snapshot_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::snapshots>;
sbx::result<sbx::snapshot_info> use(sbx::sandbox<P>& box) { return box.snapshot("before-upgrade"); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<sbx::snapshot_info> use(sbx::sandbox<P>& box) { return box.snapshot("before-upgrade"); }
}  // namespace full
}  // namespace snapshot_on_bare

// compile_fail/update_network_on_bare.cpp
namespace update_network_on_bare {
namespace with_marker {
using P = sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::network_update>;
sbx::result<void> use(sbx::sandbox<P>& box) { return box.update_network(sbx::network_policy::allow({"api.example.com"})); }
}  // namespace with_marker
namespace full {
using P = sbx::test::full_provider;
sbx::result<void> use(sbx::sandbox<P>& box) { return box.update_network(sbx::network_policy::allow({"api.example.com"})); }
}  // namespace full
}  // namespace update_network_on_bare

}  // namespace twins
