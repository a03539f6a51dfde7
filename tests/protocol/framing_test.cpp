// SPDX-License-Identifier: Apache-2.0
// JSON-RPC framing and the stream sub-protocol of the Deno client's session, without a
// socket: what the session sends, and what it makes of each kind of server message
// (protocol §6, §7).
#include "internal.hpp"

#include <matchers.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace sbx::deno_impl {
namespace {

using namespace std::chrono_literals;
using test::fails_with;
using test::succeeds;
using test::succeeds_with;

struct fixture : testing::Test {
  std::mutex m;
  std::vector<json> sent;
  std::shared_ptr<session> s = session::detached(std::make_shared<state>(), "sbx_ord_test", [this](std::string const& t) {
    std::lock_guard lk(m);
    sent.push_back(json::parse(t));
  });
  json last() {
    std::lock_guard lk(m);
    return sent.back();
  }
  static deadline soon() { return clock::now() + 2s; }
};

TEST_F(fixture, requests_are_json_rpc_2_with_integer_ids_from_zero) {
  ASSERT_THAT(s->start("envGet", {{"key", "A"}}), succeeds_with(0));
  EXPECT_EQ(last(), (json{{"jsonrpc", "2.0"}, {"id", 0}, {"method", "envGet"}, {"params", {{"key", "A"}}}}));
  ASSERT_THAT(s->start("envToObject", json()), succeeds_with(1));
  EXPECT_EQ(last()["params"], json::object());  // params is always an object
}

TEST_F(fixture, concurrent_requests_are_matched_by_id_in_any_order) {
  auto a = s->start("processWait", {{"pid", 1}}).value();
  auto b = s->start("readTextFile", {{"path", "/x"}}).value();
  s->receive(R"({"jsonrpc":"2.0","id":1,"result":{"ok":"text"}})");
  EXPECT_THAT(s->wait(b, soon()), succeeds_with(json("text")));
  std::thread late([&] {
    std::this_thread::sleep_for(50ms);
    s->receive(R"({"jsonrpc":"2.0","id":0,"result":{"ok":{"success":true,"code":0,"signal":null,"oom":null}}})");
  });
  auto r = s->wait(a, soon());
  late.join();
  ASSERT_THAT(r, succeeds());
  EXPECT_EQ(r.value()["code"], 0);
}

TEST_F(fixture, ok_null_is_a_void_success) {
  auto a = s->start("envSet", {{"key", "A"}, {"value", "1"}}).value();
  s->receive(R"({"jsonrpc":"2.0","id":0,"result":{"ok":null}})");
  EXPECT_THAT(s->wait(a, soon()), succeeds_with(json()));
}

TEST_F(fixture, in_band_error_object_maps_through_the_table) {
  auto a = s->start("readFile", {{"path", "/missing"}}).value();
  s->receive(R"({"jsonrpc":"2.0","id":0,"result":{"error":{"constructorName":"NotFound","message":"No such file","code":"ENOENT"}}})");
  EXPECT_THAT(s->wait(a, soon()), fails_with(error_kind::not_found));
}

TEST_F(fixture, ok_wins_when_error_is_null) {
  auto a = s->start("readTextFile", {{"path", "/a"}}).value();
  s->receive(R"({"jsonrpc":"2.0","id":0,"result":{"ok":"x","error":null}})");
  EXPECT_THAT(s->wait(a, soon()), succeeds_with(json("x")));
}

TEST_F(fixture, empty_result_envelope_is_internal) {
  auto a = s->start("envSet", {{"key", "A"}, {"value", "1"}}).value();
  s->receive(R"({"jsonrpc":"2.0","id":0,"result":{}})");
  EXPECT_THAT(s->wait(a, soon()), fails_with(error_kind::internal));
}

TEST_F(fixture, json_rpc_method_not_found_is_unsupported) {
  auto a = s->start("walk", {{"path", "/"}}).value();
  s->receive(R"({"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"Method not found"}})");
  EXPECT_THAT(s->wait(a, soon()), fails_with(error_kind::unsupported));
}

TEST_F(fixture, in_band_enotsup_is_unsupported) {
  auto a = s->start("fancyMethod", json::object()).value();
  s->receive(R"({"jsonrpc":"2.0","id":0,"result":{"error":{"constructorName":"Error","message":"method not supported: fancyMethod","code":"ENOTSUP"}}})");
  EXPECT_THAT(s->wait(a, soon()), fails_with(error_kind::unsupported));
}

