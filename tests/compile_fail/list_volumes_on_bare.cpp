// expect-error: supports<.*cap::volumes>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::volumes>
// SPDX-License-Identifier: Apache-2.0
// client<P>::list_volumes() on a provider (bare) without the volumes marker.
#include <sbx/client.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<std::vector<sbx::volume_info>> use(sbx::client<P>& c) { return c.list_volumes(); }
