// expect-error: supports<.*cap::hostname_allowlist>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::hostname_allowlist>
// SPDX-License-Identifier: Apache-2.0
// request<P>::allow_hosts() on a provider (bare) without the hostname_allowlist marker.
#include <sbx/client.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").allow_hosts({"api.example.com"}); }
