// SPDX-License-Identifier: Apache-2.0
// A client process for the cleanup tests: creates N session sandboxes, prints their ids,
// then "ready", then waits to be killed (kill -9: it never gets to clean up).
#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 10;
  sbx::client<sbx::local> c;
  std::vector<sbx::sandbox<sbx::local>> boxes;
  for (int i = 0; i < n; ++i) {
    auto b = c.create();
    if (!b) {
      std::fprintf(stderr, "holder: %s\n", b.error().to_string().c_str());
      return 1;
    }
    std::printf("%s\n", b.value().id().c_str());
    boxes.push_back(std::move(b).value());
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) ::pause();
}
