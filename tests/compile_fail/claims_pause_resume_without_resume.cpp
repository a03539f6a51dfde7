// expect-error: claims cap::pause_resume must define
// compiles-with: no_resume<>
// SPDX-License-Identifier: Apache-2.0
// A provider that claims the pause_resume marker, defines pause() but not resume():
// detail::check_claims rejects it with its sentence when sandbox<P> is instantiated. The
// same type without the claim compiles.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#include <string>
#include <string_view>
#include <vector>

template <class... Caps>
struct no_resume : sbx::test::core_provider<Caps...> {
  sbx::result<void> pause(std::string const&) { return sbx::success(); }
};

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER no_resume<sbx::cap::pause_resume>
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
