// SPDX-License-Identifier: Apache-2.0
// sbx-deno-measure: wall times of our Deno client against an in-process `sbx serve --dialect
// deno`, for the scenarios of issue 5 (the same ones the SDK comparison runs):
//   200 sequential execs, 100 file round trips of 64 KiB, 20 sandboxes created in parallel.
// Prints one line per scenario: "<name> <seconds>". Not a test: numbers, no verdict.
#include "deno_support.hpp"

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <thread>
#include <vector>

using namespace std::chrono;
using sbx::test::deno_for_test_server;

int main() {
  // With DENO_SANDBOX_ENDPOINT / DENO_DEPLOY_ENDPOINT / DENO_DEPLOY_TOKEN set, measure against
  // that server (e.g. the one the SDK comparison uses); otherwise start one in this process.
  bool external = std::getenv("DENO_SANDBOX_ENDPOINT") != nullptr;
  if (!external && !sbx::test::deno_test_server()) {
    std::fprintf(stderr, "no server: %s\n", sbx::test::deno_skip_reason().c_str());
    return 1;
  }
  sbx::client<sbx::deno> c(external ? sbx::deno() : deno_for_test_server());
  auto time = [](char const* name, auto&& f) {
    auto t0 = steady_clock::now();
    bool ok = f();
    std::printf("%s %.3f%s\n", name, duration<double>(steady_clock::now() - t0).count(), ok ? "" : " (FAILED)");
    std::fflush(stdout);
  };
  auto box = c.create();
  if (!box) {
    std::fprintf(stderr, "create: %s\n", box.error().to_string().c_str());
    return 1;
  }
  (void)box.value().exec({"true"});  // warm up
  time("exec_200_sequential", [&] {
    for (int i = 0; i < 200; ++i)
      if (auto r = box.value().exec({"echo", "hi"}); !r || r.value().stdout_data != "hi\n") return false;
    return true;
  });
  std::string data(64 << 10, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  time("file_roundtrip_100x64KiB", [&] {
    for (int i = 0; i < 100; ++i) {
      auto path = "/tmp/rt" + std::to_string(i);
      if (!box.value().write_file(path, data)) return false;
      auto back = box.value().read_file(path);
      if (!back || back.value() != data) return false;
    }
    return true;
  });
  time("create_20_parallel", [&] {
    std::vector<std::thread> ts;
    std::atomic<int> ok{0};
    for (int i = 0; i < 20; ++i)
      ts.emplace_back([&] {
        auto b = c.create();
        if (b && b.value().exec({"true"})) ++ok;
      });
    for (auto& t : ts) t.join();
    return ok == 20;
  });
}
