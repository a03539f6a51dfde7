// SPDX-License-Identifier: Apache-2.0
#pragma once

// The engine's shared state and the pieces of sbx-netd (one process per sandbox that has
// a network policy other than a plain empty netns): the CONNECT / forward proxy
// (proxy.cpp), the transparent port for clients that ignore proxy variables
// (transparent.cpp), the DNS stub (dns.cpp), the relay (relay.cpp), the denial log
// (events.cpp). All sockets the sandbox talks to are created inside its network namespace;
// everything else runs in the host's.

#include "http.hpp"
#include "policy.hpp"
#include "tls.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sbx::local_net {

inline constexpr std::uint16_t proxy_port = 3128;
inline constexpr std::uint16_t transparent_port = 3129;

struct secret_binding {
  std::string placeholder, value;
  std::vector<host_pattern> hosts;
};

/// What a connection may do, decided once when it starts.
struct verdict {
  bool allowed = false;
  std::string reason;                ///< why not (for the event and the 403 body)
  std::vector<address> addrs;        ///< where to connect, in order
  substitutions secrets;             ///< placeholder -> value for this host (empty: no interception)
};

struct engine {
  std::string dir, id;
  std::mutex mu;
  std::shared_ptr<const policy> pol;
  std::vector<secret_binding> secrets;
  std::map<std::string, std::vector<address>> resolve_override;  ///< test-only
  bool host_dns = true;                                           ///< false: test-only, never ask the host's resolver
  std::unique_ptr<authority> ca;
  ssl_ctx_ptr upstream;
  std::atomic<std::uint64_t> connections{0}, denials{0};

  std::shared_ptr<const policy> current() {
    std::lock_guard lk(mu);
    return pol;
  }
  void set_policy(std::shared_ptr<const policy> p) {
    std::lock_guard lk(mu);
    pol = std::move(p);
  }

  /// The synthetic address the DNS stub hands out for `name` (198.18.0.0/15), stable.
  address fake_for(std::string const& name);
  /// The name behind a synthetic address, if it is one we handed out.
  std::optional<std::string> name_for(address const& a);

  /// Decides a connection to `host` (a name or an IP literal) on `port`.
  verdict decide(std::string const& host, std::uint16_t port);
  /// Placeholder -> value pairs for `host` ("" pairs: none bound).
  substitutions secrets_for(std::string const& host, std::uint16_t port) const;
  /// value -> placeholder, for scrubbing responses.
  substitutions scrub_for(substitutions const& s) const;

  /// Appends a `network_policy_denied` event and a log line.
  void deny_event(std::string const& host, std::uint16_t port, std::string const& reason, char const* via);
  void log(std::string const& line);

 private:
  std::mutex fake_mu_;
  std::map<std::string, address> fake_by_name_;
  std::map<std::uint32_t, std::string> name_by_fake_;
  std::uint32_t next_fake_ = (198u << 24) | (18u << 16) | 10u;
  std::mutex log_mu_;
  std::vector<address> host_addrs_;
  std::int64_t host_addrs_at_ = 0;
  bool is_host_address(address const& a);
};

/// A TCP connection to one of `addrs` on `port` from the host's netns (10 s per address).
/// Returns the fd or -1 with `why`.
int connect_any(std::vector<address> const& addrs, std::uint16_t port, std::string* why);

/// One side of a relayed connection: a plain socket or TLS over it.
struct endpoint {
  int fd = -1;
  SSL* ssl = nullptr;
  bool eof = false, shut = false, want_write = false;
  long rd(char* b, std::size_t n);
  long wr(char const* b, std::size_t n);
  void shutdown_write();
  void close();
};

/// A byte transformation of one direction (identity, request rewriter, response scrubber).
struct transform {
  request_rewriter* req = nullptr;
  stream_replacer* rep = nullptr;
  void feed(std::string_view in, std::string& out) {
    if (req) req->feed(in, out);
    else if (rep) rep->feed(in, out);
    else out.append(in);
  }
  void flush(std::string& out) { if (rep) rep->flush(out); }
  bool holding() const { return rep && rep->holding(); }
};

/// Copies both ways until both sides are done (or one fails, or 10 minutes idle).
/// Returns bytes sent to the client.
std::uint64_t relay(endpoint& client, endpoint& up, transform c2u, transform u2c);

/// Serves an intercepted connection for `host`: TLS with a leaf from the sandbox CA when
/// the client speaks TLS (verified TLS upstream), plain HTTP otherwise; placeholders of
/// `v.secrets` replaced in every request head, real values scrubbed from responses.
void intercept(engine& e, int client_fd, int up_fd, std::string const& host, verdict const& v);

void serve_proxy_client(engine& e, int fd);
void serve_transparent_client(engine& e, int fd);
void serve_dns_udp(engine& e, int fd);
void serve_dns_tcp_client(engine& e, int fd);

/// Sets O_NONBLOCK on or off.
void set_nonblock(int fd, bool on);
/// Reads (with MSG_PEEK semantics when `peek`) until `done(data)` says enough or `timeout_ms`.
std::string peek_until(int fd, int timeout_ms, std::size_t max, bool (*done)(std::string_view));

}  // namespace sbx::local_net
