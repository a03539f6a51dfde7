// SPDX-License-Identifier: Apache-2.0
// The library side of the network policy: validating requests, placeholders for secrets,
// starting sbx-netd and handing it its config over a pipe, policy updates over its control
// socket, and reading the denial log.
#include "client.hpp"

#include "../src/internal.hpp"
#include "policy.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace sbx::local_impl::net {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
namespace ln = sbx::local_net;

constexpr char const* proxy_url = "http://127.0.0.1:3128";
constexpr char const* bundle_path = "/etc/ssl/certs/ca-certificates.crt";
constexpr char const* ca_path = "/etc/ssl/certs/sbx-sandbox-ca.crt";

error err(error_kind k, std::string msg, std::string_view field = {}) {
  error_detail d;
  d.message = std::move(msg);
  d.provider = "local";
  d.field = std::string(field);
  return make_error(k, std::move(d));
}

std::string mode_name(network_policy::mode m) {
  switch (m) {
    case network_policy::mode::blocked: return "blocked";
    case network_policy::mode::allow: return "allow";
    case network_policy::mode::open: return "open";
  }
  return "blocked";
}

result<void> check_policy(network_policy const& n) {
  std::string why;
  auto m = n.kind == network_policy::mode::allow ? ln::policy::mode::allow
           : n.kind == network_policy::mode::open ? ln::policy::mode::open
                                                  : ln::policy::mode::blocked;
  if (n.kind != network_policy::mode::allow && (!n.hosts.empty() || !n.cidrs.empty()))
    return err(error_kind::invalid_request, fmt::format("network: hosts and cidrs only apply to mode allow, not {}", mode_name(n.kind)), "network");
  if (!ln::policy::make(m, n.hosts, n.cidrs, &why)) return err(error_kind::invalid_request, "network: " + why, "network");
  return success();
}

json policy_json(network_policy const& n) {
  return {{"mode", mode_name(n.kind)}, {"hosts", n.hosts}, {"cidrs", n.cidrs}};
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (::getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size())) std::abort();  // no entropy: never guess
  std::string out;
  for (unsigned char c : raw) out += fmt::format("{:02x}", c);
  return out;
}

std::string netd_path(local const& p) {
  if (char const* e = ::getenv("SBX_NETD"); e && *e) return e;
  return (fs::path(p.configuration().supervisor_path).parent_path() / "sbx-netd").string();
}

// Test-only knobs, read from the creating process's environment (documented in
// docs/providers/local.md): SBX_NET_TEST_RESOLVE="name=addr[|addr],..." points names at test
// servers; SBX_NET_TEST_UPSTREAM_CA=<pem file> adds a CA to the engine's upstream trust;
// SBX_NET_TEST_NO_DNS=1 makes the engine refuse any name the override does not list.
void add_test_knobs(json& cfg) {
  if (char const* r = ::getenv("SBX_NET_TEST_RESOLVE"); r && *r) {
    json m = json::object();
    std::stringstream ss(r);
    std::string item;
    while (std::getline(ss, item, ',')) {
      auto eq = item.find('=');
      if (eq != std::string::npos) m[item.substr(0, eq)] = item.substr(eq + 1);
    }
    cfg["resolve"] = m;
  }
  if (char const* c = ::getenv("SBX_NET_TEST_UPSTREAM_CA"); c && *c) cfg["upstream_ca"] = c;
  if (char const* d = ::getenv("SBX_NET_TEST_NO_DNS"); d && *d && std::string(d) != "0") cfg["host_dns"] = false;
}

