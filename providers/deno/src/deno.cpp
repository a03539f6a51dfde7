// SPDX-License-Identifier: Apache-2.0
// The Deno provider: configuration, lifecycle (create / connect / kill / extend over the
// WebSocket upgrade and per-sandbox REST), listing, exposure, env, volumes and snapshots
// over the console REST API. Protocol: ../shared/protocols/deno-sandbox.md §2-§5, §9.
#include "internal.hpp"

#include <cstdlib>
#include <ctime>
#include <regex>

namespace sbx {
namespace deno_impl {
namespace {

std::string env_or(char const* name) {
  char const* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

struct url_parts {
  std::string origin;  ///< scheme://authority
  std::string path;
  std::string query;   ///< without '?'
};

url_parts split_url(std::string_view u) {
  url_parts p;
  auto scheme_end = u.find("://");
  auto auth_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  auto path_start = u.find_first_of("/?#", auth_start);
  p.origin = std::string(u.substr(0, path_start));
  if (path_start == std::string_view::npos) return p;
  auto rest = u.substr(path_start);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  auto q = rest.find('?');
  p.path = std::string(rest.substr(0, q));
  if (q != std::string_view::npos) p.query = std::string(rest.substr(q + 1));
  return p;
}

std::string to_ws(std::string url) {
  if (url.starts_with("http")) url.replace(0, 4, "ws");
  return url;
}

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

error invalid(std::string field, std::string message) {
  error_detail d;
  d.provider = "deno";
  d.field = std::move(field);
  d.message = std::move(message);
  return make_error(error_kind::invalid_request, std::move(d));
}

sandbox_info to_sandbox_info(json const& j) {
  sandbox_info si;
  si.id = jh::get_string(j, "id").value_or("");
  si.provider = "deno";
  auto status = jh::get_string(j, "status").value_or("");
  si.status = status == "running" ? sandbox_status::running
              : status == "stopped" ? sandbox_status::stopped
                                    : sandbox_status::unknown;
  if (auto l = j.find("labels"); l != j.end() && l->is_object())
    for (auto const& [k, v] : l->items())
      if (v.is_string()) si.labels[k] = v.get<std::string>();
  if (auto c = jh::get_string(j, "createdAt")) si.created = parse_date(*c);
  return si;
}

volume_info to_volume_info(json const& j) {
  volume_info v;
  v.id = jh::get_string(j, "id").value_or("");
  v.name = jh::get_string(j, "slug").value_or(v.id);
  v.used_bytes = static_cast<std::uint64_t>(jh::get_int(j, "estimated_allocated_size").value_or(0));
  if (auto c = jh::get_int(j, "capacity")) v.capacity_bytes = static_cast<std::uint64_t>(*c);
  if (auto c = jh::get_string(j, "created_at")) v.created = parse_date(*c);
  return v;
}

deno::snapshot to_snapshot(json const& j) {
  deno::snapshot s;
  s.id = jh::get_string(j, "id").value_or("");
  s.slug = jh::get_string(j, "slug").value_or("");
  s.region = jh::get_string(j, "region").value_or("");
  s.allocated_bytes = static_cast<std::uint64_t>(jh::get_int(j, "allocated_size").value_or(0));
  s.flattened_bytes = static_cast<std::uint64_t>(jh::get_int(j, "flattened_size").value_or(0));
  s.bootable = jh::get_bool(j, "is_bootable").value_or(false);
  if (auto v = j.find("volume"); v != j.end() && v->is_object()) {
    s.volume_id = jh::get_string(*v, "id").value_or("");
    s.volume_slug = jh::get_string(*v, "slug").value_or("");
  }
  return s;
}

/// The cursor of the `rel="next"` link of a `Link` header (§5), if any.
std::optional<std::string> next_cursor(std::string_view link) {
  while (!link.empty()) {
    auto comma = link.find(',');
    auto part = link.substr(0, comma);
    link = comma == std::string_view::npos ? std::string_view() : link.substr(comma + 1);
    if (part.find("rel=\"next\"") == std::string_view::npos) continue;
    auto lt = part.find('<'), gt = part.find('>');
    if (lt == std::string_view::npos || gt == std::string_view::npos || gt < lt) continue;
    auto url = part.substr(lt + 1, gt - lt - 1);
    auto q = url.find('?');
    if (q == std::string_view::npos) continue;
    auto query = url.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      auto kv = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (kv.starts_with("cursor=")) return std::string(kv.substr(7));
    }
  }
  return std::nullopt;
}

const std::regex sandbox_id_format("^sbx_([a-z]{3})_[0-9a-hjkmnp-z]{20}$");

}  // namespace

std::string state::sandbox_base(std::string_view region) const {
  if (cfg.sandbox_endpoint.empty()) return "https://" + std::string(region) + "." + cfg.base_domain;
  std::string s = cfg.sandbox_endpoint;
  for (auto at = s.find("{region}"); at != std::string::npos; at = s.find("{region}"))
    s.replace(at, 8, region);
  return s;
}

std::string state::sandbox_url(std::string_view region, std::string_view path) const {
  auto p = split_url(sandbox_base(region));
  return p.origin + std::string(path) + (p.query.empty() ? "" : "?" + p.query);
}

std::string state::api_url(std::string_view path_and_query) const {
  return split_url(cfg.api_endpoint).origin + std::string(path_and_query);
}

void state::note_expiry(std::string const& id, std::chrono::system_clock::time_point t) {
  std::lock_guard lk(expiries_mutex);
  expiries[id] = t;
}

std::optional<std::chrono::system_clock::time_point> state::expiry(std::string const& id) {
  std::lock_guard lk(expiries_mutex);
  auto it = expiries.find(id);
  if (it == expiries.end()) return std::nullopt;
  return it->second;
}

http::header_list state::auth_headers() const {
  http::header_list h{{"Authorization", "Bearer " + cfg.token}};
  if (!cfg.org.empty()) h.emplace_back("X-Deno-Org", cfg.org);
  return h;
}

result<void> state::check_config() const {
  auto auth = [](std::string m) {
    error_detail d;
    d.provider = "deno";
    d.message = std::move(m);
    return make_error(error_kind::auth_failed, std::move(d));
  };
  if (cfg.token.empty()) return auth("no Deno Deploy token: set DENO_DEPLOY_TOKEN or deno::config::token");
  if (!cfg.token.starts_with("ddo_") && cfg.org.empty())
    return auth("a personal Deno Deploy token needs an organization: set DENO_DEPLOY_ORG or deno::config::org");
  if (cfg.api_endpoint.ends_with('/'))
    return invalid("api_endpoint", "the Deno API endpoint \"" + cfg.api_endpoint + "\" must not end with '/'");
  if (cfg.sandbox_endpoint.ends_with('/'))
    return invalid("sandbox_endpoint", "the Deno sandbox endpoint \"" + cfg.sandbox_endpoint + "\" must not end with '/'");
  return success();
}

result<http::response> state::rest(std::string method, std::string url, std::optional<json> body, std::string_view what,
                                   std::string_view id) {
  SBX_TRYV(check_config());
  http::request rq;
  rq.method = std::move(method);
  rq.headers = auth_headers();
  if (body) {
    rq.headers.emplace_back("Content-Type", "application/json");
    rq.body = jh::dump(*body);
  }
  rq.url = std::move(url);
  rq.timeout = cfg.request_timeout;
  auto r = http.perform(rq);
  if (!r) {
    error_detail d = r.error().detail();
    d.provider = "deno";
    d.id = std::string(id);
    d.message = scrub(std::string(what) + ": " + d.message, cfg.token);
    return make_error(r.error().kind(), std::move(d));
  }
  auto& res = r.value();
  if (res.status < 200 || res.status > 299)
    return error_from_http(res.status, res.body, res.header("retry-after"), res.header("x-deno-trace-id"), what, id,
                           cfg.token);
  return std::move(res);
}

namespace {

result<json> json_body(http::response const& r, std::string_view what) {
  auto j = jh::parse(r.body);
  if (!j) return make(error_kind::internal, std::string(what) + ": the reply is not JSON");
  return std::move(*j);
}

/// Every page of a list call (§5 pagination).
result<std::vector<json>> get_all(state& st, std::string path, std::string_view what) {
  std::vector<json> items;
  std::optional<std::string> cursor;
  for (int page = 0; page < 10000; ++page) {
    std::string url = st.api_url(path);
    if (cursor) url += (path.find('?') == std::string::npos ? "?cursor=" : "&cursor=") + *cursor;
    SBX_TRY(res, st.rest("GET", url, std::nullopt, what));
    SBX_TRY(j, json_body(res, what));
    if (!j.is_array()) return make(error_kind::internal, std::string(what) + ": the reply is not a JSON array");
    for (auto& x : j) items.push_back(std::move(x));
    auto link = res.header("link");
    cursor = link ? next_cursor(*link) : std::nullopt;
    if (!cursor) return items;
  }
  return make(error_kind::internal, std::string(what) + ": more than 10000 pages");
}

}  // namespace
}  // namespace deno_impl

using namespace deno_impl;

deno::deno() : deno(config{}) {}

deno::deno(config c) : state_(std::make_shared<state>()) {
  if (c.token.empty()) c.token = env_or("DENO_DEPLOY_TOKEN");
  if (c.org.empty()) c.org = env_or("DENO_DEPLOY_ORG");
  if (c.api_endpoint.empty()) c.api_endpoint = env_or("DENO_DEPLOY_ENDPOINT");
  if (c.api_endpoint.empty()) c.api_endpoint = "https://console.deno.com";
  if (c.sandbox_endpoint.empty()) c.sandbox_endpoint = env_or("DENO_SANDBOX_ENDPOINT");
  if (c.base_domain.empty()) c.base_domain = env_or("DENO_SANDBOX_BASE_DOMAIN");
  if (c.base_domain.empty()) c.base_domain = "sandbox-api.deno.net";
  if (c.region.empty()) c.region = "ord";
  state_->cfg = std::move(c);
}

deno::config const& deno::configuration() const noexcept { return state_->cfg; }

result<deno::handle> deno::create(common_request const& r, options const& o) {
  auto& st = *state_;
  SBX_TRYV(st.check_config());
  // Everything Deno would refuse is refused here, before a socket is opened.
  std::uint64_t mib = default_memory_mib;
  if (r.memory) {
    mib = r.memory->bytes() >> 20;  // whole MiB, rounded down like the SDK
    if (mib < min_memory_mib || mib > max_memory_mib)
      return invalid("memory", "memory " + r.memory->to_string() + " is outside Deno's range of 768 MiB to 4096 MiB");
  }
  if (r.labels.size() > max_labels)
    return invalid("labels", "Deno allows at most 5 labels, got " + std::to_string(r.labels.size()));
  for (auto const& [k, v] : r.labels) {
    if (k.size() > 64) return invalid("labels", "label key \"" + k + "\" is longer than 64 bytes");
    if (v.size() > 128) return invalid("labels", "the value of label \"" + k + "\" is longer than 128 bytes");
  }
  if (r.cpus && *r.cpus != 2.0)
    return invalid("cpus", "Deno sandboxes have exactly 2 vCPUs; cpus must be 2 or unset");
  for (auto const& v : r.volumes)
    if (v.readonly) {
      // Refused, not dropped: a mount the caller believes read-only would be writable.
      error_detail d;
      d.provider = "deno";
      d.capability = std::string(cap::volumes::name);
      d.field = "volumes.readonly";
      d.message = "Deno mounts volumes read-write; volume \"" + v.id + "\" cannot be mounted read-only";
      return make_error(error_kind::unsupported, std::move(d));
    }
  if (o.region && (o.region->size() != 3 || o.region->find_first_not_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos))
    return invalid("region", "region \"" + *o.region + "\" is not three lower-case letters (\"ord\", \"ams\")");

  json cfg = {{"memory_mb", mib}, {"volumes", json::array()}};
  for (auto const& v : r.volumes) cfg["volumes"].push_back({{"volume", v.id}, {"path", v.mount_path}});
  if (r.lifetime) cfg["stop_at_ms"] = epoch_ms_now() + r.lifetime->count();
  if (!r.labels.empty()) cfg["labels"] = r.labels;
  if (o.root) cfg["root"] = {{"volume", *o.root}};
  switch (r.network.kind) {
    case network_policy::mode::open: break;  // no allow_net: unrestricted
    case network_policy::mode::blocked: cfg["allow_net"] = json::array(); break;
    case network_policy::mode::allow: cfg["allow_net"] = r.network.hosts; break;
  }
  if (!r.secrets.empty()) {
    json s = json::object();
    for (auto const& sec : r.secrets) s[sec.name] = {{"hosts", sec.hosts}, {"value", sec.value}};
    cfg["secrets"] = std::move(s);
  }

  std::string region = o.region.value_or(st.cfg.region);
  auto headers = st.auth_headers();
  headers.emplace_back("x-deno-sandbox-config", jh::base64_encode(jh::dump(cfg)));
  SBX_TRY(opened, session::open(state_, to_ws(st.sandbox_url(region, "/api/v3/sandboxes/create")), std::move(headers),
                                "create", ""));
  handle h{opened.id, opened.s};
  if (h.session->region().empty()) h.session->set_region(region);
  if (r.lifetime) {
    h.session->expires = std::chrono::system_clock::now() + *r.lifetime;
    st.note_expiry(h.id, *h.session->expires);
  }

  // Applied after the socket is up, as the SDK does; a failure destroys the new sandbox.
  auto undo = [&](error e) -> result<handle> {
    if (r.lifetime) (void)kill(h);
    h.session->close();
    return e;
  };
  std::vector<std::int64_t> sets;
  for (auto const& [k, v] : r.env) {
    auto rid = h.session->start("envSet", {{"key", k}, {"value", v}});
    if (!rid) return undo(rid.error());
    sets.push_back(rid.value());
  }
  auto by = h.session->default_deadline();
  for (auto rid : sets)
    if (auto w = h.session->wait(rid, by); !w) return undo(w.error());
  for (auto port : r.ports)
    if (auto e = expose_port(h, port); !e) return undo(e.error());
  if (o.expose_ssh) {
    auto s = expose_ssh(h);
    if (!s) return undo(s.error());
    std::lock_guard lk(h.session->facts_mutex);
    h.session->ssh = s.value();
  }
  return h;
}

result<deno::handle> deno::connect(std::string_view id) {
  auto& st = *state_;
  SBX_TRYV(st.check_config());
  std::smatch m;
  std::string sid(id);
  if (!std::regex_match(sid, m, sandbox_id_format))
    return make(error_kind::not_found, "\"" + sid + "\" is not a Deno sandbox id (sbx_<region>_<20 characters>)", sid);
  std::string region = m[1];
  SBX_TRY(opened, session::open(state_, to_ws(st.sandbox_url(region, "/api/v3/sandbox/" + sid + "/connect")),
                                st.auth_headers(), "connect " + sid, sid));
  return handle{opened.id, opened.s};
}

result<std::vector<sandbox_info>> deno::list(std::map<std::string, std::string> const& labels) {
  std::string path = "/api/v2/sandboxes";
  char sep = '?';
  for (auto const& [k, v] : labels) {
    path += sep + http::percent_encode("labels[" + k + "]") + "=" + http::percent_encode(v);
    sep = '&';
  }
  SBX_TRY(res, state_->rest("GET", state_->api_url(path), std::nullopt, "list sandboxes"));
  SBX_TRY(j, json_body(res, "list sandboxes"));
  if (!j.is_array()) return make(error_kind::internal, "list sandboxes: the reply is not a JSON array");
  std::vector<sandbox_info> out;
  for (auto const& x : j) {
    auto si = to_sandbox_info(x);
    // The server filters; filtering again keeps the contract if it ignores a label.
    bool match = true;
    for (auto const& [k, v] : labels)
      if (auto it = si.labels.find(k); it == si.labels.end() || it->second != v) match = false;
    if (match) out.push_back(std::move(si));
  }
  return out;
}

result<sandbox_info> deno::info(handle const& h) {
  SBX_TRY(all, list({}));
  for (auto& si : all) {
    if (si.id != h.id) continue;
    if (h.session) {
      std::lock_guard lk(h.session->facts_mutex);
      si.expires = h.session->expires;
    }
    if (!si.expires) si.expires = state_->expiry(h.id);
    return std::move(si);
  }
  return make(error_kind::not_found, "no Deno sandbox " + h.id, h.id);
}

result<void> deno::kill(handle const& h) {
  std::string region = h.session && !h.session->region().empty() ? h.session->region() : state_->cfg.region;
  auto r = state_->rest("DELETE", state_->sandbox_url(region, "/api/v3/sandbox/" + h.id), std::nullopt, "kill " + h.id, h.id);
  if (h.session) {
    // §4: after the DELETE the server closes every socket of the sandbox.
    if (r) h.session->wait_closed(clock::now() + std::chrono::seconds(10));
    h.session->close();
  }
  if (!r) return r.error();
  return success();
}

void deno::release(handle const& h) noexcept {
  if (h.session) h.session->close();
}

result<void> deno::extend_timeout(handle const& h, std::chrono::milliseconds d) {
  if (d.count() <= 0) return invalid("timeout", "an extension must be positive");
  if (d > std::chrono::minutes(30))
    return invalid("timeout", "Deno extends a sandbox by at most 30 minutes per call, asked for " + format_duration(d));
  std::string region = h.session && !h.session->region().empty() ? h.session->region() : state_->cfg.region;
  SBX_TRY(res, state_->rest("PATCH", state_->sandbox_url(region, "/api/v3/sandbox/" + h.id),
                            json{{"stop_at_ms", epoch_ms_now() + d.count()}}, "extend " + h.id, h.id));
  if (h.session) {
    auto j = jh::parse(res.body);
    if (auto at = j ? jh::get_int(*j, "stop_at_ms") : std::nullopt) {
      auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(*at));
      std::lock_guard lk(h.session->facts_mutex);
      h.session->expires = t;
      state_->note_expiry(h.id, t);
    }
  }
  return success();
}

