// expect-error: supports<.*cap::cidr_allowlist>
// compiles-with: sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::cidr_allowlist>
// SPDX-License-Identifier: Apache-2.0
// request<sbx::deno>::allow_cidrs() on the real Deno provider, which lacks the marker. The twin provider has
// exactly Deno's markers plus that one, so the marker is the only difference.
#include <sbx/client.hpp>

#include "contract_providers.hpp"
// The provider's own header, by path: the driver's flags name only the core's include dirs.
#include "../../providers/deno/include/sbx/providers/deno.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::deno
#endif

using P = SBX_CASE_PROVIDER;

sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").allow_cidrs({"10.0.0.0/8"}); }
