// SPDX-License-Identifier: Apache-2.0
// The engine's pure parts: host patterns, CIDRs, special ranges, the request rewriter and
// the response scrubber (chunk boundaries anywhere), SNI and Host extraction.
#include "http.hpp"
#include "policy.hpp"

#include <gtest/gtest.h>

namespace ln = sbx::local_net;

namespace {

ln::policy allow(std::vector<std::string> h, std::vector<std::string> c = {}) {
  std::string why;
  auto p = ln::policy::make(ln::policy::mode::allow, h, c, &why);
  EXPECT_TRUE(p) << why;
  return *p;
}

TEST(net_policy, exact_wildcard_and_port_entries_match_as_documented) {
  auto p = allow({"API.example.com.", "*.wild.test", "port.test:8443"});
  EXPECT_TRUE(p.allows_name("api.example.com", 443));
  EXPECT_FALSE(p.allows_name("x.api.example.com", 443));
  EXPECT_TRUE(p.allows_name("a.wild.test", 80));
  EXPECT_TRUE(p.allows_name("a.b.wild.test", 80));
  EXPECT_FALSE(p.allows_name("wild.test", 80));
  EXPECT_FALSE(p.allows_name("evilwild.test", 80));
  EXPECT_TRUE(p.allows_name("port.test", 8443));
  EXPECT_FALSE(p.allows_name("port.test", 443));
  EXPECT_TRUE(p.allows_name_any_port("port.test"));
}

TEST(net_policy, literals_and_cidrs_allow_addresses_and_private_answers) {
  auto p = allow({"10.1.2.3", "[fd00::5]:8080", "name.test"}, {"192.168.7.0/24", "2001:db8::/32"});
  EXPECT_EQ(p.check_address(*ln::address::parse("10.1.2.3"), 22), "");
  EXPECT_EQ(p.check_address(*ln::address::parse("fd00::5"), 8080), "");
  EXPECT_NE(p.check_address(*ln::address::parse("fd00::5"), 80), "");
  EXPECT_EQ(p.check_address(*ln::address::parse("192.168.7.200"), 1), "");
  EXPECT_NE(p.check_address(*ln::address::parse("192.168.8.1"), 1), "");
  EXPECT_EQ(p.check_address(*ln::address::parse("::ffff:192.168.7.9"), 1), "");  // v4-mapped is v4
  EXPECT_EQ(p.check_resolved(*ln::address::parse("93.184.216.34"), 443), "");
  EXPECT_NE(p.check_resolved(*ln::address::parse("127.0.0.1"), 443), "");
  EXPECT_NE(p.check_resolved(*ln::address::parse("169.254.169.254"), 80), "");
  EXPECT_NE(p.check_resolved(*ln::address::parse("100.64.1.1"), 80), "");
  EXPECT_NE(p.check_resolved(*ln::address::parse("10.9.9.9"), 80), "");
  EXPECT_EQ(p.check_resolved(*ln::address::parse("192.168.7.1"), 80), "");  // explicitly allowed
  EXPECT_NE(p.check_resolved(*ln::address::parse("fe80::1"), 80), "");
  EXPECT_NE(p.check_resolved(*ln::address::parse("::ffff:127.0.0.1"), 80), "");
}

TEST(net_policy, open_refuses_only_what_is_never_egress) {
  std::string why;
  auto p = *ln::policy::make(ln::policy::mode::open, {}, {}, &why);
  EXPECT_EQ(p.check_address(*ln::address::parse("10.0.0.1"), 80), "");
  EXPECT_EQ(p.check_address(*ln::address::parse("8.8.8.8"), 53), "");
  EXPECT_NE(p.check_address(*ln::address::parse("127.0.0.53"), 53), "");
  EXPECT_NE(p.check_address(*ln::address::parse("::1"), 80), "");
  EXPECT_NE(p.check_address(*ln::address::parse("169.254.169.254"), 80), "");
  auto b = *ln::policy::make(ln::policy::mode::blocked, {}, {}, &why);
  EXPECT_FALSE(b.allows_name("a.test", 80));
  EXPECT_NE(b.check_address(*ln::address::parse("8.8.8.8"), 53), "");
}

TEST(net_policy, malformed_entries_are_rejected_with_a_reason) {
  std::string why;
  for (std::string bad : {"*bad.test", "a.*.test", "host:0", "host:70000", "a..b", "", "[::1", "x y"})
    EXPECT_FALSE(ln::policy::make(ln::policy::mode::allow, {bad}, {}, &why)) << bad;
  EXPECT_FALSE(ln::policy::make(ln::policy::mode::allow, {}, {"10.0.0.0/33"}, &why));
  EXPECT_FALSE(ln::policy::make(ln::policy::mode::allow, {}, {"nonsense"}, &why));
  EXPECT_FALSE(why.empty());
}

// Feeds `in` to `f` in pieces of every size from 1 to 7 and checks the result is the same.
template <class F>
std::string chunked(std::string const& in, std::size_t step, F&& f) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += step) f(std::string_view(in).substr(i, step), out);
  return out;
}