result<std::string> deno::expose_port(handle const& h, std::uint16_t port) {
  if (port == 0) return invalid("ports", "port 0 cannot be exposed");
  if (!h.session) return make(error_kind::connection, "sandbox " + h.id + " has no session", h.id);
  SBX_TRY(res, state_->rest("POST", state_->sandbox_url(h.session->region(), "/api/v3/sandbox/" + h.id + "/expose/http"),
                            json::object(), "expose http", h.id));
  SBX_TRY(j, json_body(res, "expose http"));
  auto domain = jh::get_string(j, "domain");
  if (!domain) return make(error_kind::internal, "expose http: the reply has no domain", h.id);
  SBX_TRYV(h.session->call("exposeHttp", {{"domain", *domain}, {"port", port}}));
  return "https://" + *domain;
}

result<deno::ssh_access> deno::expose_ssh(handle const& h) {
  std::string region = h.session && !h.session->region().empty() ? h.session->region() : state_->cfg.region;
  SBX_TRY(res, state_->rest("POST", state_->sandbox_url(region, "/api/v3/sandbox/" + h.id + "/expose/ssh"),
                            json::object(), "expose ssh", h.id));
  SBX_TRY(j, json_body(res, "expose ssh"));
  auto host = jh::get_string(j, "hostname");
  auto user = jh::get_string(j, "username");
  if (!host || !user) return make(error_kind::internal, "expose ssh: the reply lacks hostname or username", h.id);
  return ssh_access{*host, *user};
}

