// SPDX-License-Identifier: Apache-2.0
#include "protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <regex>

namespace sbx::server::deno_proto {

namespace {
constexpr char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::mt19937_64& rng() {
  static thread_local std::mt19937_64 g{std::random_device{}() ^
                                        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
  return g;
}
std::string pick(std::string_view alphabet, std::size_t n) {
  std::uniform_int_distribution<std::size_t> d(0, alphabet.size() - 1);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += alphabet[d(rng())];
  return s;
}
}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto u = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (u(i) << 16) | (u(i + 1) << 8) | u(i + 2);
    out += b64[v >> 18]; out += b64[(v >> 12) & 63]; out += b64[(v >> 6) & 63]; out += b64[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = u(i) << 16;
    out += b64[v >> 18]; out += b64[(v >> 12) & 63]; out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (u(i) << 16) | (u(i + 1) << 8);
    out += b64[v >> 18]; out += b64[(v >> 12) & 63]; out += b64[(v >> 6) & 63]; out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  static auto const table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(b64[i])] = i;
    return t;
  }();
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = table[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string iso_date(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms < 0 && ms % 1000) --secs;
  long rem = static_cast<long>(ms - static_cast<long long>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
}

std::int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string url_decode(std::string_view s, bool query) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) { out += static_cast<char>(hi * 16 + lo); i += 2; continue; }
    }
    out += (query && c == '+') ? ' ' : c;
  }
  return out;
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string mint_sandbox_id(std::string_view region) {
  return fmt::format("sbx_{}_{}", region, pick("0123456789abcdefghjkmnpqrstuvwxyz", 20));
}

bool valid_sandbox_id(std::string_view id) {
  static std::regex const re("^sbx_([a-z]{3})_[0-9a-hjkmnp-z]{20}$");
  return std::regex_match(id.begin(), id.end(), re);
}

std::string random_token(std::size_t n) { return pick("0123456789abcdefghijklmnopqrstuvwxyz", n); }

std::string error_body(std::string_view code, std::string_view message) {
  return json{{"code", code}, {"message", message}}.dump();
}

namespace {
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
    if (n == 9 || i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n + 1;
  }
  return true;
}
std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x80) out += static_cast<char>(c);
    else { out += static_cast<char>(0xc0 | (c >> 6)); out += static_cast<char>(0x80 | (c & 0x3f)); }
  }
  return out;
}
config_result bad(std::string code, std::string message) {
  return {std::nullopt, http_error{400, std::move(code), std::move(message)}};
}
}  // namespace