// Starts sbx-netd with `cfg` on its stdin; returns its ready reply.
result<json> spawn_engine(local const& p, json const& cfg) {
  std::string path = netd_path(p);
  if (::access(path.c_str(), X_OK) != 0)
    return err(error_kind::create_failed, fmt::format("the network engine {} is not executable: {}", path, std::strerror(errno)));
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return err(error_kind::create_failed, "pipe failed");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return err(error_kind::create_failed, "pipe failed");
  }
  unique_fd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string id = cfg.value("id", "");
  char const* argv[] = {path.c_str(), id.c_str(), nullptr};
  char const* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, path.c_str(), &fa, &at, const_cast<char* const*>(argv), const_cast<char* const*>(envp));
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  in_r.reset();
  out_w.reset();
  if (rc != 0) return err(error_kind::create_failed, fmt::format("starting the network engine {} failed: {}", path, std::strerror(rc)));
  std::string text = cfg.dump();
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(in_w.get(), text.data() + off, text.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  in_w.reset();
  int st;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  std::string line;
  char buf[8192];
  for (;;) {
    pollfd pf{out_r.get(), POLLIN, 0};
    if (::poll(&pf, 1, 15000) <= 0) return err(error_kind::create_failed, "the network engine did not report within 15 s");
    ssize_t n = ::read(out_r.get(), buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
    if (line.find('\n') != std::string::npos) break;
  }
  json rep = json::parse(line, nullptr, false);
  if (rep.is_discarded() || !rep.is_object())
    return err(error_kind::create_failed, "the network engine exited without reporting (status " + std::to_string(st) + ")");
  return rep;
}

// Connects to the engine's control socket; -1 when none is running.
unique_fd dial(fs::path const& dir) {
  std::string sock = (dir / "net.sock").string();
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (sock.size() >= sizeof a.sun_path) return unique_fd();
  std::memcpy(a.sun_path, sock.c_str(), sock.size() + 1);
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return unique_fd();
  return fd;
}

result<json> ask(int fd, json const& req) {
  std::string out = req.dump() + "\n";
  if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size()))
    return err(error_kind::connection, "the network engine went away");
  std::string line;
  char buf[4096];
  while (line.find('\n') == std::string::npos) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, 10000) <= 0) return err(error_kind::timeout, "the network engine did not answer within 10 s");
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return err(error_kind::connection, "the network engine went away");
    line.append(buf, static_cast<std::size_t>(n));
  }
  json rep = json::parse(line.substr(0, line.find('\n')), nullptr, false);
  if (rep.is_discarded()) return err(error_kind::internal, "the network engine answered garbage");
  return rep;
}

result<void> install_files(local& p, local::handle const& h, std::string const& ca) {
  write_options o;
  o.mode = 0644;
  SBX_TRYV(p.write_file(h, "/etc/resolv.conf", std::string_view("nameserver 127.0.0.1\noptions attempts:2 timeout:1\n"), o));
  std::string bundle;
  if (auto old = p.read_file(h, bundle_path)) bundle = std::move(old).value();
  if (!bundle.empty() && bundle.back() != '\n') bundle += '\n';
  bundle += "# sbx: this sandbox's interception CA (hosts bound to a secret)\n" + ca;
  SBX_TRYV(p.write_file(h, bundle_path, std::string_view(bundle), o));
  SBX_TRYV(p.write_file(h, ca_path, std::string_view(ca), o));
  return success();
}

std::mutex start_mu;  // one engine start at a time in this process (update races)

}  // namespace