std::optional<deno::ssh_access> deno::ssh(handle const& h) const {
  if (!h.session) return std::nullopt;
  std::lock_guard lk(h.session->facts_mutex);
  return h.session->ssh;
}

namespace {
result<session*> live(deno::handle const& h) {
  if (!h.session) return make(error_kind::connection, "sandbox " + h.id + " has no session", h.id);
  return h.session.get();
}
}  // namespace

result<std::optional<std::string>> deno::env_get(handle const& h, std::string_view key) {
  SBX_TRY(s, live(h));
  SBX_TRY(v, s->call("envGet", {{"key", key}}));
  if (v.is_string()) return std::optional<std::string>(v.get<std::string>());
  return std::optional<std::string>();
}

result<void> deno::env_set(handle const& h, std::string_view key, std::string_view value) {
  SBX_TRY(s, live(h));
  SBX_TRYV(s->call("envSet", {{"key", key}, {"value", value}}));
  return success();
}

result<void> deno::env_delete(handle const& h, std::string_view key) {
  SBX_TRY(s, live(h));
  SBX_TRYV(s->call("envDelete", {{"key", key}}));
  return success();
}

result<std::map<std::string, std::string>> deno::env_all(handle const& h) {
  SBX_TRY(s, live(h));
  SBX_TRY(v, s->call("envToObject", json::object()));
  std::map<std::string, std::string> out;
  if (v.is_object())
    for (auto const& [k, x] : v.items())
      if (x.is_string()) out[k] = x.get<std::string>();
  return out;
}

