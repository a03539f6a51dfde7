// expect-error: supports<.*cap::port_exposure>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::port_exposure>
// SPDX-License-Identifier: Apache-2.0
// request<P>::expose() on a provider (bare) without the port_exposure marker.
#include <sbx/client.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").expose(8000); }
