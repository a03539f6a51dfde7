// SPDX-License-Identifier: Apache-2.0
// The network side of `sbx serve --dialect deno`: Boost.Beast HTTP and WebSocket on one port.
// Every Beast use of the server is in this file (it is the heavy translation unit).

#include <sbx/server/deno.hpp>

#include "backend.hpp"
#include "protocol.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <deque>
#include <iostream>
#include <stdexcept>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <pthread.h>

namespace sbx::server {

namespace {
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using deno_impl::backend;

constexpr std::size_t max_frame = std::size_t{128} << 20;
constexpr std::size_t max_body = std::size_t{256} << 20;

struct listen_address { std::string host; std::uint16_t port = 0; };

listen_address parse_listen(std::string const& s) {
  listen_address a;
  auto colon = s.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error(fmt::format("--listen \"{}\" is not HOST:PORT", s));
  a.host = s.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  try {
    auto p = std::stoul(s.substr(colon + 1));
    if (p > 65535) throw std::out_of_range("port");
    a.port = static_cast<std::uint16_t>(p);
  } catch (std::exception const&) {
    throw std::runtime_error(fmt::format("--listen \"{}\": bad port", s));
  }
  return a;
}

http::response<http::string_body> make_response(deno_impl::http_reply const& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "sbx-serve-deno");
  res.set(http::field::content_type, r.content_type);
  for (auto const& [k, v] : r.headers) res.set(k, v);
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

/// One accepted WebSocket.
class ws_session : public deno_impl::peer, public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(beast::tcp_stream&& s, backend& be, std::shared_ptr<deno_impl::connection> c)
      : ws_(std::move(s)), be_(be), conn_(std::move(c)) {}

  void accept(http::request<http::string_body> req, std::string sandbox_id) {
    req_ = std::move(req);
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator([id = std::move(sandbox_id)](websocket::response_type& res) {
      res.set(http::field::server, "sbx-serve-deno");
      res.set("x-deno-sandbox-id", id);
    }));
    ws_.read_message_max(max_frame);
    ws_.async_accept(req_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) { self->be_.on_closed(self->conn_); return; }
      self->be_.bind(self->conn_, self);
      self->read();
    });
  }

  void send(std::string text) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), t = std::move(text)]() mutable {
      if (self->closing_ || self->dead_) return;
      self->queue_.push_back(std::move(t));
      if (!self->writing_) self->write();
    });
  }
  void close(int code, std::string reason) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)] {
      if (self->closing_ || self->dead_) return;
      self->closing_ = true;
      self->close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
      if (!self->writing_) self->do_close();
    });
  }
  void drop() override {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      self->dead_ = true;
      beast::error_code ec;
      auto& sock = beast::get_lowest_layer(self->ws_).socket();
      sock.shutdown(tcp::socket::shutdown_both, ec);
      sock.close(ec);
    });
  }

 private:
  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->dead_ = true;
        self->be_.on_closed(self->conn_);
        return;
      }
      auto text = beast::buffers_to_string(self->buf_.data());
      self->buf_.consume(self->buf_.size());
      self->be_.on_message(self->conn_, text);
      self->read();
    });
  }
  void write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->queue_.pop_front();
      if (ec) { self->dead_ = true; self->writing_ = false; self->queue_.clear(); return; }
      if (!self->queue_.empty() && !self->dead_) return self->write();
      self->writing_ = false;
      if (self->closing_) self->do_close();
    });
  }
  void do_close() {
    if (dead_) return;
    // Flush what was queued before the close (e.g. a reply), then close.
    if (!queue_.empty()) { write(); return; }
    ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {
      self->dead_ = true;
      beast::error_code ec;
      beast::get_lowest_layer(self->ws_).socket().close(ec);
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  backend& be_;
  std::shared_ptr<deno_impl::connection> conn_;
  http::request<http::string_body> req_;
  beast::flat_buffer buf_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool closing_ = false;
  bool dead_ = false;
  websocket::close_reason close_reason_;
};

/// Forwards a request for an exposed domain to the sandbox port behind it (its loopback URL).
deno_impl::http_reply proxy(std::string const& url, http::request<http::string_body> req) {
  auto rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  auto colon = hostport.rfind(':');
  std::string host = hostport.substr(0, colon);
  std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  try {
    net::io_context ioc;
    tcp::resolver res(ioc);
    beast::tcp_stream s(ioc);
    s.expires_after(std::chrono::seconds(60));
    s.connect(res.resolve(host, port));
    req.set(http::field::host, hostport);
    req.keep_alive(false);
    req.prepare_payload();
    http::write(s, req);
    beast::flat_buffer b;
    http::response_parser<http::string_body> p;
    p.body_limit(max_body);
    http::read(s, b, p);
    auto up = p.release();
    deno_impl::http_reply r;
    r.status = static_cast<int>(up.result_int());
    r.body = std::move(up.body());
    r.content_type = std::string(up[http::field::content_type]);
    for (auto const& f : up) {
      auto name = std::string(f.name_string());
      if (beast::iequals(name, "content-type") || beast::iequals(name, "content-length") ||
          beast::iequals(name, "connection") || beast::iequals(name, "transfer-encoding") || beast::iequals(name, "keep-alive"))
        continue;
      r.headers.emplace_back(name, std::string(f.value()));
    }
    return r;
  } catch (std::exception const& e) {
    return {502, deno_proto::error_body("BAD_GATEWAY", fmt::format("the sandbox port did not answer: {}", e.what())),
            "application/json", {}};
  }
}

}  // namespace

