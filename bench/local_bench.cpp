// SPDX-License-Identifier: Apache-2.0
// The local provider against its baselines, all measured in this run:
//   create -> first command done -> destroy   vs  bwrap --unshare-all  and  fork+exec
//   exec in a running sandbox                 vs  host fork+exec of the same command
//   N sandboxes alive at once                 host memory per sandbox (MemAvailable delta)
//   1 GiB streamed file write + read          client RSS growth and throughput
// Prints each figure with its baseline and the ratio, and whether it meets the target.
// Usage: sbx_bench_local [--quick]

#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

extern char** environ;

namespace {

using clock_type = std::chrono::steady_clock;

struct stats {
  double p50 = 0, p99 = 0;
};

stats measure(int n, std::function<bool()> const& once) {
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    if (!once()) {
      std::fprintf(stderr, "bench: an iteration failed\n");
      std::exit(1);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ms.size())))]; };
  return {at(0.50), at(0.99)};
}

bool spawn_wait(std::vector<char const*> argv) {
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, const_cast<char**>(argv.data()), environ) != 0) return false;
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

long meminfo_kib(char const* key) {
  std::ifstream in("/proc/meminfo");
  std::string k;
  long v = 0;
  std::string unit;
  while (in >> k >> v >> unit)
    if (k == key) return v;
  return -1;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

int failures = 0;

void report(char const* what, double value, char const* unit, char const* base_what, double base, double limit) {
  double ratio = value / base;
  bool ok = limit <= 0 || ratio <= limit;
  if (!ok) ++failures;
  std::printf("%-44s %9.2f %-4s | %-26s %9.2f %-4s | ratio %5.2fx", what, value, unit, base_what, base, unit, ratio);
  if (limit > 0) std::printf("  (target <= %.2fx) %s", limit, ok ? "ok" : "MISSED");
  std::printf("\n");
}

template <class T>
T must(sbx::result<T> r, char const* what) {
  if (!r) {
    std::fprintf(stderr, "bench: %s: %s\n", what, r.error().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  int n_cycle = quick ? 30 : 200, n_exec = quick ? 100 : 500, n_alive = quick ? 100 : 500;
  sbx::client<sbx::local> c;

  // Warm up page cache and the provider.
  {
    auto box = must(c.create(), "warm-up create");
    (void)must(box.exec({"true"}), "warm-up exec");
  }

  std::printf("== create -> first command -> destroy (n=%d)\n", n_cycle);
  auto fork_exec = measure(n_cycle, [] { return spawn_wait({"true"}); });
  bool have_bwrap = spawn_wait({"sh", "-c", "command -v bwrap >/dev/null"});
  stats bwrap{};
  if (have_bwrap)
    bwrap = measure(n_cycle, [] {
      return spawn_wait({"bwrap", "--unshare-all", "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev", "true"});
    });
  auto cycle = measure(n_cycle, [&] {
    auto box = c.create();
    if (!box) return false;
    auto r = box.value().exec({"true"});
    return r && r.value().exit_code == 0 && box.value().kill();
  });
  if (have_bwrap) {
    report("sbx create+exec+destroy p50", cycle.p50, "ms", "bwrap --unshare-all p50", bwrap.p50, 0.75);
    report("sbx create+exec+destroy p99", cycle.p99, "ms", "bwrap --unshare-all p99", bwrap.p99, 0);
  } else {
    std::printf("bwrap is not installed (apt-get install bubblewrap): no bwrap baseline\n");
    ++failures;
  }
  report("sbx create+exec+destroy p50", cycle.p50, "ms", "host fork+exec p50", fork_exec.p50, 0);
  report("sbx create+exec+destroy p99", cycle.p99, "ms", "host fork+exec p99", fork_exec.p99, 0);

  std::printf("== exec in a running sandbox (n=%d)\n", n_exec);
  {
    auto box = must(c.create(), "create");
    auto host = measure(n_exec, [] { return spawn_wait({"true"}); });
    auto inside = measure(n_exec, [&] {
      auto r = box.exec({"true"});
      return r && r.value().exit_code == 0;
    });
    report("sbx exec p50", inside.p50, "ms", "host fork+exec p50", host.p50, 1.5);
    report("sbx exec p99", inside.p99, "ms", "host fork+exec p99", host.p99, 0);
  }

  std::printf("== %d sandboxes alive at once\n", n_alive);
  {
    long before = meminfo_kib("MemAvailable:");
    std::vector<sbx::sandbox<sbx::local>> boxes;
    boxes.reserve(static_cast<std::size_t>(n_alive));
    auto t0 = clock_type::now();
    for (int i = 0; i < n_alive; ++i) boxes.push_back(must(c.create(), "create many"));
    double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    // Every one of them answers.
    for (auto& b : boxes) (void)must(b.exec({"true"}), "exec in many");
    long after = meminfo_kib("MemAvailable:");
    double per_mib = static_cast<double>(before - after) / 1024.0 / n_alive;
    bool ok = per_mib <= 2.0;
    if (!ok) ++failures;
    std::printf("host memory per sandbox (MemAvailable delta)  %9.2f MiB (target <= 2.00 MiB) %s; created in %.2f s (%.2f ms each)\n",
                per_mib, ok ? "ok" : "MISSED", secs, secs * 1000 / n_alive);
    auto k0 = clock_type::now();
    boxes.clear();
    std::printf("destroyed all in %.2f s\n", std::chrono::duration<double>(clock_type::now() - k0).count());
  }

  std::printf("== 1 GiB streamed write + read\n");
  {
    auto box = must(c.create(sbx::request<sbx::local>{}.memory("512 MiB")), "create");
    constexpr std::uint64_t total = std::uint64_t{1} << 30;
    long rss0 = rss_kib();
    std::uint64_t sent = 0;
    auto t0 = clock_type::now();
    auto w = box.write_file("/tmp/big.bin", sbx::byte_source([&](std::span<char> b) -> sbx::result<std::size_t> {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(b.size(), total - sent));
      std::memset(b.data(), 'x', n);
      sent += n;
      return n;
    }));
    if (!w) { std::fprintf(stderr, "bench: write: %s\n", w.error().to_string().c_str()); return 1; }
    double wsecs = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::uint64_t got = 0;
    auto t1 = clock_type::now();
    auto r = box.read_file("/tmp/big.bin", [&](std::string_view d) -> sbx::result<void> { got += d.size(); return sbx::success(); });
    if (!r || got != total) { std::fprintf(stderr, "bench: read failed or short\n"); return 1; }
    double rsecs = std::chrono::duration<double>(clock_type::now() - t1).count();
    double growth = static_cast<double>(rss_kib() - rss0) / 1024.0;
    bool ok = growth < 64;
    if (!ok) ++failures;
    std::printf("client RSS growth %.1f MiB (target < 64 MiB) %s; write %.0f MiB/s, read %.0f MiB/s\n", growth,
                ok ? "ok" : "MISSED", 1024 / wsecs, 1024 / rsecs);
  }

  std::printf("%s\n", failures ? "some targets MISSED" : "all targets met");
  return failures ? 1 : 0;
}
