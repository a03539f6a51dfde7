// SPDX-License-Identifier: Apache-2.0
//
// sbx-netd: the network policy engine of one local sandbox. Started by the provider library
// (providers/local/net/client.cpp) when a sandbox gets a policy other than a plain empty
// netns, or later by update_network. stdin carries its config (JSON, including secret
// values: never argv or env, which other host processes can read), stdout its ready line.
// It
//   1. enters the sandbox's network namespace (/proc/<init>/ns/net) and creates there the
//      proxy socket (127.0.0.1:3128), the transparent port (127.0.0.1:3129, [::1]:3129) and
//      the DNS stub (127.0.0.1:53 UDP and TCP); adds a default route over lo and the nftables
//      table that redirects every other TCP connection to the transparent port and rejects
//      everything else that is not loopback (UDP, ICMP...);
//   2. returns to the host's namespace, where all connections to upstreams are made;
//   3. serves control requests (policy updates) on sandboxes/<id>/net.sock and appends
//      denials to sandboxes/<id>/net-events.jsonl;
//   4. exits when the sandbox's pid 1 does (pidfd), which also takes the netns, its sockets
//      and its nftables table with it: nothing is left on the host.

#include "engine.hpp"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

namespace {

using json = nlohmann::json;
using namespace sbx::local_net;

[[noreturn]] void fail(std::string const& msg) {
  std::string line = json{{"ok", false}, {"error", msg}}.dump() + "\n";
  (void)!::write(1, line.data(), line.size());
  _exit(1);
}

std::string read_stdin() {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(0, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
  return s;
}

int listen_tcp(int family, char const* addr, std::uint16_t port) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    ::inet_pton(AF_INET6, addr, &s->sin6_addr);
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    len = sizeof *s;
  } else {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    ::inet_pton(AF_INET, addr, &s->sin_addr);
    len = sizeof *s;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 1024) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int bind_udp(char const* addr, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  ::inet_pton(AF_INET, addr, &s.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&s), sizeof s) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string find_tool(char const* name) {
  for (char const* d : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"}) {
    std::string p = std::string(d) + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

// Runs a tool in the current (sandbox) netns; `input` goes to its stdin. Returns "" or why not.
std::string run_tool(std::vector<std::string> argv, std::string const& input = {}) {
  std::string path = find_tool(argv[0].c_str());
  if (path.empty()) return argv[0] + " not found (install " + (argv[0] == "nft" ? "nftables" : "iproute2") + ")";
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return "pipe failed";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::vector<char*> av;
  for (auto& a : argv) av.push_back(a.data());
  av.push_back(nullptr);
  char const* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
  pid_t pid;
  int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, av.data(), const_cast<char* const*>(envp));
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  if (rc != 0) {
    ::close(in[1]);
    return path + ": " + std::strerror(rc);
  }
  if (!input.empty()) (void)!::write(in[1], input.data(), input.size());
  ::close(in[1]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return path + " failed (status " + std::to_string(st) + ")";
  return {};
}

std::string nft_rules() {
  // Loopback stays loopback (the proxy, the DNS stub, the sandbox's own servers). Every other
  // TCP connection is redirected to the transparent port (so its destination becomes
  // loopback); whatever still is not headed for loopback (UDP, ICMP, raw IP) is dropped in
  // the output hook, which fails the sending syscall with EPERM at once. The default route
  // goes over lo, so nothing could leave even without these rules.
  return "table inet sbx {\n"
         "  chain out_nat {\n"
         "    type nat hook output priority -100; policy accept;\n"
         "    ip daddr 127.0.0.0/8 return\n"
         "    ip6 daddr ::1 return\n"
         "    meta l4proto tcp redirect to :" + std::to_string(transparent_port) + "\n"
         "  }\n"
         "  chain out_filter {\n"
         "    type filter hook output priority 0; policy accept;\n"
         "    ip daddr 127.0.0.0/8 accept\n"
         "    ip6 daddr ::1 accept\n"
         "    drop\n"
         "  }\n"
         "}\n";
}

std::shared_ptr<const policy> parse_policy(json const& j, std::string* why) {
  std::string m = j.value("mode", "blocked");
  policy::mode mode = m == "allow" ? policy::mode::allow : m == "open" ? policy::mode::open : policy::mode::blocked;
  if (m != "allow" && m != "open" && m != "blocked") {
    *why = "unknown mode " + m;
    return nullptr;
  }
  auto p = policy::make(mode, j.value("hosts", std::vector<std::string>{}), j.value("cidrs", std::vector<std::string>{}), why);
  if (!p) return nullptr;
  return std::make_shared<const policy>(std::move(*p));
}

void accept_loop(engine& e, int lfd, void (*serve)(engine&, int)) {
  for (;;) {
    int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof one);
    std::thread([&e, c, serve] { serve(e, c); }).detach();
  }
}

void control_client(engine& e, int fd) {
  std::string in;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = in.find('\n')) != std::string::npos) {
      std::string line = in.substr(0, nl);
      in.erase(0, nl + 1);
      json req = json::parse(line, nullptr, false);
      json rep;
      if (req.is_discarded() || !req.is_object()) {
        rep = {{"ok", false}, {"error", "malformed request"}};
      } else if (req.value("op", "") == "policy") {
        std::string why;
        auto p = parse_policy(req, &why);
        if (!p) {
          rep = {{"ok", false}, {"error", why}};
        } else {
          e.set_policy(p);
          e.log("policy " + p->describe());
          rep = {{"ok", true}, {"policy", p->describe()}};
        }
      } else if (req.value("op", "") == "status") {
        rep = {{"ok", true},
               {"policy", e.current()->describe()},
               {"connections", e.connections.load()},
               {"denials", e.denials.load()}};
      } else {
        rep = {{"ok", false}, {"error", "unknown op"}};
      }
      std::string out = rep.dump() + "\n";
      (void)!::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    }
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  ::signal(SIGPIPE, SIG_IGN);
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
  json cfg = json::parse(read_stdin(), nullptr, false);
  if (cfg.is_discarded() || !cfg.is_object()) fail("malformed config on stdin");

