// SPDX-License-Identifier: Apache-2.0
// The local provider's network policy, measured against the same download from the host in
// the same run: a 100 MB HTTPS download through the allowlist proxy (a TLS tunnel) and
// through secret injection (TLS terminated with the sandbox CA, re-encrypted upstream,
// placeholder replaced, response scrubbed), each as a ratio to the host; then 100
// concurrent connections through one sandbox's proxy. The upstream runs in a network
// namespace this benchmark creates (tests/network/netlab.hpp); nothing leaves the machine.
#include "../tests/network/netlab.hpp"

#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#ifndef SBX_NET_TESTSERVER
#error SBX_NET_TESTSERVER must name the test server binary
#endif

namespace {

constexpr std::size_t bytes = 100u << 20;
constexpr int runs = 5;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double host_download(sbx::netlab::lab const& lab) {
  std::string cmd = "curl -sS -o /dev/null -w '%{time_total}' --noproxy '*' --cacert " + (lab.dir / "ca.pem").string() +
                    " https://10.231.0.2/bytes/" + std::to_string(bytes);
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[64] = {0};
  if (!p || !std::fgets(buf, sizeof buf, p)) return -1;
  ::pclose(p);
  return std::atof(buf);
}

double sandbox_download(sbx::sandbox<sbx::local>& box, std::string const& url, std::string const& extra) {
  sbx::exec_request e{{"sh", "-c", "curl -sS -o /dev/null -w '%{time_total}' " + extra + " " + url}};
  e.timeout = std::chrono::seconds(120);
  auto r = box.exec(e);
  if (!r || r.value().exit_code != 0) {
    std::cerr << "download failed: " << (r ? r.value().stdout_data + r.value().stderr_data : r.error().to_string()) << "\n";
    return -1;
  }
  return std::atof(r.value().stdout_data.c_str());
}

}  // namespace

int main() {
  if (::geteuid() != 0) {
    std::cout << "skipped: the network benchmark builds a netns and a veth (run as root)\n";
    return 0;
  }
  sbx::netlab::lab lab(SBX_NET_TESTSERVER);
  if (!lab.why_not.empty()) {
    std::cerr << lab.why_not << "\n";
    return 1;
  }
  ::setenv("SBX_NET_TEST_RESOLVE", sbx::netlab::lab::resolve().c_str(), 1);
  ::setenv("SBX_NET_TEST_UPSTREAM_CA", (lab.dir / "ca.pem").c_str(), 1);
  ::setenv("SBX_NET_TEST_NO_DNS", "1", 1);

  sbx::client<sbx::local> c;
  auto req = sbx::request<sbx::local>{}.allow_hosts({"api.test", "secret.test"}).allow_cidrs({"10.231.0.2/32", "10.231.0.3/32"});
  req.secret("API_TOKEN", "sk-bench-0123456789abcdef0123456789", {"secret.test"});
  auto made = c.create(req);
  if (!made) {
    std::cerr << "create failed: " << made.error().to_string() << "\n";
    return 1;
  }
  auto box = std::move(made).value();
  (void)box.write_file("/tmp/testca.pem", lab.ca_pem());

  std::vector<double> host, proxy, secret;
  for (int i = 0; i < runs; ++i) {
    host.push_back(host_download(lab));
    proxy.push_back(sandbox_download(box, "https://api.test/bytes/" + std::to_string(bytes), "--cacert /tmp/testca.pem"));
    secret.push_back(sandbox_download(box, "https://secret.test/bytes/" + std::to_string(bytes), "-H \"Authorization: Bearer $API_TOKEN\""));
  }
  for (auto const* v : {&host, &proxy, &secret})
    if (std::any_of(v->begin(), v->end(), [](double x) { return x <= 0; })) return 1;
  double h = median(host), p = median(proxy), s = median(secret);
  int status = 0;
  auto line = [&](char const* what, double t, double target) {
    double ratio = t / h;
    std::printf("%-44s %7.3f s  %6.0f MB/s  %.2fx host (target <= %.1fx)%s\n", what, t, bytes / 1e6 / t, ratio, target,
                ratio <= target ? "" : "  MISSED");
    if (ratio > target) status = 1;
  };
  std::printf("100 MB HTTPS download, median of %d runs (curl time_total)\n", runs);
  std::printf("%-44s %7.3f s  %6.0f MB/s\n", "host -> upstream (baseline)", h, bytes / 1e6 / h);
  line("sandbox -> allowlist proxy (TLS tunnel)", p, 1.3);
  line("sandbox -> secret injection (TLS intercepted)", s, 1.6);

  // 100 concurrent connections through the one proxy, half HTTPS tunnels, half intercepted.
  sbx::exec_request e{{"python3", "-c",
                       "import urllib.request,ssl,threading,time\n"
                       "c=ssl.create_default_context(cafile='/tmp/testca.pem'); ok=[]; bad=[]\n"
                       "def f(i):\n"
                       "  try:\n"
                       "    u='https://api.test/bytes/1000000' if i%2 else 'https://secret.test/bytes/1000000'\n"
                       "    ok.append(len(urllib.request.urlopen(u,context=c if i%2 else None,timeout=120).read()))\n"
                       "  except Exception as e: bad.append(repr(e))\n"
                       "t0=time.time(); ts=[threading.Thread(target=f,args=(i,)) for i in range(100)]\n"
                       "[t.start() for t in ts]; [t.join() for t in ts]\n"
                       "print(len(ok),len(bad),sum(ok),round(time.time()-t0,3),bad[:2])\n"}};
  e.timeout = std::chrono::seconds(300);
  auto r = box.exec(e);
  if (!r) {
    std::cerr << r.error().to_string() << "\n";
    return 1;
  }
  int okc = 0, badc = 0;
  long long total = 0;
  double secs = 0;
  std::sscanf(r.value().stdout_data.c_str(), "%d %d %lld %lf", &okc, &badc, &total, &secs);
  std::printf("100 concurrent connections through one proxy (1 MB each): %d ok, %d errors, %.3f s%s\n", okc, badc, secs,
              badc == 0 && okc == 100 ? "" : "  FAILED");
  if (badc != 0 || okc != 100) {
    std::cerr << r.value().stdout_data << r.value().stderr_data;
    status = 1;
  }
  return status;
}
