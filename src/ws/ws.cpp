// SPDX-License-Identifier: Apache-2.0
#include "ws/ws.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <atomic>
#include <cctype>
#include <deque>
#include <iterator>
#include <future>
#include <mutex>
#include <thread>

namespace sbx::ws {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using plain_ws = websocket::stream<beast::tcp_stream>;
using tls_ws = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

namespace {

std::atomic<int> io_threads{0};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct parsed_url {
  bool tls = false;
  std::string host;  ///< without brackets
  std::string port;
  std::string host_header;
  std::string target;
};

std::optional<parsed_url> parse_url(std::string_view url) {
  parsed_url u;
  if (url.starts_with("wss://")) {
    u.tls = true;
    url.remove_prefix(6);
  } else if (url.starts_with("ws://")) {
    url.remove_prefix(5);
  } else {
    return std::nullopt;
  }
  auto slash = url.find_first_of("/?");
  std::string_view authority = url.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (u.target.front() == '?') u.target.insert(0, "/");
  if (authority.empty()) return std::nullopt;
  u.host_header = std::string(authority);
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    auto rest = authority.substr(close + 1);
    if (rest.starts_with(":")) u.port = std::string(rest.substr(1));
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      u.host = std::string(authority.substr(0, colon));
      u.port = std::string(authority.substr(colon + 1));
    } else {
      u.host = std::string(authority);
    }
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  return u;
}

}  // namespace

std::optional<std::string> upgrade_response::header(std::string_view name) const {
  for (auto const& [k, v] : headers)
    if (k == name) return v;
  return std::nullopt;
}

struct connection::impl : std::enable_shared_from_this<connection::impl> {
  options opt;
  handlers hs;
  parsed_url url;
  net::io_context ioc{1};
  net::ssl::context ssl_ctx{net::ssl::context::tls_client};
  std::unique_ptr<plain_ws> plain;
  std::unique_ptr<tls_ws> tls;
  tcp::resolver resolver{ioc};
  net::steady_timer ping_timer{ioc};
  net::steady_timer close_timer{ioc};
  beast::flat_buffer rx;
  std::deque<std::string> tx;
  bool writing = false;
  bool close_requested = false;
  bool ended = false;                 // I/O thread only
  std::atomic<bool> open_flag{false};
  std::chrono::steady_clock::time_point last_rx;
  bool received_any = false;
  std::thread thread;
  std::mutex join_mutex;
  websocket::response_type upgrade;
  std::promise<beast::error_code> handshake_done;

  template <class F>
  void with_ws(F&& f) {
    if (tls) f(*tls);
    else f(*plain);
  }
  beast::tcp_stream& lowest() {
    if (tls) return beast::get_lowest_layer(*tls);
    return beast::get_lowest_layer(*plain);
  }

  void start() {
    auto self = shared_from_this();
    lowest().expires_after(opt.handshake_timeout);
    resolver.async_resolve(url.host, url.port, [self](beast::error_code ec, tcp::resolver::results_type rs) {
      if (ec) return self->handshake_done.set_value(ec);
      self->lowest().async_connect(rs, [self](beast::error_code ec, tcp::endpoint) {
        if (ec) return self->handshake_done.set_value(ec);
        // Requests are small and latency-bound: no Nagle delay.
        beast::error_code ignored;
        self->lowest().socket().set_option(tcp::no_delay(true), ignored);
        if (self->tls) {
          if (!SSL_set_tlsext_host_name(self->tls->next_layer().native_handle(), self->url.host.c_str()))
            return self->handshake_done.set_value(beast::error_code(static_cast<int>(::ERR_get_error()),
                                                                    net::error::get_ssl_category()));
          self->tls->next_layer().async_handshake(net::ssl::stream_base::client, [self](beast::error_code ec) {
            if (ec) return self->handshake_done.set_value(ec);
            self->upgrade_step();
          });
        } else {
          self->upgrade_step();
        }
      });
    });
  }

  void upgrade_step() {
    auto self = shared_from_this();
    with_ws([&](auto& ws) {
      ws.set_option(websocket::stream_base::decorator([h = opt.headers](websocket::request_type& req) {
        req.set(beast::http::field::user_agent, "sbx");
        for (auto const& [k, v] : h) req.set(k, v);
      }));
      ws.read_message_max(opt.max_message_bytes);
      ws.async_handshake(upgrade, url.host_header, url.target, [self](beast::error_code ec) {
        if (!ec) {
          self->lowest().expires_never();
          self->open_flag = true;
          self->last_rx = std::chrono::steady_clock::now();
          self->read_loop();
          self->arm_ping();
        }
        self->handshake_done.set_value(ec);
      });
    });
  }

