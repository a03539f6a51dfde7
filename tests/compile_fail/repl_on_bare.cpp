// expect-error: supports<.*cap::kernel_session>
// compiles-with: sbx::test::with_marker<sbx::test::bare_provider, sbx::cap::kernel_session>
// SPDX-License-Identifier: Apache-2.0
// sandbox<P>::repl() on a provider (bare) without the kernel_session marker.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER sbx::test::bare_provider
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<sbx::repl> use(sbx::sandbox<P>& box) { return box.repl("python"); }
