// expect-error: claims cap::snapshots must define
// compiles-with: no_list_snapshots<>
// SPDX-License-Identifier: Apache-2.0
// A provider that claims the snapshots marker, defines snapshot() and delete_snapshot() but not list_snapshots():
// detail::check_claims rejects it with its sentence when client<P> is instantiated. The
// same type without the claim compiles.
#include <sbx/client.hpp>

#include "contract_providers.hpp"

#include <string>
#include <string_view>
#include <vector>

template <class... Caps>
struct no_list_snapshots : sbx::test::core_provider<Caps...> {
  sbx::result<sbx::snapshot_info> snapshot(std::string const&, std::string_view) { return sbx::snapshot_info{}; }
  sbx::result<void> delete_snapshot(std::string_view) { return sbx::success(); }
};

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER no_list_snapshots<sbx::cap::snapshots>
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<std::vector<sbx::sandbox_info>> use(sbx::client<P>& c) { return c.list({}); }