TEST(net_http, rewriter_replaces_in_every_request_head_and_never_in_bodies) {
  std::string ph = "SBX_SECRET_abc";
  std::string in =
      "GET /?k=SBX_SECRET_abc HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer SBX_SECRET_abc\r\n\r\n"
      "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 14\r\nX-Key: SBX_SECRET_abc\r\n\r\nSBX_SECRET_abc"
      "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\ne\r\nSBX_SECRET_abc\r\n0\r\n\r\n"
      "GET /last HTTP/1.1\r\nX-Last: SBX_SECRET_abc\r\n\r\n";
  std::string want =
      "GET /?k=REAL HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer REAL\r\n\r\n"
      "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 14\r\nX-Key: REAL\r\n\r\nSBX_SECRET_abc"
      "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\ne\r\nSBX_SECRET_abc\r\n0\r\n\r\n"
      "GET /last HTTP/1.1\r\nX-Last: REAL\r\n\r\n";
  for (std::size_t step : {1, 2, 3, 5, 7, 64, 4096}) {
    ln::request_rewriter rw(ln::substitutions{{ph, "REAL"}});
    EXPECT_EQ(chunked(in, step, [&](std::string_view p, std::string& o) { rw.feed(p, o); }), want) << step;
    EXPECT_EQ(rw.requests(), 4);
    EXPECT_EQ(rw.replaced(), 4);
  }
}

TEST(net_http, scrubber_replaces_values_split_across_reads) {
  std::string in = "a sk-REAL-123 b sk-REAL-123sk-REAL-123 sk-REAL-12";
  for (std::size_t step : {1, 2, 3, 4, 11, 100}) {
    ln::stream_replacer r(ln::substitutions{{"sk-REAL-123", "PH"}});
    std::string out = chunked(in, step, [&](std::string_view p, std::string& o) { r.feed(p, o); });
    r.flush(out);
    EXPECT_EQ(out, "a PH b PHPH sk-REAL-12") << step;
  }
}

TEST(net_http, sni_and_host_are_read_from_a_first_flight) {
  // A real ClientHello prefix for "api.test" (built by hand: record, handshake, SNI ext).
  std::string name = "api.test";
  std::string sni_ext;
  sni_ext += std::string("\x00\x00", 2);
  std::uint16_t list_len = static_cast<std::uint16_t>(name.size() + 3);
  std::uint16_t ext_len = static_cast<std::uint16_t>(list_len + 2);
  sni_ext += static_cast<char>(ext_len >> 8); sni_ext += static_cast<char>(ext_len);
  sni_ext += static_cast<char>(list_len >> 8); sni_ext += static_cast<char>(list_len);
  sni_ext += '\0';
  sni_ext += static_cast<char>(name.size() >> 8); sni_ext += static_cast<char>(name.size());
  sni_ext += name;
  std::string body;
  body += "\x03\x03"; body += std::string(32, 'r'); body += '\0';       // version, random, no session id
  body += std::string("\x00\x02\x13\x01", 4); body += std::string("\x01\x00", 2);  // one suite, null compression
  body += static_cast<char>(sni_ext.size() >> 8); body += static_cast<char>(sni_ext.size()); body += sni_ext;
  std::string hs = "\x01"; hs += '\0'; hs += static_cast<char>(body.size() >> 8); hs += static_cast<char>(body.size()); hs += body;
  std::string rec = "\x16\x03\x01"; rec += static_cast<char>(hs.size() >> 8); rec += static_cast<char>(hs.size()); rec += hs;
  EXPECT_EQ(ln::tls_sni(rec), "api.test");
  bool more = false;
  EXPECT_EQ(ln::tls_sni(rec.substr(0, 20), &more), "");
  EXPECT_TRUE(more);
  EXPECT_EQ(ln::http_host("GET / HTTP/1.1\r\nhost: a.test:8080\r\n\r\n"), "a.test");
  EXPECT_EQ(ln::http_host("GET / HTTP/1.1\r\nHost: [fd00::1]:80\r\n\r\n"), "fd00::1");
  EXPECT_EQ(ln::http_host("GET / HTTP/1.1\r\nHost: a", &more), "");
  EXPECT_TRUE(more);
}

}  // namespace
