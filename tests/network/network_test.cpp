// SPDX-License-Identifier: Apache-2.0
// The local provider's network policy against upstreams in a network namespace this test
// creates (netlab.hpp): allowlists by name, wildcard, host:port, literal and CIDR over HTTP
// and HTTPS with curl, python urllib and raw sockets; refusals (names, literals, private
// answers, rebinding into loopback, UDP); secret injection; update_network; open mode.
#include "../local/support.hpp"
#include "matchers.hpp"
#include "netlab.hpp"

#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>

#ifndef SBX_NET_TESTSERVER
#error SBX_NET_TESTSERVER must name the test server binary
#endif

namespace sbx::test {
namespace {

using testing::HasSubstr;
using testing::Not;
using namespace std::chrono_literals;

std::unique_ptr<netlab::lab>& lab_ptr() {
  static std::unique_ptr<netlab::lab> l;
  return l;
}

struct lab_env : ::testing::Environment {
  void SetUp() override {
    if (::geteuid() != 0) return;
    lab_ptr() = std::make_unique<netlab::lab>(SBX_NET_TESTSERVER);
    ::setenv("SBX_NET_TEST_RESOLVE", netlab::lab::resolve().c_str(), 1);
    ::setenv("SBX_NET_TEST_UPSTREAM_CA", (lab_ptr()->dir / "ca.pem").c_str(), 1);
    ::setenv("SBX_NET_TEST_NO_DNS", "1", 1);  // nothing a test names is ever looked up for real
  }
  void TearDown() override { lab_ptr().reset(); }
};
[[maybe_unused]] auto* lab_env_ = ::testing::AddGlobalTestEnvironment(new lab_env);

constexpr char const* kSecret = "sk-live-REAL-VALUE-0123456789abcdef";

// The allowlist most tests use. Names resolving into the lab's private addresses need those
// addresses allowed explicitly (cidrs), except priv.test's 10.231.0.4.
network_policy lab_policy() {
  return network_policy::allow({"api.test", "*.wild.test", "port.test:8080", "priv.test", "rebind.test", "v6.test",
                                "secret.test", "nosecret.test", "10.231.0.20"},
                               {"10.231.0.2/32", "10.231.0.3/32", "10.231.0.16/30", "fd00:231::2/128"});
}

request<local> with(network_policy const& n) {
  request<local> r;
  if (n.kind == network_policy::mode::open) r.open_network();
  if (n.kind == network_policy::mode::allow) r.allow_hosts(n.hosts).allow_cidrs(n.cidrs);
  return r;
}

class network : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_LOCAL();
    if (::geteuid() != 0) GTEST_SKIP() << "the network tests build a netns and veth: run as root";
    if (!lab_ptr() || !lab_ptr()->why_not.empty()) GTEST_SKIP() << (lab_ptr() ? lab_ptr()->why_not : "no lab");
  }
  netlab::lab& lab() { return *lab_ptr(); }

  sandbox<local> make(network_policy n, std::vector<secret> secrets = {}) {
    auto c = local_client();
    request<local> r = with(n);
    for (auto& s : secrets) r.secret(s.name, s.value, s.hosts);
    auto box = c.create(r);
    EXPECT_TRUE(box) << box.error().to_string();
    if (!box) throw std::runtime_error("create failed");
    auto b = std::move(box).value();
    EXPECT_TRUE(b.write_file("/tmp/testca.pem", lab().ca_pem()));
    return b;
  }