  void read_loop() {
    auto self = shared_from_this();
    with_ws([&](auto& ws) {
      ws.async_read(rx, [self](beast::error_code ec, std::size_t) {
        if (ec) return self->on_read_error(ec);
        std::string msg = beast::buffers_to_string(self->rx.data());
        self->rx.consume(self->rx.size());
        self->last_rx = std::chrono::steady_clock::now();
        if (self->opt.liveness_text.empty() || msg == self->opt.liveness_text) self->received_any = true;
        if (self->hs.on_message) self->hs.on_message(std::move(msg));
        if (!self->ended) self->read_loop();
      });
    });
  }

  void on_read_error(beast::error_code ec) {
    close_info ci;
    if (ec == websocket::error::closed) {
      with_ws([&](auto& ws) {
        ci.code = static_cast<std::uint16_t>(ws.reason().code);
        ci.reason = std::string(ws.reason().reason.c_str());
      });
      ci.clean = true;
      ci.by_peer = !close_requested;
    } else {
      ci.reason = ec.message();
      ci.by_peer = !close_requested;
    }
    end(ci);
  }

  void arm_ping() {
    if (opt.ping_text.empty() && !opt.idle_timeout) return;
    auto self = shared_from_this();
    ping_timer.expires_after(opt.ping_interval);
    ping_timer.async_wait([self](beast::error_code ec) {
      if (ec || self->ended) return;
      if (self->opt.idle_timeout && self->received_any &&
          std::chrono::steady_clock::now() - self->last_rx > *self->opt.idle_timeout) {
        close_info ci;
        ci.by_peer = true;
        ci.reason = "no data from the server for " + std::to_string(self->opt.idle_timeout->count()) + " ms";
        return self->end(ci);
      }
      if (!self->opt.ping_text.empty() && !self->close_requested) self->queue(self->opt.ping_text);
      self->arm_ping();
    });
  }

  void queue(std::string s) {
    if (ended || close_requested) return;
    tx.push_back(std::move(s));
    if (!writing) write_next();
  }

  void write_next() {
    if (tx.empty() || ended) {
      writing = false;
      return;
    }
    writing = true;
    auto self = shared_from_this();
    with_ws([&](auto& ws) {
      ws.text(true);
      ws.async_write(net::buffer(tx.front()), [self](beast::error_code ec, std::size_t) {
        // end() keeps the frame being written (its buffer is in use until now) and drops
        // the rest; this is the one place that pops it.
        if (!self->tx.empty()) self->tx.pop_front();
        if (ec) {
          self->writing = false;
          close_info ci;
          ci.by_peer = !self->close_requested;
          ci.reason = "write failed: " + ec.message();
          return self->end(ci);
        }
        self->write_next();
      });
    });
  }

  void begin_close(std::uint16_t code, std::string reason, std::chrono::milliseconds wait) {
    if (ended || close_requested) return;
    close_requested = true;
    auto self = shared_from_this();
    websocket::close_reason cr;
    if (code != 0) {
      cr.code = code;
      cr.reason = reason;
    }
    with_ws([&](auto& ws) {
      ws.async_close(cr, [self](beast::error_code ec) {
        if (ec && !self->ended) {
          close_info ci;
          ci.reason = ec.message();
          self->end(ci);
        }
        // On success the pending read completes with `closed` and ends the connection.
      });
    });
    close_timer.expires_after(wait);
    close_timer.async_wait([self](beast::error_code ec) {
      if (ec || self->ended) return;
      close_info ci;
      ci.reason = "close handshake timed out";
      self->end(ci);
    });
  }

  void end(close_info const& ci) {
    if (ended) return;
    ended = true;
    open_flag = false;
    ping_timer.cancel();
    close_timer.cancel();
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().socket().close(ignored);
    // A write in flight still reads tx.front(): keep it until its handler runs.
    if (writing && !tx.empty()) tx.erase(std::next(tx.begin()), tx.end());
    else tx.clear();
    if (hs.on_close) hs.on_close(ci);
    // Drop the handlers: they may hold references that keep their owner alive.
    hs = {};
  }

  void join() {
    std::lock_guard lk(join_mutex);
    if (thread.joinable()) {
      if (thread.get_id() == std::this_thread::get_id()) thread.detach();
      else thread.join();
    }
  }
};

