// SPDX-License-Identifier: Apache-2.0
// sbx-deno-server: the Deno Sandbox protocol server on its own, for tests and for machines
// without the `sbx` command (which offers the same as `sbx serve --dialect deno`). Prints
// "listening on PORT" on stdout once it accepts connections; stops on SIGINT/SIGTERM.

#include <sbx/server/deno.hpp>

#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  sbx::server::serve_options o;
  auto usage = [] {
    std::fprintf(stderr,
                 "usage: sbx-deno-server [--listen HOST:PORT] [--token TOKEN] [--trace FILE] [--state-dir DIR]\n"
                 "                       [--deno-dir DIR] [--region XYZ] [--control]\n");
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    bool ok = true;
    if (a == "--listen") ok = value(o.listen);
    else if (a == "--token") ok = value(o.token);
    else if (a == "--trace") ok = value(o.trace_file);
    else if (a == "--state-dir") ok = value(o.state_dir);
    else if (a == "--deno-dir") ok = value(o.deno_dir);
    else if (a == "--region") ok = value(o.region);
    else if (a == "--control") o.control = true;
    else return usage();
    if (!ok) return usage();
  }
  return sbx::server::serve_deno(o, [](std::uint16_t port) {
    std::printf("listening on %u\n", static_cast<unsigned>(port));
    std::fflush(stdout);
  });
}