result<plan> prepare(common_request const& r) {
  plan pl;
  SBX_TRYV(check_policy(r.network));
  pl.policy = r.network;
  for (auto const& s : r.secrets) {
    if (s.value.empty()) return err(error_kind::invalid_request, fmt::format("secret {}: the value is empty", s.name), "secrets");
    if (s.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      return err(error_kind::invalid_request, fmt::format("secret {}: the value contains CR, LF or NUL (it goes into HTTP headers)", s.name), "secrets");
    if (s.hosts.empty())
      return err(error_kind::invalid_request, fmt::format("secret {}: needs at least one host to be sent to", s.name), "secrets");
    if (r.env.count(s.name))
      return err(error_kind::invalid_request, fmt::format("secret {}: env {} is also set directly; a secret's variable holds its placeholder", s.name, s.name), "secrets");
    for (auto const& host : s.hosts) {
      std::string why;
      if (!ln::host_pattern::parse(host, &why)) return err(error_kind::invalid_request, fmt::format("secret {}: host {}", s.name, why), "secrets");
    }
    pl.secrets.push_back({"SBX_SECRET_" + random_hex(16), s.value, s.hosts});
    pl.env.push_back(s.name + "=" + pl.secrets.back().placeholder);
  }
  pl.engine = r.network.kind != network_policy::mode::blocked || !r.secrets.empty();
  if (pl.engine) {
    for (char const* k : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"})
      pl.env.push_back(std::string(k) + "=" + proxy_url);
    for (char const* k : {"NO_PROXY", "no_proxy"}) pl.env.push_back(std::string(k) + "=localhost,127.0.0.1,::1");
    for (char const* k : {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"})
      pl.env.push_back(std::string(k) + "=" + bundle_path);
    pl.env.push_back(std::string("NODE_EXTRA_CA_CERTS=") + ca_path);
  }
  return pl;
}

result<void> start(local& provider, local::handle const& h, plan const& p) {
  if (!p.engine) return success();
  SBX_TRY(v, view(provider, h));
  json cfg = {{"id", v.id}, {"dir", v.dir.string()}, {"init_pid", v.init_pid}, {"policy", policy_json(p.policy)}};
  json secrets = json::array();
  for (auto const& s : p.secrets) secrets.push_back({{"placeholder", s.placeholder}, {"value", s.value}, {"hosts", s.hosts}});
  cfg["secrets"] = secrets;
  add_test_knobs(cfg);
  std::lock_guard lk(start_mu);
  SBX_TRY(rep, spawn_engine(provider, cfg));
  if (!rep.value("ok", false))
    return err(error_kind::create_failed, "the network engine failed: " + rep.value("error", std::string("no reason given")));
  return install_files(provider, h, rep.value("ca", ""));
}

result<void> update(local& provider, local::handle const& h, network_policy const& n) {
  SBX_TRYV(check_policy(n));
  SBX_TRY(v, view(provider, h));
  json req = policy_json(n);
  req["op"] = "policy";
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto fd = dial(v.dir)) {
      SBX_TRY(rep, ask(fd.get(), req));
      if (!rep.value("ok", false)) return err(error_kind::invalid_request, "update_network: " + rep.value("error", std::string("refused")), "network");
      return success();
    }
    // No engine: the sandbox was created blocked and has stayed so.
    if (n.kind == network_policy::mode::blocked) return success();
    std::lock_guard lk(start_mu);
    if (auto fd = dial(v.dir)) continue;  // another thread started it meanwhile
    json cfg = {{"id", v.id}, {"dir", v.dir.string()}, {"init_pid", v.init_pid}, {"policy", policy_json(n)}, {"secrets", json::array()}};
    add_test_knobs(cfg);
    SBX_TRY(rep, spawn_engine(provider, cfg));
    if (rep.value("running", false)) continue;  // another process started it: tell that one
    if (!rep.value("ok", false))
      return err(error_kind::internal, "update_network: the network engine failed: " + rep.value("error", std::string("no reason given")));
    // Programs started from now on resolve through the stub and trust the CA; the
    // environment of a running sandbox cannot change, so these go through the transparent
    // port rather than the proxy variables.
    return install_files(provider, h, rep.value("ca", ""));
  }
  return err(error_kind::internal, "update_network: could not reach the network engine");
}

result<std::vector<local::network_event>> events(local& provider, local::handle const& h) {
  SBX_TRY(v, view(provider, h));
  std::vector<local::network_event> out;
  std::ifstream in(v.dir / "net-events.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;  // a line being written right now
    local::network_event e;
    e.type = j.value("type", "");
    e.host = j.value("host", "");
    e.port = j.value("port", std::uint16_t{0});
    e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(j.value("time_ms", std::int64_t{0})));
    e.reason = j.value("reason", "");
    e.policy = j.value("policy", "");
    e.via = j.value("via", "");
    out.push_back(std::move(e));
  }
  return out;
}

std::string report(local const& provider) {
  std::string netd = netd_path(provider);
  bool have = ::access(netd.c_str(), X_OK) == 0;
  bool nft = ::access("/usr/sbin/nft", X_OK) == 0 || ::access("/sbin/nft", X_OK) == 0;
  return fmt::format("network: blocked (empty netns) by default; allow/open/secrets through the engine {} ({}), transparent port {}",
                     netd, have ? "ok" : "missing", nft ? "via nftables" : "unavailable: install nftables (proxy variables only)");
}

}  // namespace sbx::local_impl::net
