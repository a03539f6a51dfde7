// expect-error: supports<.*cap::pause_resume>
// compiles-with: sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::pause_resume>
// SPDX-License-Identifier: Apache-2.0
// sandbox<sbx::deno>::pause() on the real Deno provider, which lacks the marker. The twin provider has
// exactly Deno's markers plus that one, so the marker is the only difference.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"
// The provider's own header, by path: the driver's flags name only the core's include dirs.
#include "../../providers/deno/include/sbx/providers/deno.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::deno
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<void> use(sbx::sandbox<P>& box) { return box.pause(); }