  // Runs `cmd` with sh -c; returns exit code and combined output.
  static std::pair<int, std::string> run(sandbox<local>& b, std::string const& cmd) {
    exec_request e{{"sh", "-c", cmd + " 2>&1"}};
    e.timeout = 60s;
    auto r = b.exec(e);
    if (!r) return {-1, r.error().to_string()};
    return {r.value().exit_code, r.value().stdout_data};
  }
  static std::string curl(std::string const& url, std::string const& extra = "") {
    return "curl -sS -m 15 --cacert /tmp/testca.pem " + extra + " '" + url + "'";
  }
  static std::string urllib(std::string const& url) {
    return "python3 -c \"import urllib.request,ssl,sys; c=ssl.create_default_context(cafile='/tmp/testca.pem'); "
           "print(urllib.request.urlopen(sys.argv[1], context=c, timeout=15).read().decode())\" '" + url + "'";
  }
  // A raw socket: no proxy variables, the sandbox's own DNS; TLS when `tls`.
  static std::string raw(std::string const& host, int port, bool tls, std::string const& path = "/") {
    return "python3 -c \"import socket,ssl,sys\n"
           "h,p,t,path=sys.argv[1],int(sys.argv[2]),sys.argv[3]=='1',sys.argv[4]\n"
           "s=socket.create_connection((h,p),timeout=15)\n"
           "if t: s=ssl.create_default_context(cafile='/tmp/testca.pem').wrap_socket(s,server_hostname=h)\n"
           "s.sendall(('GET '+path+' HTTP/1.1\\r\\nHost: '+h+'\\r\\nConnection: close\\r\\n\\r\\n').encode())\n"
           "d=b''\n"
           "while True:\n"
           "  x=s.recv(65536)\n"
           "  if not x: break\n"
           "  d+=x\n"
           "print(d.decode())\" " + host + " " + std::to_string(port) + " " + (tls ? "1" : "0") + " " + path;
  }
  static std::vector<local::network_event> events(sandbox<local>& b) {
    auto e = b.network_events();
    EXPECT_TRUE(e) << e.error().to_string();
    return e ? e.value() : std::vector<local::network_event>{};
  }
  static bool has_event(std::vector<local::network_event> const& ev, std::string const& host, std::uint16_t port) {
    return std::any_of(ev.begin(), ev.end(), [&](auto const& e) {
      return e.type == "network_policy_denied" && e.host == host && e.port == port;
    });
  }
};

#define EXPECT_REACHES(box, cmd, text)                       \
  do {                                                       \
    auto [rc_, out_] = run(box, cmd);                        \
    EXPECT_EQ(rc_, 0) << (cmd) << "\n" << out_;              \
    EXPECT_THAT(out_, HasSubstr(text)) << (cmd);             \
  } while (false)

// Refused: the command failed (reset, NXDOMAIN, CONNECT 403) or got the proxy's 403 body.
#define EXPECT_REFUSED(box, cmd)                                                              \
  do {                                                                                        \
    auto [rc_, out_] = run(box, cmd);                                                         \
    EXPECT_TRUE(rc_ != 0 || out_.find("denied by the sandbox's network policy") != std::string::npos) \
        << (cmd) << " was not refused:\n" << out_;                                             \
    EXPECT_THAT(out_, Not(HasSubstr("hello from"))) << (cmd);                                \
  } while (false)

TEST_F(network, exact_name_is_reachable_over_http_and_https_with_curl_urllib_and_raw_sockets) {
  auto box = make(lab_policy());
  EXPECT_REACHES(box, curl("http://api.test/"), "hello from http 10.231.0.2:80");
  EXPECT_REACHES(box, curl("https://api.test/"), "hello from https 10.231.0.2:443");
  EXPECT_REACHES(box, urllib("http://api.test/"), "hello from http 10.231.0.2:80");
  EXPECT_REACHES(box, urllib("https://api.test/"), "hello from https 10.231.0.2:443");
  EXPECT_REACHES(box, raw("api.test", 80, false), "hello from http 10.231.0.2:80");
  EXPECT_REACHES(box, raw("api.test", 443, true), "hello from https 10.231.0.2:443");
  // curl ignoring the proxy variables goes the transparent way too.
  EXPECT_REACHES(box, curl("https://api.test/", "--noproxy '*'"), "hello from https 10.231.0.2:443");
  // A non-HTTP protocol on another port to an allowed name (raw socket, banner first).
  EXPECT_REACHES(box, "python3 -c \"import socket; s=socket.create_connection(('api.test',7000),timeout=10); print(s.recv(100).decode())\"",
                 "banner 10.231.0.2:7000");
  EXPECT_TRUE(events(box).empty());
}