struct deno_server::impl {
  serve_options opt;
  std::shared_ptr<deno_impl::fault_state> faults;
  std::unique_ptr<backend> be;
  net::io_context ioc{1};
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  bool started = false;
  bool stopped = false;

  // Blocking work runs on threads of its own; stop() waits for every one of them, because
  // they reach `be` and the sessions, which must outlive them (a detached thread still
  // proxying an exposed port when the server went away freed memory twice).
  std::mutex work_m;
  std::condition_variable work_cv;
  int work = 0;
  template <class F>
  void detached(F f) {
    { std::lock_guard l(work_m); ++work; }
    std::thread([this, f = std::move(f)]() mutable {
      f();
      std::lock_guard l(work_m);
      --work;
      work_cv.notify_all();
    }).detach();
  }
  void wait_for_work() {
    std::unique_lock l(work_m);
    while (!work_cv.wait_for(l, std::chrono::seconds(30), [this] { return work == 0; }))
      std::fprintf(stderr, "sbx serve: stopping: %d request thread(s) still running\n", work);
  }

  /// One HTTP connection; hands over to a ws_session on upgrade.
  class http_session : public std::enable_shared_from_this<http_session> {
   public:
    http_session(tcp::socket&& s, impl& srv) : stream_(std::move(s)), srv_(srv) {}
    void run() { read(); }

   private:
    void read() {
      parser_.emplace();
      parser_->header_limit(64 * 1024);
      parser_->body_limit(max_body);
      stream_.expires_after(std::chrono::seconds(300));
      http::async_read(stream_, buf_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) {
          if (ec == http::error::header_limit || ec == http::error::body_limit)
            self->respond({431, deno_proto::error_body("REQUEST_TOO_LARGE", ec.message()), "application/json", {}}, 11, false);
          else self->shutdown();
          return;
        }
        self->on_request(self->parser_->release());
      });
    }

    void on_request(http::request<http::string_body> req) {
      auto& be = *srv_.be;
      if (auto wait = srv_.faults->take_rate_limit()) {
        deno_impl::http_reply r{429, deno_proto::error_body("TOO_MANY_REQUESTS", "rate limited (injected fault)"), "application/json", {}};
        r.headers.emplace_back("Retry-After", std::to_string(*wait));
        return respond(r, req.version(), req.keep_alive() && !websocket::is_upgrade(req));
      }
      auto target = deno_proto::parse_target(std::string(req.target()));
      if (websocket::is_upgrade(req)) return upgrade(std::move(req), target.path);
      if (auto url = be.exposed_url(std::string(req[http::field::host]))) {
        return off_thread([self = shared_from_this(), u = *url, req = std::move(req)]() mutable {
          auto v = req.version();
          auto ka = req.keep_alive();
          return std::tuple{proxy(u, std::move(req)), v, ka};
        });
      }
      deno_impl::http_request r{std::string(req.method_string()), std::string(req.target()),
                                std::string(req[http::field::authorization]), std::string(req[http::field::host]),
                                std::move(req.body())};
      auto v = req.version();
      auto ka = req.keep_alive();
      off_thread([self = shared_from_this(), r = std::move(r), v, ka] {
        return std::tuple{self->srv_.be->handle_http(r), v, ka};
      });
    }

    /// Runs `f` (blocking work) on its own thread, then writes its reply from the strand.
    template <class F>
    void off_thread(F f) {
      srv_.detached([self = shared_from_this(), f = std::move(f)]() mutable {
        auto [reply, version, keep_alive] = f();
        net::post(self->stream_.get_executor(), [self, reply = std::move(reply), version = version, ka = keep_alive] {
          self->respond(reply, version, ka);
        });
      });
    }

    void upgrade(http::request<http::string_body> req, std::string const& path) {
      auto& be = *srv_.be;
      std::string connect_id;
      bool create = path == "/api/v3/sandboxes/create";
      if (!create) {
        constexpr std::string_view pre = "/api/v3/sandbox/", post = "/connect";
        if (path.size() > pre.size() + post.size() && path.compare(0, pre.size(), pre) == 0 &&
            path.compare(path.size() - post.size(), post.size(), post) == 0)
          connect_id = path.substr(pre.size(), path.size() - pre.size() - post.size());
        else
          return respond({404, deno_proto::error_body("NOT_FOUND", fmt::format("no WebSocket endpoint at {}", path)), "application/json", {}},
                         req.version(), false);
      }
      if (auto refused = be.check_auth(std::string(req[http::field::authorization])))
        return respond(*refused, req.version(), false);
      if (srv_.faults->take_handshake_failure())
        return respond({500, deno_proto::error_body("INTERNAL_SERVER_ERROR", "handshake failed (injected fault)"), "application/json", {}},
                       req.version(), false);
      srv_.detached([self = shared_from_this(), req = std::move(req), create, connect_id]() mutable {
        auto a = create ? self->srv_.be->create(std::string(req["x-deno-sandbox-config"])) : self->srv_.be->connect(connect_id);
        net::post(self->stream_.get_executor(), [self, req = std::move(req), a = std::move(a)]() mutable {
          if (a.refusal) return self->respond(*a.refusal, req.version(), false);
          auto ws = std::make_shared<ws_session>(std::move(self->stream_), *self->srv_.be, a.conn);
          ws->accept(std::move(req), a.sandbox_id);
        });
      });
    }

    void respond(deno_impl::http_reply const& r, unsigned version, bool keep_alive) {
      auto res = std::make_shared<http::response<http::string_body>>(make_response(r, version, keep_alive));
      http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
        if (ec || !keep_alive) return self->shutdown();
        self->read();
      });
    }

    void shutdown() {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    beast::tcp_stream stream_;
    impl& srv_;
    beast::flat_buffer buf_;
    std::optional<http::request_parser<http::string_body>> parser_;
  };

  void accept() {
    acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted) return;
      } else {
        s.set_option(tcp::no_delay(true), ec);
        std::make_shared<http_session>(std::move(s), *this)->run();
      }
      accept();
    });
  }
};

