// expect-error: supports<.*cap::pty>
// compiles-with: sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::pty>
// SPDX-License-Identifier: Apache-2.0
// sandbox<P>::open_pty() on a provider (deno-like) without the pty marker.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::deno_like_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<sbx::pty> use(sbx::sandbox<P>& box) { return box.open_pty(); }