TEST_F(network, wildcard_matches_subdomains_but_not_the_apex) {
  auto box = make(lab_policy());
  EXPECT_REACHES(box, curl("https://a.wild.test/"), "hello from https");
  EXPECT_REACHES(box, curl("http://b.c.wild.test/"), "hello from http");
  EXPECT_REACHES(box, raw("b.c.wild.test", 443, true), "hello from https");
  auto [rc, out] = run(box, curl("http://wild.test/"));
  EXPECT_THAT(out, HasSubstr("wild.test:80 denied by the sandbox's network policy"));
  EXPECT_THAT(out, HasSubstr("*.wild.test"));  // the body names the policy
  EXPECT_REFUSED(box, curl("https://wild.test/"));
  EXPECT_REFUSED(box, raw("wild.test", 80, false));
  auto ev = events(box);
  EXPECT_TRUE(has_event(ev, "wild.test", 80));
  EXPECT_TRUE(has_event(ev, "wild.test", 443));
}

TEST_F(network, host_port_entry_allows_only_that_port) {
  auto box = make(lab_policy());
  EXPECT_REACHES(box, curl("http://port.test:8080/"), "hello from http 10.231.0.2:8080");
  EXPECT_REACHES(box, raw("port.test", 8080, false), "hello from http 10.231.0.2:8080");
  EXPECT_REFUSED(box, curl("http://port.test/"));
  EXPECT_REFUSED(box, curl("https://port.test:8443/"));
  EXPECT_REFUSED(box, raw("port.test", 80, false));
  auto ev = events(box);
  EXPECT_TRUE(has_event(ev, "port.test", 80));
  EXPECT_TRUE(has_event(ev, "port.test", 8443));
}

TEST_F(network, ip_literals_and_cidrs_are_reachable_and_other_addresses_are_not) {
  auto box = make(lab_policy());
  EXPECT_REACHES(box, curl("http://10.231.0.20/"), "hello from http 10.231.0.20:80");    // literal host entry
  EXPECT_REACHES(box, curl("https://10.231.0.20/"), "hello from https 10.231.0.20:443");
  EXPECT_REACHES(box, raw("10.231.0.20", 80, false), "hello from http 10.231.0.20:80");
  EXPECT_REACHES(box, curl("https://10.231.0.17/"), "hello from https 10.231.0.17:443");  // in 10.231.0.16/30
  EXPECT_REACHES(box, urllib("http://10.231.0.17/"), "hello from http 10.231.0.17:80");
  EXPECT_REACHES(box, raw("10.231.0.17", 443, true), "hello from https 10.231.0.17:443");
  EXPECT_REACHES(box, curl("http://[fd00:231::2]/"), "hello from http [fd00:231::2]:80");
  EXPECT_REACHES(box, raw("fd00:231::2", 443, true), "hello from https [fd00:231::2]:443");
  EXPECT_REACHES(box, curl("https://v6.test/"), "hello from https [fd00:231::2]:443");
  // 10.231.0.21 serves too, but is in neither list: proxied, direct, HTTPS, HTTP.
  auto before = lab().requests();
  EXPECT_REFUSED(box, curl("http://10.231.0.21/"));
  EXPECT_REFUSED(box, curl("https://10.231.0.21/"));
  EXPECT_REFUSED(box, raw("10.231.0.21", 80, false));
  EXPECT_REFUSED(box, raw("10.231.0.21", 443, true));
  EXPECT_REFUSED(box, "curl -sS -m 10 --noproxy '*' http://10.231.0.21/");
  auto [rc, out] = run(box, "python3 -c \"import socket; s=socket.create_connection(('10.231.0.21',80),timeout=5); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(100))\"");
  EXPECT_THAT(out, HasSubstr("ConnectionResetError"));  // reset, not a timeout
  EXPECT_EQ(lab().requests().find("10.231.0.21", before.size()), std::string::npos) << "a refused request reached the server";
  auto ev = events(box);
  EXPECT_TRUE(has_event(ev, "10.231.0.21", 80));
  EXPECT_TRUE(has_event(ev, "10.231.0.21", 443));
}

