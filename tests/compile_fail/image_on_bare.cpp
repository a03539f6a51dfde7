// expect-error: supports<.*cap::custom_image>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::custom_image>
// SPDX-License-Identifier: Apache-2.0
// request<P>::image() on a provider (bare) without the custom_image marker.
#include <sbx/client.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::request<P> make() { return sbx::request<P>{}.memory("1 GiB").image(sbx::image::ref("python:3.12")); }