result<volume_info> deno::create_volume(volume_request const& r) {
  if (r.name.empty()) return invalid("name", "a Deno volume needs a slug (volume_request::name)");
  if (!r.labels.empty()) return invalid("labels", "Deno volumes have no labels");
  json body = {{"slug", r.name}, {"region", state_->cfg.region}};
  if (r.capacity_bytes) body["capacity"] = *r.capacity_bytes;
  else body["capacity"] = "1GiB";
  SBX_TRY(res, state_->rest("POST", state_->api_url("/api/v2/volumes"), body, "create volume " + r.name, r.name));
  SBX_TRY(j, json_body(res, "create volume"));
  return to_volume_info(j);
}

result<std::vector<volume_info>> deno::list_volumes() {
  SBX_TRY(items, get_all(*state_, "/api/v2/volumes", "list volumes"));
  std::vector<volume_info> out;
  for (auto const& j : items) out.push_back(to_volume_info(j));
  return out;
}

result<volume_info> deno::get_volume(std::string_view id) {
  SBX_TRY(res, state_->rest("GET", state_->api_url("/api/v2/volumes/" + http::percent_encode(id)), std::nullopt,
                            "get volume " + std::string(id), id));
  SBX_TRY(j, json_body(res, "get volume"));
  return to_volume_info(j);
}

