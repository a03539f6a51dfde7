// SPDX-License-Identifier: Apache-2.0
// The README's example: a portable function, run on the local provider.
#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <cstdio>

template <sbx::provider P>                      // portable: any provider
sbx::result<std::string> hello(sbx::client<P>& c) {
  SBX_TRY(box, c.create(sbx::request<P>{}.memory("256 MiB")));
  SBX_TRY(out, box.exec({"python3", "-c", "print(6*7)"}));  // exit code is a value
  SBX_TRY(greeting, box.sh("printf '%s\\n' {}", "it's $HOME; `rm -rf /`"));  // quoted: no injection
  return out.stdout_text() + greeting.stdout_text();
}

int main() {
  sbx::client<sbx::local> c;                    // swap for sbx::deno, same code
  auto r = hello(c);
  if (!r) {
    std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
    return 1;
  }
  std::fputs(r.value().c_str(), stdout);        // 42, then the string back verbatim
}
