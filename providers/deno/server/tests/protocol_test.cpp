// SPDX-License-Identifier: Apache-2.0
#include "protocol.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>

namespace proto = sbx::server::deno_proto;
using json = nlohmann::json;

TEST(base64, round_trips_every_length_and_byte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 7) {
    auto s = all.substr(0, n);
    auto d = proto::base64_decode(proto::base64_encode(s));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(proto::base64_encode("hello\n"), "aGVsbG8K");
  EXPECT_EQ(proto::base64_encode("ab"), "YWI=");
}

TEST(base64, refuses_foreign_characters) {
  EXPECT_FALSE(proto::base64_decode("aGV sbG8K").has_value());
  EXPECT_FALSE(proto::base64_decode("a-b_").has_value());
  EXPECT_FALSE(proto::base64_decode("a").has_value());
}

TEST(sandbox_id, minted_ids_match_the_sdk_pattern) {
  for (int i = 0; i < 200; ++i) {
    auto id = proto::mint_sandbox_id("ord");
    EXPECT_TRUE(proto::valid_sandbox_id(id)) << id;
    EXPECT_EQ(id.find_first_of("ilo", 8), std::string::npos) << id;
  }
  EXPECT_FALSE(proto::valid_sandbox_id("sbx_ord_mpzcjew2jk29t7fg3bbi"));  // 'i' is excluded
  EXPECT_FALSE(proto::valid_sandbox_id("sbx_or_mpzcjew2jk29t7fg3bbs"));
  EXPECT_TRUE(proto::valid_sandbox_id("sbx_ord_mpzcjew2jk29t7fg3bbs"));
}

TEST(config, default_create_header_decodes) {
  auto r = proto::decode_config("eyJtZW1vcnlfbWIiOjEyODAsInZvbHVtZXMiOltdfQ==");
  ASSERT_TRUE(r.config.has_value()) << r.error.message;
  EXPECT_EQ(r.config->memory_mb, 1280);
  EXPECT_FALSE(r.config->stop_at_ms.has_value());
  EXPECT_EQ(r.config->keys, (std::vector<std::string>{"memory_mb", "volumes"}));
}

TEST(config, every_field_is_read) {
  json j = {{"stop_at_ms", 1795299546805}, {"memory_mb", 1024}, {"labels", {{"team", "x"}}},
            {"volumes", {{{"volume", "myvol"}, {"path", "/data"}}}}, {"allow_net", {"example.com"}},
            {"secrets", {{"K", {{"hosts", {"api.x.com"}}, {"value", "v"}}}}}};
  auto r = proto::decode_config(proto::base64_encode(j.dump()));
  ASSERT_TRUE(r.config.has_value()) << r.error.message;
  auto const& c = *r.config;
  EXPECT_EQ(c.memory_mb, 1024);
  EXPECT_EQ(c.stop_at_ms, 1795299546805);
  EXPECT_EQ(c.labels.at("team"), "x");
  ASSERT_EQ(c.volumes.size(), 1u);
  EXPECT_EQ(c.volumes[0].path, "/data");
  ASSERT_TRUE(c.allow_net.has_value());
  EXPECT_EQ(c.allow_net->at(0), "example.com");
  ASSERT_EQ(c.secrets.size(), 1u);
  EXPECT_EQ(c.secrets[0].hosts.at(0), "api.x.com");
}

TEST(config, limits_are_refused_with_400_and_a_code) {
  auto enc = [](json j) { return proto::base64_encode(j.dump()); };
  auto low = proto::decode_config(enc({{"memory_mb", 767}, {"volumes", json::array()}}));
  EXPECT_FALSE(low.config);
  EXPECT_EQ(low.error.status, 400);
  EXPECT_EQ(low.error.code, "INVALID_MEMORY");
  EXPECT_FALSE(proto::decode_config(enc({{"memory_mb", 4097}})).config);
  EXPECT_TRUE(proto::decode_config(enc({{"memory_mb", 4096}})).config);
  json six = json::object();
  for (int i = 0; i < 6; ++i) six[std::string(1, static_cast<char>('a' + i))] = "v";
  EXPECT_EQ(proto::decode_config(enc({{"labels", six}})).error.code, "INVALID_LABELS");
  EXPECT_EQ(proto::decode_config(enc({{"labels", {{std::string(65, 'k'), "v"}}}})).error.code, "INVALID_LABELS");
  EXPECT_EQ(proto::decode_config(enc({{"labels", {{"k", std::string(129, 'v')}}}})).error.code, "INVALID_LABELS");
  EXPECT_EQ(proto::decode_config(enc({{"secrets", {{"K", {{"hosts", json::array()}, {"value", "v"}}}}}})).error.code,
            "INVALID_SECRETS");
  EXPECT_FALSE(proto::decode_config(enc({{"volumes", {{{"volume", "v"}, {"path", "rel"}}}}})).config);
  EXPECT_FALSE(proto::decode_config("not base64!").config);
  EXPECT_FALSE(proto::decode_config(proto::base64_encode("[1,2]")).config);
}

