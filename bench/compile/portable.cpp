// SPDX-License-Identifier: Apache-2.0
// What a user TU costs: the facade, one provider, one portable function instantiated once.
#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

template <sbx::provider P>
sbx::result<std::string> hello(sbx::client<P>& c) {
  SBX_TRY(box, c.create(sbx::request<P>{}.memory("1 GiB").timeout("5m")));
  SBX_TRY(out, box.exec({"python3", "-c", "print(6*7)"}));
  return out.stdout_text();
}

template sbx::result<std::string> hello<sbx::local>(sbx::client<sbx::local>&);