TEST_F(fixture, a_string_id_does_not_answer_a_numeric_request) {
  auto a = s->start("envGet", {{"key", "A"}}).value();
  s->receive(R"({"jsonrpc":"2.0","id":"0","result":{"ok":"v"}})");
  EXPECT_THAT(s->wait(a, clock::now() + 100ms), fails_with(error_kind::timeout));
}

TEST_F(fixture, malformed_json_fails_pending_and_later_calls) {
  auto a = s->start("readFile", {{"path", "/a"}}).value();
  s->receive(R"({"jsonrpc":"2.0",)");
  EXPECT_THAT(s->wait(a, soon()), fails_with(error_kind::internal));
  EXPECT_THAT(s->start("readFile", {{"path", "/b"}}), fails_with(error_kind::internal));
}

TEST_F(fixture, json_that_is_not_json_rpc_fails_the_session) {
  auto a = s->start("readFile", {{"path", "/a"}}).value();
  s->receive(R"([1,2,3])");
  EXPECT_THAT(s->wait(a, soon()), fails_with(error_kind::internal));
}

TEST_F(fixture, pong_is_ignored) {
  auto a = s->start("envGet", {{"key", "A"}}).value();
  s->receive("pong");
  EXPECT_FALSE(s->failure());
  s->receive(R"({"jsonrpc":"2.0","id":0,"result":{"ok":null}})");
  EXPECT_THAT(s->wait(a, soon()), succeeds());
}

TEST_F(fixture, socket_loss_fails_pending_requests_with_connection) {
  auto a = s->start("processWait", {{"pid", 7}}).value();
  ws::close_info ci;
  ci.by_peer = true;
  ci.reason = "reset";
  s->receive_close(ci);
  EXPECT_THAT(s->wait(a, soon()), fails_with(error_kind::connection));
  EXPECT_THAT(s->start("envGet", {{"key", "A"}}), fails_with(error_kind::connection));
}

TEST_F(fixture, stream_data_before_binding_is_kept_in_order) {
  s->receive(R"({"jsonrpc":"2.0","method":"$sandbox.stream.start","params":{"streamId":1000}})");
  s->receive(R"({"jsonrpc":"2.0","method":"$sandbox.stream.enqueue","params":{"streamId":1000,"data":"aGVs"}})");
  s->receive(R"({"jsonrpc":"2.0","method":"$sandbox.stream.enqueue","params":{"streamId":1000,"data":"bG8K"}})");
  s->receive(R"({"jsonrpc":"2.0","method":"$sandbox.stream.end","params":{"streamId":1000}})");
  s->bind(1000);
  EXPECT_THAT(s->next_chunk(1000, soon()), succeeds_with(std::optional<std::string>("hel")));
  EXPECT_THAT(s->next_chunk(1000, soon()), succeeds_with(std::optional<std::string>("lo\n")));
  EXPECT_THAT(s->next_chunk(1000, soon()), succeeds_with(std::optional<std::string>()));
}

TEST_F(fixture, stream_error_ends_the_stream_with_its_kind) {
  s->bind(5);
  s->receive(R"({"jsonrpc":"2.0","method":"$sandbox.stream.start","params":{"streamId":5}})");
  s->receive(R"({"jsonrpc":"2.0","method":"$sandbox.stream.error","params":{"streamId":5,"error":{"constructorName":"PermissionDenied","message":"no","code":"EACCES"}}})");
  EXPECT_THAT(s->next_chunk(5, soon()), fails_with(error_kind::invalid_request));
}

TEST_F(fixture, chunk_that_is_not_base64_is_internal) {
  s->bind(6);
  s->receive(R"({"jsonrpc":"2.0","method":"$sandbox.stream.enqueue","params":{"streamId":6,"data":"@@@"}})");
  EXPECT_THAT(s->next_chunk(6, soon()), fails_with(error_kind::internal));
}

TEST_F(fixture, next_chunk_times_out_without_data) {
  s->bind(9);
  EXPECT_THAT(s->next_chunk(9, clock::now() + 50ms), fails_with(error_kind::timeout));
}

TEST_F(fixture, unbinding_an_open_stream_sends_cancel_and_drops_later_data) {
  s->bind(7);
  s->receive(R"({"jsonrpc":"2.0","method":"$sandbox.stream.start","params":{"streamId":7}})");
  s->unbind(7);
  EXPECT_EQ(last()["method"], "$sandbox.stream.cancel");
  EXPECT_EQ(last()["params"]["streamId"], 7);
  EXPECT_TRUE(last()["params"].contains("reason"));
  s->receive(R"({"jsonrpc":"2.0","method":"$sandbox.stream.enqueue","params":{"streamId":7,"data":"eA=="}})");
  EXPECT_FALSE(s->failure());
}