TEST(config, latin1_header_text_is_accepted) {
  // btoa() encodes each character as one Latin-1 byte: "é" arrives as the single byte 0xE9.
  std::string text = std::string("{\"labels\":{\"name\":\"caf") + static_cast<char>(0xE9) + "\"}}";
  auto r = proto::decode_config(proto::base64_encode(text));
  ASSERT_TRUE(r.config.has_value()) << r.error.message;
  EXPECT_EQ(r.config->labels.at("name"), "caf\xC3\xA9");
}

TEST(envelopes, void_results_carry_an_explicit_null) {
  auto s = proto::response(7, proto::envelope_ok(nullptr));
  EXPECT_EQ(json::parse(s), json::parse(R"({"jsonrpc":"2.0","id":7,"result":{"ok":null}})"));
}

TEST(envelopes, ids_keep_their_json_type) {
  EXPECT_TRUE(json::parse(proto::response(3, proto::envelope_ok(1)))["id"].is_number_integer());
  EXPECT_TRUE(json::parse(proto::response("3", proto::envelope_ok(1)))["id"].is_string());
}

TEST(envelopes, error_objects_have_every_key) {
  auto e = proto::errno_error(ENOENT, "readfile", "/missing");
  for (auto k : {"constructorName", "message", "code", "stack", "cause", "errors", "name", "suppressed", "error"})
    EXPECT_TRUE(e.contains(k)) << k;
  EXPECT_EQ(e["constructorName"], "NotFound");
  EXPECT_EQ(e["code"], "ENOENT");
  EXPECT_EQ(e["message"], "No such file or directory (os error 2): readfile '/missing'");
  EXPECT_EQ(proto::errno_error(EEXIST, "mkdir", "/x")["constructorName"], "AlreadyExists");
  EXPECT_EQ(proto::errno_error(EISDIR, "open", "/x")["code"], "EISDIR");
  EXPECT_EQ(proto::errno_error(EMLINK, "x", "/x")["constructorName"], "Error");
  EXPECT_TRUE(proto::errno_error(EMLINK, "x", "/x")["code"].is_null());
}

TEST(envelopes, invalid_utf8_in_results_is_replaced_not_thrown) {
  auto s = proto::response(1, proto::envelope_ok(std::string("a\xff" "b")));
  EXPECT_NE(s.find("\"ok\":"), std::string::npos);
}

TEST(streams, notifications_have_the_documented_shape) {
  EXPECT_EQ(json::parse(proto::stream_enqueue(1000, "hello\n")),
            json::parse(R"({"jsonrpc":"2.0","method":"$sandbox.stream.enqueue","params":{"streamId":1000,"data":"aGVsbG8K"}})"));
  EXPECT_EQ(json::parse(proto::stream_start(5))["params"]["streamId"], 5);
  EXPECT_EQ(json::parse(proto::stream_end(5))["method"], "$sandbox.stream.end");
  EXPECT_TRUE(json::parse(proto::stream_error(5, nullptr))["params"]["error"].is_null());
}

TEST(messages, are_classified) {
  EXPECT_EQ(proto::parse_message("ping").type, proto::message::kind::ping);
  auto r = proto::parse_message(R"({"jsonrpc":"2.0","id":0,"method":"readTextFile","params":{"path":"/a"}})");
  EXPECT_EQ(r.type, proto::message::kind::request);
  EXPECT_EQ(r.method, "readTextFile");
  EXPECT_EQ(r.id, 0);
  auto n = proto::parse_message(R"({"jsonrpc":"2.0","method":"$sandbox.stream.end","params":{"streamId":1}})");
  EXPECT_EQ(n.type, proto::message::kind::notification);
  auto noparams = proto::parse_message(R"({"jsonrpc":"2.0","id":1,"method":"envToObject"})");
  EXPECT_EQ(noparams.type, proto::message::kind::request);
  EXPECT_TRUE(noparams.params.is_object());
  auto bad = proto::parse_message("{nope");
  EXPECT_EQ(bad.type, proto::message::kind::invalid);
  EXPECT_EQ(bad.error_code, -32700);
  auto batch = proto::parse_message(R"([{"jsonrpc":"2.0","id":1,"method":"x"}])");
  EXPECT_EQ(batch.type, proto::message::kind::invalid);
  EXPECT_EQ(batch.error_code, -32600);
  EXPECT_EQ(proto::parse_message(R"({"jsonrpc":"1.0","id":1,"method":"x"})").type, proto::message::kind::invalid);
}

