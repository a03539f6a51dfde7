// expect-error: claims cap::kernel_session must define
// compiles-with: wrong_repl<>
// SPDX-License-Identifier: Apache-2.0
// A provider that claims the kernel_session marker but its repl() takes no language:
// detail::check_claims rejects it with its sentence when sandbox<P> is instantiated. The
// same type without the claim compiles.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#include <string>
#include <string_view>
#include <vector>

template <class... Caps>
struct wrong_repl : sbx::test::core_provider<Caps...> {
  sbx::result<sbx::repl> repl(std::string const&) { return sbx::repl{}; }
};

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER wrong_repl<sbx::cap::kernel_session>
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