result<void> deno::delete_volume(std::string_view id) {
  SBX_TRYV(state_->rest("DELETE", state_->api_url("/api/v2/volumes/" + http::percent_encode(id)), std::nullopt,
                        "delete volume " + std::string(id), id));
  return success();
}

result<deno::snapshot> deno::snapshot_volume(std::string_view volume, std::string_view slug) {
  SBX_TRY(res, state_->rest("POST", state_->api_url("/api/v2/volumes/" + http::percent_encode(volume) + "/snapshot"),
                            json{{"slug", slug}}, "snapshot volume " + std::string(volume), volume));
  SBX_TRY(j, json_body(res, "snapshot volume"));
  return to_snapshot(j);
}

result<std::vector<deno::snapshot>> deno::list_snapshots() {
  SBX_TRY(items, get_all(*state_, "/api/v2/snapshots", "list snapshots"));
  std::vector<snapshot> out;
  for (auto const& j : items) out.push_back(to_snapshot(j));
  return out;
}

result<deno::snapshot> deno::get_snapshot(std::string_view id) {
  SBX_TRY(res, state_->rest("GET", state_->api_url("/api/v2/snapshots/" + http::percent_encode(id)), std::nullopt,
                            "get snapshot " + std::string(id), id));
  SBX_TRY(j, json_body(res, "get snapshot"));
  return to_snapshot(j);
}

