// expect-error: supports<.*cap::cidr_allowlist>
// compiles-with: sbx::test::with_marker<sbx::test::deno_like_provider, sbx::cap::cidr_allowlist>
// SPDX-License-Identifier: Apache-2.0
// request<P>::allow_cidrs() on a provider (deno-like) without the cidr_allowlist marker.
#include <sbx/client.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::deno_like_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").allow_cidrs({"10.0.0.0/8"}); }
