// SPDX-License-Identifier: Apache-2.0
// A client process for the cleanup tests: creates N session sandboxes, prints their ids,
// then "ready", then waits to be killed (kill -9: it never gets to clean up).
// `holder N W`: with a warm pool of W; once the pool is full it also prints "warm <id>" for
// each warm sandbox (found in the state dir: they are not listed).
#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 10;
  std::size_t warm = argc > 2 ? static_cast<std::size_t>(std::atoi(argv[2])) : 0;
  sbx::local::config cfg;
  cfg.warm_pool = warm;
  sbx::client<sbx::local> c{sbx::local(cfg)};
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
  if (warm) {
    auto dir = std::filesystem::path(c.provider().configuration().state_dir) / "sandboxes";
    std::vector<std::string> ids;
    for (int i = 0; i < 3000 && ids.size() < warm; ++i) {
      ids.clear();
      std::error_code ec;
      for (auto const& e : std::filesystem::directory_iterator(dir, ec)) {
        std::ifstream in(e.path() / "state.json");
        auto j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_object() && j.value("pooled", false) && j.value("init_pid", -1) > 0) ids.push_back(e.path().filename());
      }
      if (ids.size() < warm) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (auto const& id : ids) std::printf("warm %s\n", id.c_str());
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) ::pause();
}
