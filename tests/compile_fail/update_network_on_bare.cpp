// expect-error: supports<.*cap::network_update>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::network_update>
// SPDX-License-Identifier: Apache-2.0
// sandbox<P>::update_network() on a provider (bare) without the network_update marker.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<void> use(sbx::sandbox<P>& box) { return box.update_network(sbx::network_policy::allow({"api.example.com"})); }
