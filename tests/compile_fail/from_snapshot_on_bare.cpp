// expect-error: supports<.*cap::snapshots>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::snapshots>
// SPDX-License-Identifier: Apache-2.0
// request<P>::from_snapshot() on a provider (bare) without the snapshots marker.
#include <sbx/client.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").from_snapshot("snap-1"); }
