// expect-error: claims cap::volumes must define
// compiles-with: no_delete_volume<>
// SPDX-License-Identifier: Apache-2.0
// A provider that claims the volumes marker, defines create_volume() and list_volumes() but not delete_volume():
// detail::check_claims rejects it with its sentence when client<P> is instantiated. The
// same type without the claim compiles.
#include <sbx/client.hpp>

#include "contract_providers.hpp"

#include <string>
#include <string_view>
#include <vector>

template <class... Caps>
struct no_delete_volume : sbx::test::core_provider<Caps...> {
  sbx::result<sbx::volume_info> create_volume(sbx::volume_request const&) { return sbx::volume_info{}; }
  sbx::result<std::vector<sbx::volume_info>> list_volumes() { return std::vector<sbx::volume_info>{}; }
};

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER no_delete_volume<sbx::cap::volumes>
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<std::vector<sbx::sandbox_info>> use(sbx::client<P>& c) { return c.list({}); }
