// expect-error: claims cap::pty must define
// compiles-with: no_open_pty<>
// SPDX-License-Identifier: Apache-2.0
// A provider that claims the pty marker but defines no open_pty(handle, pty_request):
// detail::check_claims rejects it with its sentence when sandbox<P> is instantiated. The
// same type without the claim compiles.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#include <string>
#include <string_view>
#include <vector>

template <class... Caps>
struct no_open_pty : sbx::test::core_provider<Caps...> {
};

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER no_open_pty<sbx::cap::pty>
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
