// SPDX-License-Identifier: Apache-2.0
// A program outside the sbx tree, built against the installed package.
#include <sbx/any.hpp>
#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <cstdio>

template <sbx::provider P>
  requires sbx::supports<P, sbx::cap::pause_resume>
constexpr bool can_pause() { return true; }

int main() {
  static_assert(can_pause<sbx::local>());
  auto m = sbx::memory::parse("1.5 GiB");
  auto bad = sbx::memory::parse("5 parsecs");
  if (!m || m.value().bytes() != 1610612736ull || bad || bad.error().kind() != sbx::error_kind::invalid_request) {
    std::puts("consumer: parsing is wrong");
    return 1;
  }
  auto cmd = sbx::render_shell("echo {}", "it's");
  if (!cmd || cmd.value() != "echo 'it'\\''s'") {
    std::puts("consumer: quoting is wrong");
    return 1;
  }
  std::printf("consumer: ok (local has %zu capabilities)\n", sbx::capability_bits_of<sbx::local>().count());
  return 0;
}
