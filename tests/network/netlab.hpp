// SPDX-License-Identifier: Apache-2.0
#pragma once

// The upstream world of the network tests and benchmarks, entirely on this machine: a
// network namespace with a veth pair (host 10.231.0.1/24 + fd00:231::1/64; upstream
// addresses 10.231.0.{2,3,4,17,20,21} and fd00:231::2) running sbx-net-testserver, plus one
// server on host loopback (for the rebinding case). Only this lab uses 10.231.0.0/24; a
// process-wide flock keeps two labs from overlapping. Everything is torn down in the
// destructor (the server is killed, the netns deleted, which removes the veth).

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sbx::netlab {

inline std::string slurp(std::filesystem::path const& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline int sh(std::string const& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

struct lab {
  std::string ns, veth;
  std::filesystem::path dir;           ///< ca.pem, requests.log of the netns servers
  std::filesystem::path loop_dir;      ///< requests.log of the host-loopback server
  std::uint16_t loop_port = 0;         ///< host 127.0.0.1 port of that server
  pid_t server = -1, loop_server = -1;
  int lock = -1;
  std::string why_not;                 ///< set when the lab could not be built

  static constexpr char const* names =
      "api.test,*.wild.test,b.c.wild.test,port.test,other.test,priv.test,rebind.test,v6.test,secret.test,nosecret.test,"
      "open.test,10.231.0.2,10.231.0.3,10.231.0.17,10.231.0.20,10.231.0.21,fd00:231::2";

  /// The resolver override the tests hand the engine (SBX_NET_TEST_RESOLVE).
  static std::string resolve() {
    return "api.test=10.231.0.2,a.wild.test=10.231.0.2,b.c.wild.test=10.231.0.2,wild.test=10.231.0.2,"
           "port.test=10.231.0.2,other.test=10.231.0.2,priv.test=10.231.0.4,rebind.test=127.0.0.1,"
           "v6.test=fd00:231::2,secret.test=10.231.0.3,nosecret.test=10.231.0.3,open.test=10.231.0.21";
  }

  lab(std::string const& server_bin) {
    lock = ::open("/run/sbx-netlab.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock >= 0) ::flock(lock, LOCK_EX);
    ns = "sbxnt" + std::to_string(::getpid());
    veth = ns + "h";
    char tmpl[] = "/tmp/sbx-netlab-XXXXXX";
    dir = ::mkdtemp(tmpl);
    loop_dir = dir / "loop";
    std::filesystem::create_directories(loop_dir);
    sh("ip netns del " + ns);
    std::vector<std::string> cmds = {
        "ip netns add " + ns,
        "ip link add " + veth + " type veth peer name eth0 netns " + ns,
        "ip addr add 10.231.0.1/24 dev " + veth,
        "ip -6 addr add fd00:231::1/64 dev " + veth + " nodad",
        "ip link set " + veth + " up",
        "ip -n " + ns + " link set lo up",
        "ip -n " + ns + " link set eth0 up",
        "ip -n " + ns + " -6 addr add fd00:231::2/64 dev eth0 nodad",
    };
    for (int a : {2, 3, 4, 17, 20, 21}) cmds.push_back("ip -n " + ns + " addr add 10.231.0." + std::to_string(a) + "/24 dev eth0");
    for (auto const& c : cmds)
      if (sh(c) != 0) { why_not = "setting up the test netns failed: " + c; return; }
    std::vector<std::string> listen;
    for (int a : {2, 3, 4, 17, 20, 21}) {
      listen.push_back("http:10.231.0." + std::to_string(a) + ":80");
      listen.push_back("https:10.231.0." + std::to_string(a) + ":443");
    }
    for (std::string l : {"http:10.231.0.2:8080", "https:10.231.0.2:8443", "banner:10.231.0.2:7000", "udp:10.231.0.2:9999",
                          "http:[fd00:231::2]:80", "https:[fd00:231::2]:443"})
      listen.push_back(l);
    server = spawn({"ip", "netns", "exec", ns, server_bin, dir.string(), names}, listen);
    if (!wait_ready(dir)) { why_not = "the test server did not start in " + ns; return; }
    for (int i = 0; i < 20 && loop_server < 0; ++i) {
      loop_port = static_cast<std::uint16_t>(21000 + (::getpid() + i * 97) % 20000);
      pid_t p = spawn({server_bin, loop_dir.string(), "127.0.0.1"}, {"http:127.0.0.1:" + std::to_string(loop_port)});
      if (wait_ready(loop_dir, p)) loop_server = p;
    }
    if (loop_server < 0) why_not = "the host-loopback test server did not start";
  }

  ~lab() {
    for (pid_t p : {server, loop_server})
      if (p > 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
      }
    // ip netns exec's child is the server itself (exec), so it is gone; the netns goes with
    // its name, and the veth with the netns.
    sh("ip netns del " + ns);
    sh("ip link del " + veth);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (lock >= 0) ::close(lock);
  }

  std::string ca_pem() const { return slurp(dir / "ca.pem"); }
  std::string requests() const { return slurp(dir / "requests.log"); }
  std::string loop_requests() const { return slurp(loop_dir / "requests.log"); }

 private:
  static pid_t spawn(std::vector<std::string> argv, std::vector<std::string> const& more) {
    argv.insert(argv.end(), more.begin(), more.end());
    pid_t p = ::fork();
    if (p == 0) {
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      std::vector<char*> av;
      for (auto& a : argv) av.push_back(a.data());
      av.push_back(nullptr);
      ::execvp(av[0], av.data());
      _exit(127);
    }
    return p;
  }
  static bool wait_ready(std::filesystem::path const& d, pid_t p = -1) {
    for (int i = 0; i < 500; ++i) {
      if (std::filesystem::exists(d / "ready")) return true;
      if (p > 0 && ::waitpid(p, nullptr, WNOHANG) == p) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

}  // namespace sbx::netlab
