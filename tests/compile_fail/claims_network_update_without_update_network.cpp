// expect-error: claims cap::network_update must define
// compiles-with: no_update_network<>
// SPDX-License-Identifier: Apache-2.0
// A provider that claims the network_update marker but defines no update_network(handle, network_policy):
// detail::check_claims rejects it with its sentence when sandbox<P> is instantiated. The
// same type without the claim compiles.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#include <string>
#include <string_view>
#include <vector>

template <class... Caps>
struct no_update_network : sbx::test::core_provider<Caps...> {
};

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER no_update_network<sbx::cap::network_update>
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
