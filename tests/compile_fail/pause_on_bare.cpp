// expect-error: supports<.*cap::pause_resume>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::pause_resume>
// SPDX-License-Identifier: Apache-2.0
// sandbox<P>::pause() on a provider (bare) without the pause_resume marker.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<void> use(sbx::sandbox<P>& box) { return box.pause(); }