TEST_F(network, denied_names_fail_fast_with_a_message_and_an_event) {
  auto box = make(lab_policy());
  auto t0 = std::chrono::system_clock::now();
  auto [rc, out] = run(box, curl("http://other.test/x"));
  EXPECT_THAT(out, HasSubstr("denied by the sandbox's network policy"));
  auto [rc2, out2] = run(box, curl("http://other.test/x", "-i"));
  EXPECT_THAT(out2, HasSubstr("HTTP/1.1 403 Forbidden"));
  EXPECT_THAT(out2, HasSubstr("other.test:80 denied by the sandbox's network policy (allow hosts [api.test"));
  auto [rc3, out3] = run(box, curl("https://other.test/"));
  EXPECT_NE(rc3, 0);
  EXPECT_THAT(out3, HasSubstr("403"));
  EXPECT_REFUSED(box, urllib("https://other.test/"));
  // Without the proxy the name does not even resolve: the stub only answers allowed names.
  auto [rc4, out4] = run(box, raw("other.test", 80, false));
  EXPECT_THAT(out4, HasSubstr("gaierror"));
  auto ev = events(box);
  ASSERT_TRUE(has_event(ev, "other.test", 80));
  EXPECT_TRUE(has_event(ev, "other.test", 443));
  EXPECT_TRUE(has_event(ev, "other.test", 0));  // the DNS lookup
  for (auto const& e : ev) {
    EXPECT_GE(e.time, t0 - 1s);
    EXPECT_LE(e.time, std::chrono::system_clock::now() + 1s);
    EXPECT_FALSE(e.reason.empty());
    EXPECT_THAT(e.policy, HasSubstr("allow hosts"));
  }
}

TEST_F(network, names_resolving_to_private_or_loopback_addresses_are_refused) {
  auto box = make(lab_policy());
  // priv.test is allowed by name but resolves to 10.231.0.4, which no entry allows.
  auto [rc, out] = run(box, curl("http://priv.test/", "-i"));
  EXPECT_THAT(out, HasSubstr("403"));
  EXPECT_THAT(out, HasSubstr("10.231.0.4 (private)"));
  EXPECT_REFUSED(box, raw("priv.test", 443, true));
  // DNS rebinding into 127.0.0.0/8: rebind.test "resolves" to the host's loopback, where a
  // server listens. It must never be reached, by proxy or transparently.
  auto port = std::to_string(lab().loop_port);
  auto before = lab().loop_requests();
  auto [rc2, out2] = run(box, curl("http://rebind.test:" + port + "/", "-i"));
  EXPECT_THAT(out2, HasSubstr("127.0.0.1 (loopback)"));
  EXPECT_REFUSED(box, raw("rebind.test", lab().loop_port, false));
  // The literal through the proxy by hand (curl would skip the proxy for 127.0.0.1).
  EXPECT_REFUSED(box, "curl -sS -m 10 --noproxy '' -x http://127.0.0.1:3128 http://127.0.0.1:" + port + "/");
  EXPECT_EQ(lab().loop_requests(), before) << "the host's loopback server was reached";
  auto ev = events(box);
  EXPECT_TRUE(has_event(ev, "priv.test", 80));
  EXPECT_TRUE(has_event(ev, "rebind.test", lab().loop_port));
}

TEST_F(network, udp_is_refused_except_the_dns_stub) {
  auto box = make(lab_policy());
  auto [rc, out] = run(box,
                       "python3 -c \"import socket\n"
                       "u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.settimeout(2)\n"
                       "try:\n"
                       "  u.sendto(b'ping',('10.231.0.2',9999)); print('reply',u.recvfrom(100))\n"
                       "except Exception as e: print('refused',type(e).__name__,e)\n"
                       "print('dns',socket.gethostbyname('api.test'))\"");
  EXPECT_THAT(out, HasSubstr("refused PermissionError"));
  EXPECT_THAT(out, Not(HasSubstr("reply")));
  EXPECT_THAT(out, HasSubstr("dns 198.18."));  // a synthetic address, the real one stays on the host
}

