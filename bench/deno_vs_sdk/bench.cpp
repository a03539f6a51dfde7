// SPDX-License-Identifier: Apache-2.0
// Our Deno client (sbx::deno) against the official SDK (@deno/sandbox, pinned in tests/sdk) on the
// same scenario, against the same `sbx serve --dialect deno` (in this process, over local
// sandboxes), in the same run:
//   200 sequential execs of `true` in one sandbox
//   100 file round trips of 64 KiB (write, then read back and compare)
//   20 sandboxes in parallel, each: create, exec `true`, kill
// Prints each wall time (best of two interleaved runs) with the SDK's and the ratio; target: ours
// at most 0.5x the SDK's. Diagnostic rows: an RPC with no server work (envGet: the clients' own
// cost), and the round trips split into writes and reads.
// The SDK half is sdk_bench.mjs, started here with node. Exit status 1 if a run failed (not
// when a target is missed: the figures are the result).
// Usage: sbx_bench_deno_vs_sdk [--quick]

#include "traced_server.hpp"

#include <sbx/providers/deno.hpp>
#include <sbx/sbx.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

[[noreturn]] void die(std::string const& what) {
  std::fprintf(stderr, "sbx_bench_deno_vs_sdk: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T need(sbx::result<T> r, char const* what) {
  if (!r) die(std::string(what) + ": " + r.error().to_string());
  if constexpr (!std::is_void_v<T>) return std::move(r).value();
}
void need(sbx::result<void> r, char const* what) {
  if (!r) die(std::string(what) + ": " + r.error().to_string());
}

void exec_true(sbx::sandbox<sbx::deno>& box) {
  auto r = need(box.exec({"true"}), "exec");
  if (r.exit_code != 0) die("true exited " + std::to_string(r.exit_code));
}

struct figures {
  double execs_ms = 0, roundtrips_ms = 0, parallel_ms = 0, envget_ms = 0, writes_ms = 0, reads_ms = 0;
};

figures run_ours(sbx::client<sbx::deno>& c, int execs, int round_trips, std::size_t bytes, int parallel) {
  figures f;
  {
    auto box = need(c.create(), "create");
    exec_true(box);  // warm, as the SDK half does
    auto t0 = clock_type::now();
    for (int i = 0; i < execs; ++i) exec_true(box);
    f.execs_ms = ms_since(t0);
    // Diagnostic: an RPC the server answers without starting anything (the clients' own cost).
    t0 = clock_type::now();
    for (int i = 0; i < execs; ++i) (void)need(box.env_get("PATH"), "env_get");
    f.envget_ms = ms_since(t0);

    std::string data(bytes, '\0');
    for (std::size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>((i * 131 + (i >> 7)) & 0xff);
    // The SDK's writeFile does not create parents; neither does this (same wire work).
    sbx::write_options wo;
    wo.create_parents = false;
    need(box.write_file("/tmp/rt-warm.bin", data, wo), "write");
    t0 = clock_type::now();
    for (int i = 0; i < round_trips; ++i) {
      auto path = "/tmp/rt-" + std::to_string(i % 4) + ".bin";
      auto w0 = clock_type::now();
      need(box.write_file(path, data, wo), "write_file");
      f.writes_ms += ms_since(w0);
      auto r0 = clock_type::now();
      if (need(box.read_file(path), "read_file") != data) die("round trip mismatch");
      f.reads_ms += ms_since(r0);
    }
    f.roundtrips_ms = ms_since(t0);
    need(box.kill(), "kill");
  }
  auto t0 = clock_type::now();
  std::vector<std::thread> ts;
  std::atomic<int> failed{0};
  for (int i = 0; i < parallel; ++i)
    ts.emplace_back([&] {
      auto box = c.create();
      if (!box) {
        std::fprintf(stderr, "create: %s\n", box.error().to_string().c_str());
        ++failed;
        return;
      }
      auto r = box.value().exec({"true"});
      if (!r || r.value().exit_code != 0) ++failed;
      if (!box.value().kill()) ++failed;
    });
  for (auto& t : ts) t.join();
  f.parallel_ms = ms_since(t0);
  if (failed) die(std::to_string(failed.load()) + " of the parallel sandboxes failed");
  return f;
}

figures run_sdk(sbx::test::traced_server const& srv, int execs, int round_trips, std::size_t bytes, int parallel,
                std::string& version) {
  std::string cmd = std::string("DENO_DEPLOY_TOKEN=") + sbx::test::traced_server::token +
                    " DENO_SANDBOX_ENDPOINT=" + srv.endpoint() + " DENO_DEPLOY_ENDPOINT=" + srv.endpoint() + " " +
                    SBX_NODE + " " + SBX_BENCH_DIR + "/sdk_bench.mjs " + std::to_string(execs) + " " +
                    std::to_string(round_trips) + " " + std::to_string(bytes) + " " + std::to_string(parallel);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) die("cannot start node");
  std::string out;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (int st = ::pclose(p); st != 0) die("the SDK half failed (status " + std::to_string(st) + "): " + out);
  auto j = nlohmann::json::parse(out.substr(out.rfind('{')), nullptr, false);
  if (j.is_discarded()) die("the SDK half printed no result: " + out);
  version = j.value("sdk", "?");
  return {j.value("execs_ms", 0.0), j.value("roundtrips_ms", 0.0), j.value("parallel_ms", 0.0), j.value("envget_ms", 0.0),
          j.value("writes_ms", 0.0), j.value("reads_ms", 0.0)};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  int const execs = quick ? 20 : 200, round_trips = quick ? 10 : 100, parallel = quick ? 5 : 20;
  std::size_t const bytes = 64 * 1024;

  std::unique_ptr<sbx::test::traced_server> srv;
  try {
    srv = std::make_unique<sbx::test::traced_server>(false);
  } catch (std::exception const& e) {
    die(std::string("the deno server cannot run here: ") + e.what());
  }
  sbx::deno::config cfg;
  cfg.token = sbx::test::traced_server::token;
  cfg.sandbox_endpoint = srv->endpoint();
  cfg.api_endpoint = srv->endpoint();
  sbx::client<sbx::deno> c{sbx::deno(cfg)};

  std::printf("deno client vs @deno/sandbox against one in-process sbx serve --dialect deno (port %u)\n", srv->port());
  // Interleaved, best of two each (ours, SDK, ours, SDK): a shared machine's noise and any
  // warm-up of the server then favour neither side.
  std::string version;
  auto best = [](figures a, figures const& b) {
    for (auto [x, y] : {std::pair{&a.execs_ms, b.execs_ms}, {&a.roundtrips_ms, b.roundtrips_ms}, {&a.parallel_ms, b.parallel_ms},
                        {&a.envget_ms, b.envget_ms}, {&a.writes_ms, b.writes_ms}, {&a.reads_ms, b.reads_ms}})
      *x = std::min(*x, y);
    return a;
  };
  auto ours = run_ours(c, execs, round_trips, bytes, parallel);
  auto sdk = run_sdk(*srv, execs, round_trips, bytes, parallel, version);
  ours = best(ours, run_ours(c, execs, round_trips, bytes, parallel));
  sdk = best(sdk, run_sdk(*srv, execs, round_trips, bytes, parallel, version));

  std::printf("%-44s %10s %10s %7s  %s\n", "scenario (wall time)", "sbx::deno", "SDK " , "ratio", "target <= 0.5x");
  auto row = [](std::string const& name, double a, double b, bool target = true) {
    double ratio = b > 0 ? a / b : 0;
    std::printf("%-44s %8.0fms %8.0fms %6.2fx  %s\n", name.c_str(), a, b, ratio,
                !target ? "(diagnostic)" : ratio <= 0.5 ? "met" : "MISSED");
  };
  std::printf("(SDK @deno/sandbox %s, node)\n", version.c_str());
  row(std::to_string(execs) + " sequential execs (true)", ours.execs_ms, sdk.execs_ms);
  row(std::to_string(round_trips) + " file round trips of 64 KiB", ours.roundtrips_ms, sdk.roundtrips_ms);
  row(std::to_string(parallel) + " parallel sandboxes (create, exec, kill)", ours.parallel_ms, sdk.parallel_ms);
  row(std::to_string(execs) + " sequential envGet (no server work)", ours.envget_ms, sdk.envget_ms, false);
  row("  of the round trips: the writes", ours.writes_ms, sdk.writes_ms, false);
  row("  of the round trips: the reads", ours.reads_ms, sdk.reads_ms, false);
  return 0;
}
