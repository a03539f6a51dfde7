// expect-error: supports<.*cap::snapshots>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::snapshots>
// SPDX-License-Identifier: Apache-2.0
// sandbox<P>::snapshot() on a provider (bare) without the snapshots marker.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<sbx::snapshot_info> use(sbx::sandbox<P>& box) { return box.snapshot("before-upgrade"); }