TEST_F(network, secret_placeholder_becomes_the_value_only_for_its_hosts) {
  auto box = make(lab_policy(), {secret{"API_TOKEN", kSecret, {"secret.test"}}});
  auto [rc0, env] = run(box, "printenv API_TOKEN");
  ASSERT_THAT(env, HasSubstr("SBX_SECRET_"));
  std::string ph = env.substr(0, env.find('\n'));
  ASSERT_THAT(ph, Not(HasSubstr(kSecret)));
  auto before = lab().requests().size();
  // curl through the proxy, with the sandbox's default trust (the sandbox CA is installed).
  auto [rc, out] = run(box, "curl -sS -m 15 -H \"Authorization: Bearer $API_TOKEN\" -H \"X-Api-Key: k=$API_TOKEN\" https://secret.test/echo");
  EXPECT_EQ(rc, 0) << out;
  auto seen = lab().requests().substr(before);
  EXPECT_THAT(seen, HasSubstr("Authorization: Bearer " + std::string(kSecret)));
  EXPECT_THAT(seen, HasSubstr("X-Api-Key: k=" + std::string(kSecret)));
  EXPECT_THAT(seen, Not(HasSubstr("SBX_SECRET_")));
  // The upstream echoed the real value back: the sandbox sees a mask of the same length
  // (the placeholder, cut to fit) instead.
  std::string mask = ph.substr(0, std::strlen(kSecret));
  EXPECT_THAT(out, HasSubstr("Authorization: Bearer " + mask + "\r\n"));
  EXPECT_THAT(out, Not(HasSubstr(kSecret)));
  // python urllib, and a raw TLS socket that ignores the proxy (transparent interception).
  before = lab().requests().size();
  auto [rc2, out2] = run(box, "python3 -c \"import urllib.request,os; r=urllib.request.Request('https://secret.test/echo', "
                              "headers={'Authorization':'Bearer '+os.environ['API_TOKEN']}); print(urllib.request.urlopen(r,timeout=15).status)\"");
  EXPECT_THAT(out2, HasSubstr("200"));
  auto [rc3, out3] = run(box, "python3 -c \"import socket,ssl,os\n"
                              "s=ssl.create_default_context().wrap_socket(socket.create_connection(('secret.test',443)),server_hostname='secret.test')\n"
                              "s.sendall(('GET /echo HTTP/1.1\\r\\nHost: secret.test\\r\\nX-Custom: '+os.environ['API_TOKEN']+'\\r\\nConnection: close\\r\\n\\r\\n').encode())\n"
                              "d=b''\n"
                              "while True:\n"
                              "  x=s.recv(65536)\n"
                              "  if not x: break\n"
                              "  d+=x\n"
                              "print(d.decode())\"");
  EXPECT_THAT(out3, HasSubstr("X-Custom: " + mask + "\r\n"));
  seen = lab().requests().substr(before);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), '=') >= 2, true);
  EXPECT_THAT(seen, HasSubstr("Authorization: Bearer " + std::string(kSecret)));
  EXPECT_THAT(seen, HasSubstr("X-Custom: " + std::string(kSecret)));
  // A host that is allowed but not bound to the secret gets the placeholder unchanged
  // (and its TLS is not intercepted: the test CA verifies it end to end).
  before = lab().requests().size();
  auto [rc4, out4] = run(box, "curl -sS -m 15 --cacert /tmp/testca.pem -H \"Authorization: Bearer $API_TOKEN\" https://nosecret.test/echo");
  EXPECT_EQ(rc4, 0) << out4;
  seen = lab().requests().substr(before);
  EXPECT_THAT(seen, HasSubstr("Authorization: Bearer " + ph));
  EXPECT_THAT(seen, Not(HasSubstr(kSecret)));
  // Plain HTTP to the bound host is rewritten too.
  before = lab().requests().size();
  run(box, "curl -sS -m 15 -H \"Authorization: Bearer $API_TOKEN\" http://secret.test/echo");
  EXPECT_THAT(lab().requests().substr(before), HasSubstr("Bearer " + std::string(kSecret)));
}