TEST(signals, names_and_numbers) {
  EXPECT_EQ(proto::signal_number("SIGTERM"), 15);
  EXPECT_EQ(proto::signal_number("SIGKILL"), 9);
  EXPECT_FALSE(proto::signal_number("SIGNOPE"));
  EXPECT_EQ(proto::signal_name(15), "SIGTERM");
  EXPECT_EQ(proto::signal_name(9), "SIGKILL");
}

TEST(trace, lines_name_sorted_keys_not_values) {
  auto line = proto::trace_rpc("rpc", "spawn", {{"stdout", "piped"}, {"command", "bash"}, {"args", {"-c", "secret"}}});
  EXPECT_EQ(json::parse(line), json::parse(R"({"kind":"rpc","method":"spawn","params":["args","command","stdout"]})"));
  EXPECT_EQ(line.find("secret"), std::string::npos);
  auto h = proto::trace_http("GET", "/api/v2/volumes", json::object(), {"search", "limit", "limit"});
  EXPECT_EQ(json::parse(h)["query"], json({"limit", "search"}));
}

TEST(demux, separates_control_records_from_output) {
  proto::control_demux d("N0NCE");
  auto out = d.feed("hello \x1eN0NCE:{\"id\":1}\nworld\n");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[0].control);
  EXPECT_EQ(out[0].data, "hello ");
  EXPECT_TRUE(out[1].control);
  EXPECT_EQ(out[1].data, "{\"id\":1}");
  EXPECT_EQ(out[2].data, "world\n");
}

TEST(demux, records_split_across_chunks_are_reassembled) {
  proto::control_demux d("abc");
  std::string stream = "x\x1e" "abc:{\"event\":\"start\"}\ny";
  std::string output, control;
  for (char ch : stream)
    for (auto& p : d.feed(std::string(1, ch))) (p.control ? control : output) += p.data;
  output += d.flush();
  EXPECT_EQ(output, "xy");
  EXPECT_EQ(control, "{\"event\":\"start\"}");
}

TEST(demux, a_lookalike_without_the_nonce_is_output) {
  proto::control_demux d("abc");
  std::string got;
  for (auto& p : d.feed("\x1e" "abd:{}\n")) { EXPECT_FALSE(p.control); got += p.data; }
  got += d.flush();
  EXPECT_EQ(got, "\x1e" "abd:{}\n");
}

TEST(rest, slugs_follow_the_documented_rules) {
  EXPECT_TRUE(proto::valid_slug("myvol"));
  EXPECT_TRUE(proto::valid_slug("a1"));
  EXPECT_FALSE(proto::valid_slug("a"));
  EXPECT_FALSE(proto::valid_slug("-ab"));
  EXPECT_FALSE(proto::valid_slug("ab-"));
  EXPECT_FALSE(proto::valid_slug("ab--cd"));
  EXPECT_TRUE(proto::valid_slug("abc--d"));
  EXPECT_FALSE(proto::valid_slug("Abc"));
  EXPECT_FALSE(proto::valid_slug(std::string(33, 'a')));
}

TEST(rest, label_filters_come_from_encoded_query_keys) {
  auto t = proto::parse_target("/api/v2/sandboxes?labels%5Bteam%5D=x%20y&labels[env]=dev&limit=3");
  EXPECT_EQ(t.path, "/api/v2/sandboxes");
  auto f = proto::label_filters(t);
  EXPECT_EQ(f.at("team"), "x y");
  EXPECT_EQ(f.at("env"), "dev");
  EXPECT_EQ(f.size(), 2u);
  EXPECT_EQ(t.param("limit"), "3");
}

TEST(dates, are_iso_with_milliseconds) {
  using namespace std::chrono;
  EXPECT_EQ(proto::iso_date(system_clock::time_point(milliseconds(0))), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(proto::iso_date(system_clock::time_point(milliseconds(1735689600123))), "2025-01-01T00:00:00.123Z");
}