TEST_F(fixture, uploads_announce_start_then_base64_chunks_then_end) {
  auto sid = s->open_upload().value();
  EXPECT_EQ(last(), (json{{"jsonrpc", "2.0"}, {"method", "$sandbox.stream.start"}, {"params", {{"streamId", sid}}}}));
  ASSERT_THAT(s->upload_chunk(sid, "piped-input\n"), succeeds());
  EXPECT_EQ(last()["params"]["data"], "cGlwZWQtaW5wdXQK");
  ASSERT_THAT(s->upload_end(sid), succeeds());
  EXPECT_EQ(last()["method"], "$sandbox.stream.end");
  EXPECT_FALSE(last().contains("id"));  // notifications carry no id
}

TEST_F(fixture, client_stream_ids_are_unique_across_sessions) {
  auto other = session::detached(std::make_shared<state>(), "sbx_ord_other", [](std::string const&) {});
  auto a = s->open_upload().value();
  auto b = other->open_upload().value();
  auto c = s->open_upload().value();
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_NE(a, c);
}

TEST(base64, round_trips_every_length_and_byte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 7) {
    auto enc = jh::base64_encode(all.substr(0, n));
    EXPECT_EQ(jh::base64_decode(enc), all.substr(0, n)) << n;
  }
  EXPECT_EQ(jh::base64_encode(R"({"memory_mb":1280,"volumes":[]})"), "eyJtZW1vcnlfbWIiOjEyODAsInZvbHVtZXMiOltdfQ==");
  EXPECT_EQ(jh::base64_decode("a$=="), std::nullopt);
  EXPECT_EQ(jh::base64_decode("a"), std::nullopt);
}

TEST(dates, parse_iso_strings) {
  auto t = parse_date("2025-01-01T00:00:00.000Z");
  EXPECT_EQ(std::chrono::system_clock::to_time_t(t), 1735689600);
  auto u = parse_date("2025-01-01T01:00:00.250+01:00");
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(u.time_since_epoch()).count(), 1735689600250);
}

TEST(signals, names_and_numbers_round_trip) {
  EXPECT_EQ(signal_name(15), "SIGTERM");
  EXPECT_EQ(signal_name(9), "SIGKILL");
  EXPECT_EQ(signal_number("SIGINT"), 2);
  EXPECT_EQ(signal_number("SIGNOPE"), 0);
}

}  // namespace
}  // namespace sbx::deno_impl

namespace sbx::deno_impl {
namespace {

// §2.2: sandbox URLs replace the endpoint's path and keep its query; console URLs drop both.
TEST(endpoints, sandbox_urls_replace_the_path_and_keep_the_query) {
  state st;
  st.cfg.sandbox_endpoint = "http://127.0.0.1:8787/ignored/base?region=x";
  EXPECT_EQ(st.sandbox_url("ord", "/api/v3/sandboxes/create"), "http://127.0.0.1:8787/api/v3/sandboxes/create?region=x");
  st.cfg.sandbox_endpoint = "https://{region}.sandbox.example";
  EXPECT_EQ(st.sandbox_url("ams", "/api/v3/sandbox/sbx_ams_x"), "https://ams.sandbox.example/api/v3/sandbox/sbx_ams_x");
  st.cfg.sandbox_endpoint.clear();
  st.cfg.base_domain = "sandbox-api.deno.net";
  EXPECT_EQ(st.sandbox_url("ord", "/api/v3/sandboxes/create"), "https://ord.sandbox-api.deno.net/api/v3/sandboxes/create");
  st.cfg.sandbox_endpoint = "http://[::1]:9000";
  EXPECT_EQ(st.sandbox_url("ord", "/x"), "http://[::1]:9000/x");
}

TEST(endpoints, console_urls_drop_base_path_and_query) {
  state st;
  st.cfg.api_endpoint = "http://127.0.0.1:8787/base?q=1";
  EXPECT_EQ(st.api_url("/api/v2/volumes?cursor=c"), "http://127.0.0.1:8787/api/v2/volumes?cursor=c");
}

TEST(endpoints, auth_headers_carry_token_and_org) {
  state st;
  st.cfg.token = "ddo_t";
  auto h = st.auth_headers();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0], (std::pair<std::string, std::string>{"Authorization", "Bearer ddo_t"}));
  st.cfg.org = "acme";
  h = st.auth_headers();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[1], (std::pair<std::string, std::string>{"X-Deno-Org", "acme"}));
}

}  // namespace
}  // namespace sbx::deno_impl