config_result decode_config(std::string_view header) {
  auto raw = base64_decode(header);
  if (!raw) return bad("INVALID_CONFIG", "x-deno-sandbox-config is not base64");
  std::string text = valid_utf8(*raw) ? *raw : latin1_to_utf8(*raw);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("INVALID_CONFIG", "x-deno-sandbox-config is not a JSON object");
  sandbox_config c;
  c.keys = sorted_keys(j);
  if (auto it = j.find("memory_mb"); it != j.end()) {
    if (!it->is_number_integer()) return bad("INVALID_MEMORY", "memory_mb must be an integer");
    c.memory_mb = it->get<std::int64_t>();
  }
  if (c.memory_mb < 768 || c.memory_mb > 4096)
    return bad("INVALID_MEMORY", fmt::format("memory_mb {} is out of range (768-4096 MiB)", c.memory_mb));
  if (auto it = j.find("stop_at_ms"); it != j.end() && !it->is_null()) {
    if (!it->is_number()) return bad("INVALID_TIMEOUT", "stop_at_ms must be a number");
    c.stop_at_ms = it->get<std::int64_t>();
  }
  if (auto it = j.find("volumes"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return bad("INVALID_CONFIG", "volumes must be an array");
    for (auto const& v : *it) {
      if (!v.is_object() || !v.contains("volume") || !v["volume"].is_string() || !v.contains("path") ||
          !v["path"].is_string())
        return bad("INVALID_CONFIG", "each volume needs string keys volume and path");
      auto path = v["path"].get<std::string>();
      if (path.empty() || path[0] != '/') return bad("INVALID_CONFIG", fmt::format("volume path \"{}\" is not absolute", path));
      c.volumes.push_back({v["volume"].get<std::string>(), path});
    }
  }
  if (auto it = j.find("labels"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return bad("INVALID_LABELS", "labels must be an object");
    if (it->size() > 5) return bad("INVALID_LABELS", fmt::format("{} labels given, at most 5 are allowed", it->size()));
    for (auto const& [k, v] : it->items()) {
      if (!v.is_string()) return bad("INVALID_LABELS", fmt::format("label \"{}\" must be a string", k));
      auto val = v.get<std::string>();
      if (k.empty() || k.size() > 64) return bad("INVALID_LABELS", fmt::format("label key \"{}\" must be 1-64 bytes", k));
      if (val.size() > 128) return bad("INVALID_LABELS", fmt::format("label \"{}\" value is longer than 128 bytes", k));
      c.labels[k] = val;
    }
  }
  if (auto it = j.find("root"); it != j.end() && !it->is_null()) {
    if (!it->is_object() || !it->contains("volume") || !(*it)["volume"].is_string())
      return bad("INVALID_CONFIG", "root must be {\"volume\": string}");
    c.root = (*it)["volume"].get<std::string>();
  }
  if (auto it = j.find("allow_net"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return bad("INVALID_CONFIG", "allow_net must be an array of strings");
    std::vector<std::string> hosts;
    for (auto const& h : *it) {
      if (!h.is_string()) return bad("INVALID_CONFIG", "allow_net must be an array of strings");
      hosts.push_back(h.get<std::string>());
    }
    c.allow_net = std::move(hosts);
  }
  if (auto it = j.find("secrets"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return bad("INVALID_CONFIG", "secrets must be an object");
    for (auto const& [name, s] : it->items()) {
      if (!s.is_object() || !s.contains("value") || !s["value"].is_string() || !s.contains("hosts") ||
          !s["hosts"].is_array())
        return bad("INVALID_SECRETS", fmt::format("secret \"{}\" needs a string value and a hosts array", name));
      secret_spec sp{name, s["value"].get<std::string>(), {}};
      for (auto const& h : s["hosts"]) {
        if (!h.is_string()) return bad("INVALID_SECRETS", fmt::format("secret \"{}\" hosts must be strings", name));
        sp.hosts.push_back(h.get<std::string>());
      }
      if (sp.hosts.empty()) return bad("INVALID_SECRETS", fmt::format("secret \"{}\" needs at least one host", name));
      c.secrets.push_back(std::move(sp));
    }
  }
  return {std::move(c), {}};
}

json error_object(std::string_view constructor_name, std::string_view message, std::optional<std::string_view> code) {
  return json{{"constructorName", constructor_name},
              {"message", message},
              {"code", code ? json(*code) : json(nullptr)},
              {"stack", nullptr},
              {"cause", nullptr},
              {"errors", nullptr},
              {"name", nullptr},
              {"suppressed", nullptr},
              {"error", nullptr}};
}

json errno_error(int err, std::string_view op, std::string_view path) {
  struct row { int e; char const* cls; char const* name; };
  static constexpr row rows[] = {
      {ENOENT, "NotFound", "ENOENT"},        {EACCES, "PermissionDenied", "EACCES"},
      {EPERM, "PermissionDenied", "EPERM"},  {EEXIST, "AlreadyExists", "EEXIST"},
      {EISDIR, "IsADirectory", "EISDIR"},    {ENOTDIR, "NotADirectory", "ENOTDIR"},
      {ELOOP, "FilesystemLoop", "ELOOP"},    {EPIPE, "BrokenPipe", "EPIPE"},
      {ECONNREFUSED, "ConnectionRefused", "ECONNREFUSED"}, {ECONNRESET, "ConnectionReset", "ECONNRESET"},
      {ETIMEDOUT, "TimedOut", "ETIMEDOUT"},  {EINTR, "Interrupted", "EINTR"},
      {EAGAIN, "WouldBlock", "EAGAIN"},      {EBUSY, "Busy", "EBUSY"},
      {EADDRINUSE, "AddrInUse", "EADDRINUSE"}, {EADDRNOTAVAIL, "AddrNotAvailable", "EADDRNOTAVAIL"},
      {ENETUNREACH, "NetworkUnreachable", "ENETUNREACH"}, {EBADF, "BadResource", "EBADF"},
      {ENOTSUP, "NotSupported", "ENOTSUP"},  {ENOTEMPTY, "Error", "ENOTEMPTY"},
      {EINVAL, "Error", "EINVAL"},           {ENOSPC, "Error", "ENOSPC"},
      {EXDEV, "Error", "EXDEV"},             {EROFS, "Error", "EROFS"},
  };
  char const* cls = "Error";
  char const* name = nullptr;
  for (auto const& r : rows)
    if (r.e == err) { cls = r.cls; name = r.name; break; }
  auto msg = fmt::format("{} (os error {}): {} '{}'", std::strerror(err), err, op, path);
  return error_object(cls, msg, name ? std::optional<std::string_view>(name) : std::nullopt);
}

json envelope_ok(json value) { return json{{"ok", std::move(value)}}; }
json envelope_error(json e) { return json{{"error", std::move(e)}}; }

std::string response(json const& id, json const& envelope) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", envelope}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string rpc_error(json const& id, int code, std::string_view message) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}}.dump();
}

std::string notification(std::string_view method, json params) {
  return json{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}
std::string stream_start(std::int64_t id) { return notification("$sandbox.stream.start", {{"streamId", id}}); }
std::string stream_enqueue(std::int64_t id, std::string_view bytes) {
  // Built by hand: this is the hot path of every byte of output.
  return fmt::format(R"({{"jsonrpc":"2.0","method":"$sandbox.stream.enqueue","params":{{"streamId":{},"data":"{}"}}}})",
                     id, base64_encode(bytes));
}
std::string stream_end(std::int64_t id) { return notification("$sandbox.stream.end", {{"streamId", id}}); }
std::string stream_error(std::int64_t id, json const& e) {
  return notification("$sandbox.stream.error", {{"streamId", id}, {"error", e}});
}

message parse_message(std::string_view text) {
  message m;
  if (text == "ping") { m.type = message::kind::ping; return m; }
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    m.error_code = -32700;
    m.error_message = "Parse error";
    return m;
  }
  m.error_code = -32600;
  m.error_message = "Invalid Request";
  if (!j.is_object()) return m;
  auto v = j.find("jsonrpc");
  if (v == j.end() || *v != "2.0") return m;
  auto meth = j.find("method");
  if (meth == j.end() || !meth->is_string()) return m;
  m.method = meth->get<std::string>();
  auto p = j.find("params");
  if (p == j.end() || p->is_null()) m.params = json::object();
  else if (p->is_object()) m.params = *p;
  else return m;
  auto id = j.find("id");
  if (id == j.end()) { m.type = message::kind::notification; m.error_code = 0; m.error_message.clear(); return m; }
  if (!id->is_number_integer() && !id->is_string()) { m.id = id->is_number() ? *id : json(nullptr); return m; }
  m.id = *id;
  m.type = message::kind::request;
  m.error_code = 0;
  m.error_message.clear();
  return m;
}

namespace {
struct sig { char const* name; int n; };
constexpr sig signals[] = {
    {"SIGHUP", 1},   {"SIGINT", 2},     {"SIGQUIT", 3},   {"SIGILL", 4},   {"SIGTRAP", 5},   {"SIGABRT", 6},
    {"SIGIOT", 6},   {"SIGBUS", 7},     {"SIGFPE", 8},    {"SIGKILL", 9},  {"SIGUSR1", 10},  {"SIGSEGV", 11},
    {"SIGUSR2", 12}, {"SIGPIPE", 13},   {"SIGALRM", 14},  {"SIGTERM", 15}, {"SIGSTKFLT", 16}, {"SIGCHLD", 17},
    {"SIGCONT", 18}, {"SIGSTOP", 19},   {"SIGTSTP", 20},  {"SIGTTIN", 21}, {"SIGTTOU", 22},  {"SIGURG", 23},
    {"SIGXCPU", 24}, {"SIGXFSZ", 25},   {"SIGVTALRM", 26}, {"SIGPROF", 27}, {"SIGWINCH", 28}, {"SIGIO", 29},
    {"SIGPOLL", 29}, {"SIGPWR", 30},    {"SIGSYS", 31},   {"SIGUNUSED", 31},
};
}  // namespace

std::optional<int> signal_number(std::string_view name) {
  for (auto const& s : signals)
    if (name == s.name) return s.n;
  return std::nullopt;
}

std::string signal_name(int n) {
  for (auto const& s : signals)
    if (s.n == n) return s.name;
  return fmt::format("SIG{}", n);
}

std::vector<std::string> sorted_keys(json const& j) {
  std::vector<std::string> keys;
  if (j.is_object())
    for (auto const& [k, v] : j.items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string trace_rpc(std::string_view kind, std::string_view method, json const& params) {
  return json{{"kind", kind}, {"method", method}, {"params", sorted_keys(params)}}.dump();
}

std::string trace_http(std::string_view method, std::string_view route, json const& body,
                       std::vector<std::string> const& query_keys) {
  auto q = query_keys;
  std::sort(q.begin(), q.end());
  q.erase(std::unique(q.begin(), q.end()), q.end());
  return json{{"kind", "http"}, {"method", method}, {"route", route}, {"body", sorted_keys(body)}, {"query", q}}.dump();
}

std::string trace_ws(std::string_view route, std::vector<std::string> const& config_keys) {
  return json{{"kind", "ws"}, {"route", route}, {"config", config_keys}}.dump();
}

control_demux::control_demux(std::string nonce) : marker_("\x1e" + std::move(nonce) + ":") {}

std::vector<control_demux::piece> control_demux::feed(std::string_view bytes) {
  buf_.append(bytes);
  std::vector<piece> out;
  auto emit = [&](bool control, std::string s) {
    if (s.empty() && !control) return;
    if (!control && !out.empty() && !out.back().control) out.back().data += s;
    else out.push_back({control, std::move(s)});
  };
  for (;;) {
    auto m = buf_.find(marker_);
    if (m == std::string::npos) break;
    auto nl = buf_.find('\n', m + marker_.size());
    if (nl == std::string::npos) {
      emit(false, buf_.substr(0, m));
      buf_.erase(0, m);
      return out;
    }
    emit(false, buf_.substr(0, m));
    emit(true, buf_.substr(m + marker_.size(), nl - m - marker_.size()));
    buf_.erase(0, nl + 1);
  }
  // Hold back a tail that could be the beginning of a marker.
  std::size_t keep = 0;
  for (std::size_t k = std::min(buf_.size(), marker_.size() - 1); k > 0; --k)
    if (buf_.compare(buf_.size() - k, k, marker_, 0, k) == 0) { keep = k; break; }
  emit(false, buf_.substr(0, buf_.size() - keep));
  buf_.erase(0, buf_.size() - keep);
  return out;
}

std::string control_demux::flush() { return std::exchange(buf_, {}); }

bool valid_slug(std::string_view s) {
  if (s.size() < 2 || s.size() > 32) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  if (s.front() == '-' || s.back() == '-') return false;
  if (s.size() >= 4 && s[2] == '-' && s[3] == '-') return false;
  return true;
}

std::optional<std::string> target::param(std::string_view k) const {
  for (auto const& [key, v] : query)
    if (key == k) return v;
  return std::nullopt;
}

target parse_target(std::string_view t) {
  target out;
  auto q = t.find('?');
  out.path = url_decode(t.substr(0, q), false);
  if (q == std::string_view::npos) return out;
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    if (!part.empty()) {
      auto eq = part.find('=');
      out.query.emplace_back(url_decode(part.substr(0, eq), true),
                             eq == std::string_view::npos ? std::string() : url_decode(part.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

std::map<std::string, std::string> label_filters(target const& t) {
  std::map<std::string, std::string> out;
  for (auto const& [k, v] : t.query)
    if (k.size() > 8 && k.compare(0, 7, "labels[") == 0 && k.back() == ']') out[k.substr(7, k.size() - 8)] = v;
  return out;
}

}  // namespace sbx::server::deno_proto
