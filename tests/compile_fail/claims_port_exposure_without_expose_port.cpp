// expect-error: claims cap::port_exposure must define
// compiles-with: no_expose_port<>
// SPDX-License-Identifier: Apache-2.0
// A provider that claims the port_exposure marker but defines no expose_port(handle, port):
// detail::check_claims rejects it with its sentence when sandbox<P> is instantiated. The
// same type without the claim compiles.
#include <sbx/sandbox.hpp>

#include "contract_providers.hpp"

#include <string>
#include <string_view>
#include <vector>

template <class... Caps>
struct no_expose_port : sbx::test::core_provider<Caps...> {
};

#ifndef SBX_CASE_PROVIDER
#define SBX_CASE_PROVIDER no_expose_port<sbx::cap::port_exposure>
#endif

using P = SBX_CASE_PROVIDER;

sbx::result<sbx::exec_result> use(sbx::sandbox<P>& box) { return box.exec({"true"}); }
