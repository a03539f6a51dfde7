// SPDX-License-Identifier: Apache-2.0
// sbx-net-testserver: the upstreams of the network tests and benchmarks, run inside a
// network namespace the test creates (never on a routable address).
//
//   sbx-net-testserver DIR NAMES LISTEN...
//     DIR     gets ca.pem (the test CA), requests.log (every request head received, in
//             order) and ready (once every listener is bound)
//     NAMES   comma-separated DNS names and IPs the HTTPS certificate is valid for
//     LISTEN  http:ADDR:PORT | https:ADDR:PORT | banner:ADDR:PORT | udp:ADDR:PORT
//             (ADDR of IPv6 in brackets)
//
// HTTP(S): GET /echo answers with the request head it received; GET /bytes/N with N bytes;
// anything else with "hello from SCHEME ADDR:PORT". banner: writes "banner ADDR:PORT\n" and
// echoes. udp: echoes datagrams.
#include "policy.hpp"
#include "tls.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ln = sbx::local_net;

namespace {

std::string dir;
std::mutex log_mu;
SSL_CTX* server_ctx = nullptr;

struct conn {
  int fd;
  SSL* ssl = nullptr;
  long rd(char* b, std::size_t n) { return ssl ? SSL_read(ssl, b, static_cast<int>(n)) : ::recv(fd, b, n, 0); }
  bool wr(std::string_view s) {
    while (!s.empty()) {
      long n = ssl ? SSL_write(ssl, s.data(), static_cast<int>(std::min<std::size_t>(s.size(), 1 << 20)))
                   : ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
};

void serve_http(int fd, bool tls, std::string const& where) {
  conn c{fd};
  if (tls) {
    c.ssl = SSL_new(server_ctx);
    SSL_set_fd(c.ssl, fd);
    if (SSL_accept(c.ssl) != 1) {
      SSL_free(c.ssl);
      ::close(fd);
      return;
    }
  }
  std::string buf;
  char tmp[65536];
  for (;;) {
    std::size_t e;
    while ((e = buf.find("\r\n\r\n")) == std::string::npos) {
      long n = c.rd(tmp, sizeof tmp);
      if (n <= 0) goto done;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    {
      std::string head = buf.substr(0, e + 4);
      buf.erase(0, e + 4);
      {
        std::lock_guard lk(log_mu);
        std::ofstream(dir + "/requests.log", std::ios::app) << "=== " << (tls ? "https " : "http ") << where << "\n" << head;
      }
      std::string lower = head;
      for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (auto cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
        std::size_t len = std::stoull(lower.substr(cl + 17));
        while (buf.size() < len) {
          long n = c.rd(tmp, sizeof tmp);
          if (n <= 0) goto done;
          buf.append(tmp, static_cast<std::size_t>(n));
        }
        buf.erase(0, len);
      }
      bool close = lower.find("\r\nconnection: close") != std::string::npos;
      std::string path = head.substr(head.find(' ') + 1);
      path = path.substr(0, path.find(' '));
      std::string body;
      std::size_t big = 0;
      if (path == "/echo") body = head;
      else if (path.rfind("/bytes/", 0) == 0) big = std::stoull(path.substr(7));
      else body = "hello from " + std::string(tls ? "https " : "http ") + where + "\n";
      std::size_t len = big ? big : body.size();
      std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(len) +
                         (close ? "\r\nConnection: close" : "") + "\r\n\r\n";
      if (!c.wr(resp)) goto done;
      if (big) {
        static const std::string chunk(1 << 20, 'x');
        while (big) {
          std::size_t n = std::min(big, chunk.size());
          if (!c.wr(std::string_view(chunk.data(), n))) goto done;
          big -= n;
        }
      } else if (!c.wr(body)) {
        goto done;
      }
      if (close) goto done;
    }
  }
done:
  if (c.ssl) {
    SSL_shutdown(c.ssl);
    SSL_free(c.ssl);
  }
  ::close(fd);
}

void serve_banner(int fd, std::string const& where) {
  std::string b = "banner " + where + "\n";
  (void)!::send(fd, b.data(), b.size(), MSG_NOSIGNAL);
  char tmp[4096];
  long n;
  while ((n = ::recv(fd, tmp, sizeof tmp, 0)) > 0) (void)!::send(fd, tmp, static_cast<std::size_t>(n), MSG_NOSIGNAL);
  ::close(fd);
}

int make_socket(std::string const& addr, std::uint16_t port, int type, sockaddr_storage& ss, socklen_t& len) {
  auto a = ln::address::parse(addr);
  if (!a) return -1;
  ss = {};
  if (a->v6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(&s->sin6_addr, a->b.data(), 16);
    len = sizeof *s;
  } else {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    std::memcpy(&s->sin_addr, a->b.data(), 4);
    len = sizeof *s;
  }
  int fd = ::socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a->v6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    std::cerr << "bind " << addr << ":" << port << ": " << std::strerror(errno) << "\n";
    ::exit(1);
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: sbx-net-testserver DIR NAMES LISTEN...\n";
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  dir = argv[1];
  std::string names = argv[2];
  auto ca_key = ln::make_key();
  auto ca = ln::make_cert(ca_key.get(), "sbx network tests CA", "", nullptr, nullptr, true, 30);
  auto key = ln::make_key();
  auto leaf = ln::make_cert(key.get(), "sbx network test server", names, ca.get(), ca_key.get(), false, 30);
  server_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate(server_ctx, leaf.get());
  SSL_CTX_use_PrivateKey(server_ctx, key.get());
  std::ofstream(dir + "/ca.pem") << ln::to_pem(ca.get());
  std::vector<std::thread> threads;
  for (int i = 3; i < argc; ++i) {
    std::string spec = argv[i];
    auto c1 = spec.find(':');
    std::string kind = spec.substr(0, c1);
    std::string rest = spec.substr(c1 + 1);
    std::string host;
    std::uint16_t port;
    if (!ln::split_host_port(rest, host, port) || port == 0) {
      std::cerr << "bad listen spec " << spec << "\n";
      return 2;
    }
    sockaddr_storage ss;
    socklen_t len;
    std::string where = rest;
    if (kind == "udp") {
      int fd = make_socket(host, port, SOCK_DGRAM, ss, len);
      threads.emplace_back([fd] {
        char b[2048];
        for (;;) {
          sockaddr_storage from;
          socklen_t fl = sizeof from;
          long n = ::recvfrom(fd, b, sizeof b, 0, reinterpret_cast<sockaddr*>(&from), &fl);
          if (n > 0) ::sendto(fd, b, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), fl);
        }
      });
      continue;
    }
    int fd = make_socket(host, port, SOCK_STREAM, ss, len);
    ::listen(fd, 1024);
    threads.emplace_back([fd, kind, where] {
      for (;;) {
        int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        if (kind == "banner") std::thread(serve_banner, c, where).detach();
        else std::thread(serve_http, c, kind == "https", where).detach();
      }
    });
  }
  std::ofstream(dir + "/ready") << "ok\n";
  for (auto& t : threads) t.join();
}
