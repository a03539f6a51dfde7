// expect-error: supports<.*cap::secret_injection>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::secret_injection>
// SPDX-License-Identifier: Apache-2.0
// request<P>::secret() on a provider (bare) without the secret_injection marker.
#include <sbx/client.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").secret("API_KEY", "s3cr3t", {"api.example.com"}); }
