// SPDX-License-Identifier: Apache-2.0
#pragma once

// The Deno Sandbox wire protocol's pure parts: ids, the create config, JSON-RPC envelopes,
// ErrorObjects, stream notifications, trace lines, and the control-message demultiplexer of
// the in-sandbox Deno helpers. No sockets, no sandboxes: unit-tested on their own.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::server::deno_proto {

using json = nlohmann::json;

// ---- encodings ----
std::string base64_encode(std::string_view bytes);
/// Standard alphabet, padding optional, whitespace refused. nullopt when not base64.
std::optional<std::string> base64_decode(std::string_view text);
/// RFC 3339 with milliseconds, UTC: "2025-01-01T00:00:00.000Z".
std::string iso_date(std::chrono::system_clock::time_point t);
std::int64_t epoch_ms(std::chrono::system_clock::time_point t);
/// Percent-decoding for URL paths and query strings (`+` is a space in queries).
std::string url_decode(std::string_view s, bool query);
std::string url_encode(std::string_view s);

// ---- sandbox ids (§2.3) ----
/// `sbx_<region>_<20 chars of 0-9 a-h j k m n p-z>`, random.
std::string mint_sandbox_id(std::string_view region);
bool valid_sandbox_id(std::string_view id);
/// Random lower-case alphanumerics (for domains, volume and snapshot ids).
std::string random_token(std::size_t n);

// ---- create config (§3.2) ----
struct volume_ref { std::string volume; std::string path; };
struct secret_spec { std::string name; std::string value; std::vector<std::string> hosts; };
struct sandbox_config {
  std::int64_t memory_mb = 1280;
  std::vector<volume_ref> volumes;
  std::optional<std::int64_t> stop_at_ms;
  std::map<std::string, std::string> labels;
  std::optional<std::string> root;
  std::optional<std::vector<std::string>> allow_net;
  std::vector<secret_spec> secrets;
  std::vector<std::string> keys;  ///< top-level keys present, sorted (for the trace)
};
/// A protocol-level refusal: HTTP status + `{code, message}`.
struct http_error {
  int status = 400;
  std::string code;
  std::string message;
};
/// Decodes `x-deno-sandbox-config` (base64 of JSON; UTF-8, falling back to Latin-1) and checks
/// the limits of §11 (memory 768..4096, at most 5 labels, key <= 64 and value <= 128 bytes,
/// absolute volume paths, secrets with at least one host).
struct config_result { std::optional<sandbox_config> config; http_error error; };
config_result decode_config(std::string_view header);
/// The JSON body `{code, message}`.
std::string error_body(std::string_view code, std::string_view message);

// ---- JSON-RPC (§6) ----
/// An ErrorObject (§6.4) with all optional keys present as null.
json error_object(std::string_view constructor_name, std::string_view message,
                  std::optional<std::string_view> code = std::nullopt);
/// ErrorObject for an errno value: NotFound/ENOENT, AlreadyExists/EEXIST, ... (§6.4 table).
json errno_error(int err, std::string_view op, std::string_view path);
json envelope_ok(json value);
json envelope_error(json error_object);
/// `{"jsonrpc":"2.0","id":<id>,"result":<envelope>}`; `id` keeps its JSON type.
std::string response(json const& id, json const& envelope);
/// `{"jsonrpc":"2.0","id":<id>,"error":{"code":..,"message":..}}`.
std::string rpc_error(json const& id, int code, std::string_view message);
std::string notification(std::string_view method, json params);
std::string stream_start(std::int64_t id);
std::string stream_enqueue(std::int64_t id, std::string_view bytes);
std::string stream_end(std::int64_t id);
std::string stream_error(std::int64_t id, json const& error_object);

/// What one received text frame is.
struct message {
  enum class kind { ping, request, notification, invalid };
  kind type = kind::invalid;
  json id;        ///< requests
  std::string method;
  json params;    ///< always an object (empty when absent)
  int error_code = 0;  ///< invalid: -32700 parse error or -32600 invalid request
  std::string error_message;
};
message parse_message(std::string_view text);

// ---- signals ----
/// "SIGTERM" -> 15; nullopt for unknown names.
std::optional<int> signal_number(std::string_view name);
/// 15 -> "SIGTERM"; "SIG<n>" for numbers without a name.
std::string signal_name(int n);

// ---- trace (serve_options::trace_file) ----
/// Sorted keys of a JSON object (empty for non-objects).
std::vector<std::string> sorted_keys(json const& j);
std::string trace_rpc(std::string_view kind, std::string_view method, json const& params);
std::string trace_http(std::string_view method, std::string_view route, json const& body,
                       std::vector<std::string> const& query_keys);
std::string trace_ws(std::string_view route, std::vector<std::string> const& config_keys);

// ---- the in-sandbox helpers' control channel ----
/// Separates control records from a helper process's stdout. A record is `\x1e` + nonce + `:`
/// + one line of JSON + `\n`, anywhere in the byte stream; everything else is the program's own
/// output and is passed through unchanged, in order. Bytes that might start a record are held
/// back until it is clear they do not.
class control_demux {
 public:
  explicit control_demux(std::string nonce);
  struct piece { bool control = false; std::string data; };
  /// Feeds more bytes; returns output and control records in stream order.
  std::vector<piece> feed(std::string_view bytes);
  /// At end of stream: whatever was held back (an unfinished record is output, not control).
  std::string flush();

 private:
  std::string marker_;
  std::string buf_;
};

// ---- console REST helpers ----
/// Slug rules of §5.2: 2..32 of [a-z0-9-], no leading/trailing '-', no "--" at positions 3-4.
bool valid_slug(std::string_view s);
/// A split target: path and query parameters (decoded).
struct target {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::optional<std::string> param(std::string_view k) const;
};
target parse_target(std::string_view t);
/// `labels[team]=x` query parameters.
std::map<std::string, std::string> label_filters(target const& t);

}  // namespace sbx::server::deno_proto