result<void> deno::delete_snapshot(std::string_view id) {
  SBX_TRYV(state_->rest("DELETE", state_->api_url("/api/v2/snapshots/" + http::percent_encode(id)), std::nullopt,
                        "delete snapshot " + std::string(id), id));
  return success();
}

namespace deno_impl {

std::string_view signal_name(int sig) {
  static constexpr std::pair<int, std::string_view> table[] = {
      {1, "SIGHUP"},   {2, "SIGINT"},   {3, "SIGQUIT"},  {4, "SIGILL"},   {5, "SIGTRAP"},  {6, "SIGABRT"},
      {7, "SIGBUS"},   {8, "SIGFPE"},   {9, "SIGKILL"},  {10, "SIGUSR1"}, {11, "SIGSEGV"}, {12, "SIGUSR2"},
      {13, "SIGPIPE"}, {14, "SIGALRM"}, {15, "SIGTERM"}, {17, "SIGCHLD"}, {18, "SIGCONT"}, {19, "SIGSTOP"},
      {20, "SIGTSTP"}, {21, "SIGTTIN"}, {22, "SIGTTOU"}, {23, "SIGURG"},  {24, "SIGXCPU"}, {25, "SIGXFSZ"},
      {26, "SIGVTALRM"}, {27, "SIGPROF"}, {28, "SIGWINCH"}, {29, "SIGIO"}, {30, "SIGPWR"}, {31, "SIGSYS"}};
  for (auto const& [n, s] : table)
    if (n == sig) return s;
  return {};
}

int signal_number(std::string_view name) {
  for (int i = 1; i < 32; ++i)
    if (signal_name(i) == name) return i;
  return 0;
}

std::chrono::system_clock::time_point parse_date(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM)
  std::tm tm{};
  int ms = 0;
  if (s.size() < 19) return {};
  auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n && i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  std::size_t at = 19;
  if (at < s.size() && s[at] == '.') {
    ++at;
    int digits = 0;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
      if (digits < 3) ms = ms * 10 + (s[at] - '0');
      ++digits;
      ++at;
    }
    for (; digits < 3; ++digits) ms *= 10;
  }
  long offset = 0;
  if (at < s.size() && (s[at] == '+' || s[at] == '-') && s.size() >= at + 6) {
    offset = (num(at + 1, 2) * 60 + num(at + 4, 2)) * 60 * (s[at] == '+' ? 1 : -1);
  }
  auto t = timegm(&tm);
  return std::chrono::system_clock::from_time_t(t - offset) + std::chrono::milliseconds(ms);
}

}  // namespace deno_impl
}  // namespace sbx
