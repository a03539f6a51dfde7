// expect-error: supports<.*cap::port_exposure>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::port_exposure>
// SPDX-License-Identifier: Apache-2.0
// sandbox<P>::expose_port() on a provider (bare) without the port_exposure marker.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<std::string> use(sbx::sandbox<P>& box) { return box.expose_port(8000); }