result<std::unique_ptr<connection>> connection::open(options o, handlers h, upgrade_response& out) {
  out = {};
  auto u = parse_url(o.url);
  if (!u) return make_error(error_kind::invalid_request, "not a ws:// or wss:// URL: " + o.url);
  auto i = std::make_shared<impl>();
  i->opt = std::move(o);
  i->hs = std::move(h);
  i->url = *u;
  if (u->tls) {
    i->ssl_ctx.set_default_verify_paths();
    if (!i->opt.ca_file.empty()) i->ssl_ctx.load_verify_file(i->opt.ca_file);
    i->ssl_ctx.set_verify_mode(i->opt.verify_peer ? net::ssl::verify_peer : net::ssl::verify_none);
    i->tls = std::make_unique<tls_ws>(i->ioc, i->ssl_ctx);
    if (i->opt.verify_peer) i->tls->next_layer().set_verify_callback(net::ssl::host_name_verification(u->host));
  } else {
    i->plain = std::make_unique<plain_ws>(i->ioc);
  }
  auto done = i->handshake_done.get_future();
  net::post(i->ioc, [i] { i->start(); });
  ++io_threads;
  i->thread = std::thread([i] {
    i->ioc.run();
    --io_threads;
  });

  // The handshake has its own expiry; this outer wait only guards against a bug there.
  if (done.wait_for(i->opt.handshake_timeout + std::chrono::seconds(2)) != std::future_status::ready) {
    net::post(i->ioc, [i] { close_info ci; i->end(ci); });
    i->ioc.stop();
    i->join();
    return make_error(error_kind::timeout, "WebSocket handshake with " + i->url.host_header + " did not finish in time");
  }
  beast::error_code ec = done.get();
  // A response was read when the handshake succeeded or failed on the websocket level (a
  // non-101 status, bad upgrade headers); transport and parse errors leave none.
  bool got_response = !ec || ec.category() == websocket::make_error_code(websocket::error::upgrade_declined).category();
  if (got_response) {
    out.status = i->upgrade.result_int();
    for (auto const& f : i->upgrade)
      out.headers.emplace_back(lower(std::string_view(f.name_string().data(), f.name_string().size())), std::string(f.value()));
    out.body = i->upgrade.body();
  }
  if (ec) {
    net::post(i->ioc, [i] { close_info ci; ci.reason = "handshake failed"; i->hs = {}; i->end(ci); });
    i->join();
    std::string where = i->url.host_header + i->url.target.substr(0, i->url.target.find('?'));
    if (ec == websocket::error::upgrade_declined || (out.status != 0 && out.status != 101)) {
      return make_error(error_kind::connection,
                        error_detail{.message = "WebSocket upgrade to " + where + " answered " + std::to_string(out.status)},
                        static_cast<std::uint16_t>(out.status));
    }
    bool timed_out = ec == beast::error::timeout || ec == net::error::timed_out;
    return make_error(timed_out ? error_kind::timeout : error_kind::connection,
                      "WebSocket connection to " + where + " failed: " + ec.message());
  }
  return std::unique_ptr<connection>(new connection(std::move(i)));
}

connection::~connection() { close(); }

bool connection::send(std::string text) {
  if (!impl_->open_flag) return false;
  auto i = impl_;
  // Handlers posted from outside hold `impl` weakly: one left queued after the I/O thread
  // ended must not keep `impl` (which owns the io_context holding it) alive.
  net::post(i->ioc, [w = std::weak_ptr(i), t = std::move(text)]() mutable {
    if (auto p = w.lock()) p->queue(std::move(t));
  });
  return true;
}

void connection::close(std::uint16_t code, std::string reason, std::chrono::milliseconds wait) {
  auto i = impl_;
  // Already joined: nothing runs the io_context any more, and a handler posted now would
  // hold `impl` forever.
  if (!i->thread.joinable()) return;
  if (i->thread.get_id() == std::this_thread::get_id()) {
    // Called from a handler: the thread cannot join itself. It owns a reference to `impl`
    // and ends once the close completes.
    close_async(code, std::move(reason));
    i->join();
    return;
  }
  net::post(i->ioc, [w = std::weak_ptr(i), code, r = std::move(reason), wait]() mutable {
    if (auto p = w.lock()) p->begin_close(code, std::move(r), wait);
  });
  i->join();
}

void connection::close_async(std::uint16_t code, std::string reason) {
  auto i = impl_;
  if (!i->thread.joinable()) return;
  net::post(i->ioc, [w = std::weak_ptr(i), code, r = std::move(reason)]() mutable {
    if (auto p = w.lock()) p->begin_close(code, std::move(r), std::chrono::milliseconds(2000));
  });
}

bool connection::is_open() const noexcept { return impl_->open_flag; }

int live_io_threads() noexcept { return io_threads.load(); }

}  // namespace sbx::ws