  static engine e;
  e.dir = cfg.value("dir", "");
  e.id = cfg.value("id", "");
  pid_t init = cfg.value("init_pid", -1);
  if (e.dir.empty() || init <= 0) fail("config needs dir and init_pid");
  std::string why;
  auto pol = parse_policy(cfg.value("policy", json::object()), &why);
  if (!pol) fail("policy: " + why);
  e.set_policy(pol);
  for (auto const& s : cfg.value("secrets", json::array())) {
    secret_binding b;
    b.placeholder = s.at("placeholder");
    b.value = s.at("value");
    for (auto const& h : s.at("hosts")) {
      auto hp = host_pattern::parse(h.get<std::string>(), &why);
      if (!hp) fail("secret host: " + why);
      b.hosts.push_back(*hp);
    }
    e.secrets.push_back(std::move(b));
  }
  json resolve = cfg.value("resolve", json::object());
  for (auto const& [name, addrs] : resolve.items()) {
    auto n = normalize_name(name);
    std::string list = addrs.get<std::string>();
    std::size_t start = 0;
    while (start <= list.size()) {
      auto end = list.find('|', start);
      auto one = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (auto a = address::parse(one)) e.resolve_override[n].push_back(*a);
      else fail("resolve override " + name + "=" + one + ": not an IP address");
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  e.host_dns = cfg.value("host_dns", true);

  int lock = ::open((e.dir + "/net.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    std::string line = json{{"ok", false}, {"running", true}, {"error", "an engine already serves this sandbox"}}.dump() + "\n";
    (void)!::write(1, line.data(), line.size());
    _exit(1);
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, init, 0));
  if (pidfd < 0) fail("pidfd_open of the sandbox's init " + std::to_string(init) + " failed: " + std::strerror(errno));
  int host_ns = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int sb_ns = ::open(("/proc/" + std::to_string(init) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
  if (host_ns < 0 || sb_ns < 0) fail("opening the network namespaces failed: " + std::string(std::strerror(errno)));
  struct stat a{}, b{};
  ::fstat(host_ns, &a);
  ::fstat(sb_ns, &b);
  if (a.st_ino == b.st_ino) fail("the sandbox shares the host's network namespace; refusing to touch it");

  if (::setns(sb_ns, CLONE_NEWNET) != 0) fail("setns into the sandbox's network namespace failed: " + std::string(std::strerror(errno)));
  std::string warn = run_tool({"ip", "link", "set", "lo", "up"});
  int proxy_fd = listen_tcp(AF_INET, "127.0.0.1", proxy_port);
  int tp4 = listen_tcp(AF_INET, "127.0.0.1", transparent_port);
  int tp6 = listen_tcp(AF_INET6, "::1", transparent_port);
  int dns_udp = bind_udp("127.0.0.1", 53);
  int dns_tcp = listen_tcp(AF_INET, "127.0.0.1", 53);
  bool transparent = false;
  if (proxy_fd < 0 || tp4 < 0 || dns_udp < 0) {
    int err = errno;
    ::setns(host_ns, CLONE_NEWNET);
    fail("listening inside the sandbox's netns failed: " + std::string(std::strerror(err)));
  }
  // Routes first, so that the nat hook sees the connections it redirects (without a route
  // connect() fails before netfilter); if nft is missing, the routes go again: without
  // the redirect they would only lead back into lo.
  std::string r1 = run_tool({"ip", "route", "replace", "default", "dev", "lo", "src", "127.0.0.1"});
  (void)run_tool({"ip", "-6", "route", "replace", "default", "dev", "lo", "src", "::1"});
  std::string nft = r1.empty() ? run_tool({"nft", "-f", "-"}, nft_rules()) : r1;
  if (nft.empty()) {
    transparent = true;
  } else {
    warn += (warn.empty() ? "" : "; ") + nft;
    (void)run_tool({"ip", "route", "del", "default"});
    (void)run_tool({"ip", "-6", "route", "del", "default"});
  }
  if (::setns(host_ns, CLONE_NEWNET) != 0) _exit(3);  // never keep running inside the sandbox's netns

  std::string ca_pem;
  try {
    e.ca = std::make_unique<authority>(e.id);
    ca_pem = e.ca->ca_pem();
  } catch (std::exception const& ex) {
    fail(ex.what());
  }
  e.upstream = make_upstream_context(cfg.value("upstream_ca", ""), &why);
  if (!e.upstream) fail(why);

  std::string sock = e.dir + "/net.sock";
  sockaddr_un ua{};
  ua.sun_family = AF_UNIX;
  if (sock.size() >= sizeof ua.sun_path) fail("state dir path too long for a unix socket");
  std::memcpy(ua.sun_path, sock.c_str(), sock.size() + 1);
  int ctl = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ::unlink(sock.c_str());
  mode_t old = ::umask(077);
  if (::bind(ctl, reinterpret_cast<sockaddr*>(&ua), sizeof ua) != 0 || ::listen(ctl, 64) != 0)
    fail("listening on " + sock + " failed: " + std::strerror(errno));
  ::umask(old);

  // Detach: the library reaps this parent at once; the engine is nobody's child.
  pid_t p = ::fork();
  if (p < 0) fail("fork failed");
  if (p > 0) _exit(0);
  ::setsid();
  e.log("engine up for sandbox " + e.id + ": " + pol->describe() + (transparent ? "" : " (transparent port unavailable: " + warn + ")"));
  std::string ready = json{{"ok", true}, {"ca", ca_pem}, {"transparent", transparent}, {"warning", warn}, {"pid", ::getpid()}}.dump() + "\n";
  (void)!::write(1, ready.data(), ready.size());
  int null = ::open("/dev/null", O_RDWR);
  ::dup2(null, 0);
  ::dup2(null, 1);
  ::dup2(null, 2);

  std::thread([&] { accept_loop(e, proxy_fd, serve_proxy_client); }).detach();
  std::thread([&] { accept_loop(e, tp4, serve_transparent_client); }).detach();
  if (tp6 >= 0) std::thread([&] { accept_loop(e, tp6, serve_transparent_client); }).detach();
  if (dns_tcp >= 0) std::thread([&] { accept_loop(e, dns_tcp, serve_dns_tcp_client); }).detach();
  std::thread([&] { serve_dns_udp(e, dns_udp); }).detach();
  std::thread([&] {
    for (;;) {
      int c = ::accept4(ctl, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) std::thread([c] { control_client(e, c); }).detach();
    }
  }).detach();

  pollfd pf{pidfd, POLLIN, 0};
  while (::poll(&pf, 1, -1) < 0 && errno == EINTR) {}
  ::unlink(sock.c_str());
  _exit(0);
}
