// SPDX-License-Identifier: Apache-2.0
// sbx::deno against `sbx serve --dialect deno` with injected faults: each gives the
// documented error kind within the call's deadline, with no hang, no crash, no leaked thread.
#include "deno_support.hpp"
#include "internal.hpp"
#include "ws/ws.hpp"

#include <matchers.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

namespace sbx::test {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

struct deno_faults : testing::Test {
  void SetUp() override {
    SBX_REQUIRE_DENO_SERVER();
    deno_test_server()->set_faults({});
  }
  void TearDown() override {
    if (deno_test_server()) deno_test_server()->set_faults({});
  }
  static client<deno> make_client(std::function<void(deno::config&)> tweak = {}) {
    return client<deno>(deno_for_test_server([&](deno::config& c) {
      c.retry_backoff = 50ms;
      if (tweak) tweak(c);
    }));
  }
  static sandbox<deno> make(client<deno>& c, request<deno> const& r = {}) {
    auto b = c.create(r);
    if (!b) throw std::runtime_error("create failed: " + b.error().to_string());
    return std::move(b).value();
  }
  static server::fault_options faults() { return deno_test_server()->faults(); }
  static void inject(std::function<void(server::fault_options&)> f) {
    auto o = deno_test_server()->faults();
    f(o);
    deno_test_server()->set_faults(o);
  }
};

TEST_F(deno_faults, handshake_500_then_success_is_retried) {
  auto c = make_client();
  inject([](auto& f) { f.handshake_failures = 2; });
  auto box = c.create();
  ASSERT_THAT(box, succeeds());
  EXPECT_EQ(faults().handshake_failures, 0);
  EXPECT_THAT(box.value().exec({"true"}), succeeds());
}

TEST_F(deno_faults, handshake_500_is_retried_three_times_and_no_more) {
  auto c = make_client();
  inject([](auto& f) { f.handshake_failures = 10; });
  auto t0 = clock::now();
  auto box = c.create();
  ASSERT_THAT(box, fails_with(error_kind::connection));
  EXPECT_EQ(box.error().http_status(), 500);
  EXPECT_EQ(faults().handshake_failures, 10 - 4) << "one attempt and three retries";
  EXPECT_LT(clock::now() - t0, 5s);
}

TEST_F(deno_faults, handshake_429_is_quota_exceeded_with_retry_after_and_not_retried) {
  auto c = make_client();
  inject([](auto& f) {
    f.rate_limited = 1;
    f.rate_limit_retry_after_s = 2;
  });
  auto box = c.create();
  ASSERT_THAT(box, fails_with(error_kind::quota_exceeded));
  EXPECT_EQ(box.error().http_status(), 429);
  EXPECT_EQ(box.error().retry_after(), 2000ms);
  EXPECT_EQ(faults().rate_limited, 0);
  EXPECT_THAT(c.create(), succeeds());  // the fault was one reply, and nothing retried it silently
}

TEST_F(deno_faults, rest_429_is_quota_exceeded_with_retry_after) {
  auto c = make_client();
  inject([](auto& f) {
    f.rate_limited = 1;
    f.rate_limit_retry_after_s = 7;
  });
  auto l = c.list();
  ASSERT_THAT(l, fails_with(error_kind::quota_exceeded));
  EXPECT_EQ(l.error().retry_after(), 7000ms);
  EXPECT_THAT(c.list(), succeeds());
}

TEST_F(deno_faults, socket_dropped_mid_stream_is_connection_with_partial_output) {
  auto c = make_client();
  auto box = make(c);
  inject([](auto& f) { f.drop_after_stream_chunks = 3; });
  auto t0 = clock::now();
  auto r = box.exec(exec_request({"/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.2; done"})
                        .with_timeout(20s));
  ASSERT_THAT(r, fails_with(error_kind::connection));
  EXPECT_LT(clock::now() - t0, 10s);
  EXPECT_THAT(r.error().detail().partial_stdout, testing::StartsWith("1\n"));
  // The socket is gone: later calls say so at once, nothing reconnects silently.
  auto t1 = clock::now();
  EXPECT_THAT(box.exec({"true"}), fails_with(error_kind::connection));
  EXPECT_THAT(box.read_file("/etc/hostname"), fails_with(error_kind::connection));
  EXPECT_LT(clock::now() - t1, 1s);
}

TEST_F(deno_faults, malformed_json_is_internal_and_closes_the_session) {
  auto c = make_client();
  auto box = make(c);
  ASSERT_THAT(box.write_file("/tmp/f", "x"), succeeds());
  inject([](auto& f) { f.malformed_json_methods = {"readFile"}; });
  auto t0 = clock::now();
  EXPECT_THAT(box.read_file("/tmp/f"), fails_with(error_kind::internal));
  EXPECT_LT(clock::now() - t0, 5s);
  auto later = box.exec({"true"});
  ASSERT_FALSE(later);
  EXPECT_THAT(later.error().kind(), testing::AnyOf(error_kind::internal, error_kind::connection));
}

TEST_F(deno_faults, json_rpc_method_not_found_is_unsupported_and_the_session_survives) {
  auto c = make_client();
  auto box = make(c);
  inject([](auto& f) { f.method_not_found_methods = {"readDir"}; });
  EXPECT_THAT(box.list("/tmp"), fails_with(error_kind::unsupported));
  EXPECT_THAT(box.exec({"true"}), succeeds());
}

TEST_F(deno_faults, a_method_the_server_does_not_know_is_unsupported) {
  auto c = make_client();
  auto box = make(c);
  auto r = box.handle().session->call("noSuchMethodAnywhere", deno_impl::json::object());
  EXPECT_THAT(r, fails_with(error_kind::unsupported));
  EXPECT_THAT(box.exec({"true"}), succeeds());
}

TEST_F(deno_faults, a_server_that_stops_answering_a_method_times_out_at_the_deadline) {
  auto c = make_client([](deno::config& cfg) { cfg.request_timeout = 1500ms; });
  auto box = make(c);
  ASSERT_THAT(box.write_file("/tmp/f", "x"), succeeds());
  inject([](auto& f) { f.stop_answering_methods = {"readFile"}; });
  auto t0 = clock::now();
  EXPECT_THAT(box.read_file("/tmp/f"), fails_with(error_kind::timeout));
  auto took = clock::now() - t0;
  EXPECT_GE(took, 1400ms);
  EXPECT_LT(took, 4s);
  EXPECT_THAT(box.exec({"true"}), succeeds());  // the rest of the session still works
}

TEST_F(deno_faults, exec_deadline_holds_when_the_server_stops_answering) {
  auto c = make_client();
  auto box = make(c);
  inject([](auto& f) { f.stop_answering_methods = {"processWait"}; });
  auto t0 = clock::now();
  EXPECT_THAT(box.exec(exec_request({"true"}).with_timeout(1500ms)), fails_with(error_kind::timeout));
  EXPECT_LT(clock::now() - t0, 5s);
}

TEST_F(deno_faults, exec_deadline_holds_when_the_server_answers_nothing_but_pings) {
  auto c = make_client();
  auto box = make(c);
  inject([](auto& f) { f.stop_answering_methods = {"*"}; });
  auto t0 = clock::now();
  EXPECT_THAT(box.exec(exec_request({"true"}).with_timeout(1500ms)), fails_with(error_kind::timeout));
  EXPECT_LT(clock::now() - t0, 5s) << "neither the spawn nor the kill after the deadline may wait longer";
  deno_test_server()->set_faults({});
}

TEST_F(deno_faults, a_server_gone_silent_even_to_pings_is_connection) {
  auto c = make_client([](deno::config& cfg) { cfg.idle_timeout = 3s; });
  auto box = make(c);
  std::this_thread::sleep_for(2500ms);  // at least one pong seen: the server answers pings
  inject([](auto& f) {
    f.stop_answering_methods = {"*"};
    f.stop_answering_pings = true;
  });
  auto t0 = clock::now();
  // No deadline of its own (and the default request deadline is 30 s): the silence detector ends it.
  auto r = box.exec({"sleep", "1"});
  ASSERT_THAT(r, fails_with(error_kind::connection));
  EXPECT_LT(clock::now() - t0, 8s);
}

TEST_F(deno_faults, no_thread_outlives_its_sessions) {
  // Our client's threads are the WebSocket I/O threads; the server in this process has its
  // own, so they are counted apart.
  int before = ws::live_io_threads();
  {
    auto c = make_client();
    std::vector<sandbox<deno>> boxes;
    for (int i = 0; i < 4; ++i) boxes.push_back(make(c));
    for (auto& b : boxes) EXPECT_THAT(b.exec({"true"}), succeeds());
    EXPECT_EQ(ws::live_io_threads(), before + 4);  // one I/O thread per session
    inject([](auto& f) { f.drop_after_stream_chunks = 1; });
    (void)boxes[0].exec({"echo", "x"});  // its socket is cut under it
    deno_test_server()->set_faults({});
    auto lasting = c.create(request<deno>{}.timeout("1m"));
    ASSERT_THAT(lasting, succeeds());
    auto id = lasting.value().id();
    lasting.value().close();  // detached, not killed: its thread ends all the same
    auto again = c.connect(id);
    ASSERT_THAT(again, succeeds());
    EXPECT_THAT(again.value().kill(), succeeds());
  }
  EXPECT_EQ(ws::live_io_threads(), before);
}

}  // namespace
}  // namespace sbx::test