TEST_F(network, secret_value_appears_nowhere_in_the_sandbox_or_its_logs) {
  auto box = make(lab_policy(), {secret{"API_TOKEN", kSecret, {"secret.test"}}});
  // Use it, so that the engine has done its work, then look everywhere.
  run(box, "curl -sS -m 15 -H \"Authorization: Bearer $API_TOKEN\" https://secret.test/echo > /tmp/resp.txt; "
           "sleep 30 & curl -sS -m 15 https://secret.test/echo >/dev/null");
  // The scan holds the value only in its own memory: the pattern travels base64-encoded, so
  // that neither its argv nor a file carries it.
  std::string b64 = "c2stbGl2ZS1SRUFMLVZBTFVFLTAxMjM0NTY3ODlhYmNkZWY=";  // kSecret
  ASSERT_EQ(std::string(kSecret), "sk-live-REAL-VALUE-0123456789abcdef");
  auto [rc, out] = run(box, "python3 -c \"import base64,os\n"
                            "v=base64.b64decode('" + b64 + "'); hits=[]; n=0\n"
                            "for d,ds,fs in os.walk('/'):\n"
                            "  if d in ('/proc','/sys','/dev'): ds[:]=[]; continue\n"
                            "  for f in fs:\n"
                            "    p=os.path.join(d,f)\n"
                            "    try:\n"
                            "      if os.path.isfile(p) and not os.path.islink(p):\n"
                            "        n+=1\n"
                            "        if v in open(p,'rb').read(): hits.append(p)\n"
                            "    except OSError: pass\n"
                            "for pid in os.listdir('/proc'):\n"
                            "  if not pid.isdigit(): continue\n"
                            "  for k in ('environ','cmdline'):\n"
                            "    try:\n"
                            "      if v in open('/proc/'+pid+'/'+k,'rb').read(): hits.append(pid+'/'+k)\n"
                            "    except OSError: pass\n"
                            "print('files',n,'hits',hits)\n"
                            "print('env', 'API_TOKEN=SBX_SECRET_' in ''.join(k+'='+x for k,x in os.environ.items()))\"");
  EXPECT_THAT(out, HasSubstr("hits []")) << out;
  EXPECT_THAT(out, HasSubstr("env True")) << out;
  EXPECT_THAT(out, Not(HasSubstr(kSecret)));
  auto [rc2, resp] = run(box, "cat /tmp/resp.txt");
  EXPECT_THAT(resp, HasSubstr("Authorization: Bearer SBX_SECRET_"));
  // The host side: the engine's log and event files, the state dir's files.
  auto dir = std::filesystem::path(local_config().state_dir) / "sandboxes" / box.id();
  for (auto const& f : std::filesystem::directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    EXPECT_THAT(netlab::slurp(f.path()), Not(HasSubstr(kSecret))) << f.path();
  }
  EXPECT_THAT(netlab::slurp(dir / "net.log"), HasSubstr("placeholder(s) replaced"));
  // Nor in anything the API prints about the sandbox.
  auto info = box.info();
  ASSERT_TRUE(info);
  for (auto const& [k, v] : info.value().labels) EXPECT_THAT(v, Not(HasSubstr(kSecret)));
  for (auto const& l : local_client().provider().host_report()) EXPECT_THAT(l, Not(HasSubstr(kSecret)));
}