deno_server::deno_server(serve_options o) : impl_(std::make_unique<impl>()) {
  impl_->opt = std::move(o);
  impl_->faults = std::make_shared<deno_impl::fault_state>(impl_->opt.faults);
}

deno_server::~deno_server() { stop(); }

std::uint16_t deno_server::start() {
  auto& i = *impl_;
  if (i.started) return i.port;
  auto addr = parse_listen(i.opt.listen);
  beast::error_code ec;
  auto ip = net::ip::make_address(addr.host == "localhost" ? "127.0.0.1" : addr.host, ec);
  if (ec) throw std::runtime_error(fmt::format("--listen: \"{}\" is not an IP address", addr.host));
  tcp::endpoint ep{ip, addr.port};
  i.acceptor.emplace(i.ioc);
  i.acceptor->open(ep.protocol(), ec);
  if (!ec) i.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor->bind(ep, ec);
  if (!ec) i.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot listen on {}: {}", i.opt.listen, ec.message()));
  i.port = i.acceptor->local_endpoint().port();
  i.be = std::make_unique<backend>(i.opt, i.faults);
  i.accept();
  for (int n = 0; n < std::max(1, i.opt.io_threads); ++n) i.threads.emplace_back([&i] { i.ioc.run(); });
  i.started = true;
  return i.port;
}

void deno_server::stop() {
  auto& i = *impl_;
  if (!i.started || i.stopped) return;
  i.stopped = true;
  net::post(i.ioc, [&i] { beast::error_code ec; i.acceptor->close(ec); });
  i.be->stop();
  i.wait_for_work();
  // Let the close frames go out, then stop the loop.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  i.ioc.stop();
  for (auto& t : i.threads) t.join();
  i.threads.clear();
}

void deno_server::set_faults(fault_options f) { impl_->faults->set(std::move(f)); }
fault_options deno_server::faults() const { return impl_->faults->get(); }
std::uint16_t deno_server::port() const noexcept { return impl_->port; }

int serve_deno(serve_options const& o, std::function<void(std::uint16_t)> on_listening) {
  // Block the signals before any thread starts, so that only sigwait below receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  deno_server s(o);
  try {
    auto port = s.start();
    if (on_listening) on_listening(port);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "sbx serve: %s\n", e.what());
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  s.stop();
  return 0;
}

}  // namespace sbx::server