TEST_F(network, update_network_goes_blocked_allow_open_and_back_without_restart) {
  auto box = make(network_policy::blocked());
  auto ok = [&](std::string const& host) { return raw(host, 80, false); };
  EXPECT_REFUSED(box, ok("api.test"));
  EXPECT_REFUSED(box, raw("10.231.0.2", 80, false));

  ASSERT_TRUE(box.update_network(network_policy::allow({"api.test"}, {"10.231.0.2/32"})));
  EXPECT_REACHES(box, ok("api.test"), "hello from http 10.231.0.2:80");
  EXPECT_REACHES(box, "curl -sS -m 15 http://api.test/", "hello from http 10.231.0.2:80");  // no proxy vars: transparent
  EXPECT_REFUSED(box, raw("10.231.0.21", 80, false));
  EXPECT_REFUSED(box, ok("other.test"));

  ASSERT_TRUE(box.update_network(network_policy::open()));
  EXPECT_REACHES(box, ok("other.test"), "hello from http 10.231.0.2:80");
  EXPECT_REACHES(box, raw("10.231.0.21", 80, false), "hello from http 10.231.0.21:80");
  EXPECT_REACHES(box, ok("open.test"), "hello from http 10.231.0.21:80");
  // Open is not the host's loopback, nor the host's own addresses.
  auto before = lab().loop_requests();
  EXPECT_REFUSED(box, raw("rebind.test", lab().loop_port, false));
  EXPECT_REFUSED(box, raw("10.231.0.1", lab().loop_port, false));
  EXPECT_EQ(lab().loop_requests(), before);

  ASSERT_TRUE(box.update_network(network_policy::allow({"api.test"}, {"10.231.0.2/32"})));
  EXPECT_REFUSED(box, ok("other.test"));
  EXPECT_REACHES(box, ok("api.test"), "hello from http");

  ASSERT_TRUE(box.update_network(network_policy::blocked()));
  EXPECT_REFUSED(box, ok("api.test"));
  EXPECT_REFUSED(box, raw("10.231.0.2", 80, false));
  EXPECT_TRUE(has_event(events(box), "10.231.0.2", 80));

  EXPECT_THAT(box.update_network(network_policy::allow({"bad host!"})), fails_with(error_kind::invalid_request));
}

TEST_F(network, a_sandbox_created_with_allow_follows_updates_through_its_proxy) {
  auto box = make(lab_policy());
  EXPECT_REACHES(box, curl("https://api.test/"), "hello from https");
  ASSERT_TRUE(box.update_network(network_policy::blocked()));
  EXPECT_REFUSED(box, curl("https://api.test/"));
  ASSERT_TRUE(box.update_network(network_policy::open()));
  EXPECT_REACHES(box, curl("http://other.test/"), "hello from http");
  EXPECT_REFUSED(box, curl("http://rebind.test:" + std::to_string(lab().loop_port) + "/"));
}

TEST_F(network, bad_policies_and_secrets_are_invalid_requests) {
  auto c = local_client();
  EXPECT_THAT(c.create(with(network_policy::allow({"*bad.example"}))), fails_with(error_kind::invalid_request));
  EXPECT_THAT(c.create(with(network_policy::allow({"a.test:99999"}))), fails_with(error_kind::invalid_request));
  EXPECT_THAT(c.create(with(network_policy::allow({}, {"10.0.0.0/33"}))), fails_with(error_kind::invalid_request));
  EXPECT_THAT(c.create(request<local>{}.secret("K", "a\r\nX-Injected: 1", {"a.test"})), fails_with(error_kind::invalid_request));
  EXPECT_THAT(c.create(request<local>{}.secret("K", "v", {})), fails_with(error_kind::invalid_request));
}

TEST_F(network, one_proxy_serves_100_concurrent_connections) {
  auto box = make(lab_policy());
  auto [rc, out] = run(box,
                       "python3 -c \"import urllib.request,ssl,threading\n"
                       "c=ssl.create_default_context(cafile='/tmp/testca.pem'); ok=[]; bad=[]\n"
                       "def f(i):\n"
                       "  try:\n"
                       "    u='https://api.test/bytes/200000' if i%2 else 'http://a.wild.test/bytes/200000'\n"
                       "    ok.append(len(urllib.request.urlopen(u,context=c,timeout=60).read()))\n"
                       "  except Exception as e: bad.append(repr(e))\n"
                       "ts=[threading.Thread(target=f,args=(i,)) for i in range(100)]\n"
                       "[t.start() for t in ts]; [t.join() for t in ts]\n"
                       "print('ok',len(ok),'bytes',sum(ok),'errors',bad[:3])\"");
  EXPECT_THAT(out, HasSubstr("ok 100 bytes 20000000 errors []")) << out;
}

}  // namespace
}  // namespace sbx::test
