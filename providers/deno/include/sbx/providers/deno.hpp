// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/provider.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sbx {
namespace deno_impl {
struct state;
class session;
}  // namespace deno_impl

/// Deno Deploy Sandbox (https://deno.com/deploy/sandbox): microVMs reached over REST and a
/// JSON-RPC WebSocket per sandbox (protocol: docs/providers/deno.md). Also talks to
/// `sbx serve --dialect deno`, our own server speaking the same protocol over local sandboxes.
///
///     sbx::client<sbx::deno> c;   // DENO_DEPLOY_TOKEN, DENO_DEPLOY_ORG, DENO_SANDBOX_ENDPOINT...
///     SBX_TRY(box, c.create(sbx::request<sbx::deno>{}.memory("1 GiB").timeout("5m").region("ams")));
///     SBX_TRY(out, box.exec({"deno", "--version"}));
///
/// Capabilities: hostname_allowlist (`allow_net`, fixed at creation: no cap::network_update), secret_injection,
/// volumes, port_exposure (`exposeHttp`), kernel_session (JavaScript/TypeScript REPL). Not:
/// cidr_allowlist, pause_resume, pty, custom_image, snapshots (Deno snapshots volumes, not
/// sandboxes: `snapshot_volume` and friends are typed-only extras here).
class deno {
 public:
  using provider_concept = provider_tag;
  static constexpr std::string_view name = "deno";
  static constexpr auto capabilities =
      sbx::capabilities<cap::hostname_allowlist, cap::secret_injection, cap::volumes, cap::port_exposure,
                        cap::kernel_session>;

  /// Memory range Deno accepts, inclusive (default 1280 MiB).
  static constexpr std::uint64_t min_memory_mib = 768;
  static constexpr std::uint64_t max_memory_mib = 4096;
  static constexpr std::uint64_t default_memory_mib = 1280;
  static constexpr std::size_t max_labels = 5;

  /// Credentials and endpoints. Empty fields take their defaults from the environment when
  /// the provider is constructed: token from DENO_DEPLOY_TOKEN, org from DENO_DEPLOY_ORG,
  /// api_endpoint from DENO_DEPLOY_ENDPOINT (else https://console.deno.com), sandbox_endpoint
  /// from DENO_SANDBOX_ENDPOINT (else https://<region>.<DENO_SANDBOX_BASE_DOMAIN or
  /// sandbox-api.deno.net>). The token is sent only in Authorization headers; it never
  /// appears in errors or logs.
  struct config {
    std::string token;
    std::string org;               ///< required with personal (non-`ddo_`) tokens
    std::string api_endpoint;      ///< console REST (volumes, snapshots, listing)
    std::string sandbox_endpoint;  ///< WebSocket + per-sandbox REST; `{region}` is replaced
    std::string base_domain;       ///< default sandbox host suffix
    std::string region = "ord";    ///< default region for sandboxes and volumes
    /// Default deadline of one REST call or RPC without a deadline of its own.
    std::chrono::milliseconds request_timeout{30000};
    std::chrono::milliseconds handshake_timeout{30000};
    /// WebSocket handshakes answered 5xx are retried this many times, with exponential
    /// backoff from `retry_backoff`. Nothing else is retried.
    int handshake_retries = 3;
    std::chrono::milliseconds retry_backoff{200};
    /// A server that has answered keepalive pings and then sends nothing at all for this
    /// long is treated as gone (connection). None: never.
    std::optional<std::chrono::milliseconds> idle_timeout = std::chrono::milliseconds(15000);
    bool verify_tls = true;
    std::string ca_file;           ///< extra CA bundle for https/wss
  };

  /// Per-request options of Deno (see `request_methods`).
  struct options {
    std::optional<std::string> region;  ///< "ord", "ams": picks the sandbox endpoint host
    std::optional<std::string> root;    ///< boot from this snapshot or bootable volume (id or slug)
    bool expose_ssh = false;            ///< expose SSH at creation (`deno::ssh_access`)
    friend bool operator==(options const&, options const&) = default;
  };

  /// Deno's own request fields: `request<deno>{}.region("ams").boot_from("my-snapshot")`.
  template <class R>
  struct request_methods {
    /// The region to create in ("ord" default, "ams").
    R& region(std::string r) { return self().options().region = std::move(r), self(); }
    /// Boots from a snapshot (read-only root) or a bootable volume (read-write root), by id or slug.
    R& boot_from(std::string snapshot_or_volume) { return self().options().root = std::move(snapshot_or_volume), self(); }
    /// Exposes SSH at creation; read it back with `box.ssh()`.
    R& expose_ssh() { return self().options().expose_ssh = true, self(); }

   private:
    R& self() { return static_cast<R&>(*this); }
  };

  /// `ssh <username>@<hostname>` reaches the sandbox; the username is the credential.
  struct ssh_access {
    std::string hostname;
    std::string username;
  };

  /// A snapshot of a volume (typed-only extra; bootable with `boot_from`).
  struct snapshot {
    std::string id;
    std::string slug;
    std::string region;
    std::uint64_t allocated_bytes = 0;
    std::uint64_t flattened_bytes = 0;
    bool bootable = false;
    std::string volume_id;
    std::string volume_slug;
  };

  /// Deno's own sandbox operations: `box.env_set("K", "v")`, `box.expose_ssh()`, `box.eval("1+1")`.
  template <class S>
  struct sandbox_methods {
    /// The sandbox-wide environment that later commands inherit. Unset is none, not an error.
    result<std::optional<std::string>> env_get(std::string_view key) { return p().env_get(h(), key); }
    result<void> env_set(std::string_view key, std::string_view value) { return p().env_set(h(), key, value); }
    result<void> env_delete(std::string_view key) { return p().env_delete(h(), key); }
    result<std::map<std::string, std::string>> env_all() { return p().env_all(h()); }
    /// Exposes SSH. Errors: not_found, auth_failed, connection.
    result<ssh_access> expose_ssh() { return p().expose_ssh(h()); }
    /// Evaluates JavaScript/TypeScript in a fresh REPL that is closed afterwards.
    result<repl_output> eval(std::string_view code) { return p().eval(h(), code); }

   private:
    S& self() { return static_cast<S&>(*this); }
    deno& p() { return self().provider(); }
    auto const& h() { return self().handle(); }
  };

  /// One sandbox: its id and this process's WebSocket session to it.
  struct handle {
    std::string id;
    std::shared_ptr<deno_impl::session> session;
  };

  /// Reads the configuration from the environment.
  deno();
  /// Uses `c`, filling empty fields from the environment.
  explicit deno(config c);

  /// The effective configuration. The token is in it: do not print it.
  config const& configuration() const noexcept;

  result<handle> create(common_request const& r, options const& o);
  /// Errors: not_found (unknown or dead id, or not a Deno sandbox id), auth_failed, connection.
  result<handle> connect(std::string_view id);
  result<std::vector<sandbox_info>> list(std::map<std::string, std::string> const& labels);
  std::string id(handle const& h) const { return h.id; }
  result<sandbox_info> info(handle const& h);
  result<void> kill(handle const& h);
  void release(handle const& h) noexcept;
  /// Errors: invalid_request (not positive, more than 30 minutes), not_found.
  result<void> extend_timeout(handle const& h, std::chrono::milliseconds d);

  result<exec_result> exec(handle const& h, exec_request const& r);
  result<process> spawn(handle const& h, exec_request const& r);

  result<std::string> read_file(handle const& h, std::string_view path);
  result<void> read_file(handle const& h, std::string_view path, byte_sink sink);
  result<void> write_file(handle const& h, std::string_view path, std::string_view data, write_options const& o);
  result<void> write_file(handle const& h, std::string_view path, byte_source source, write_options const& o);
  result<std::vector<file_info>> list_dir(handle const& h, std::string_view path);
  result<file_info> stat(handle const& h, std::string_view path);
  result<bool> exists(handle const& h, std::string_view path);
  result<void> make_dir(handle const& h, std::string_view path);
  result<void> remove(handle const& h, std::string_view path, bool recursive);
  result<void> rename(handle const& h, std::string_view from, std::string_view to);
  result<void> upload(handle const& h, std::string_view local_path, std::string_view remote_path);
  result<void> download(handle const& h, std::string_view remote_path, std::string_view local_path);

  result<volume_info> create_volume(volume_request const& r);
  result<std::vector<volume_info>> list_volumes();
  result<void> delete_volume(std::string_view id);
  /// `https://<domain>` routed to `port` inside the sandbox. Errors: invalid_request (port 0).
  result<std::string> expose_port(handle const& h, std::uint16_t port);
  /// A JavaScript ("javascript", "js") or TypeScript ("typescript", "ts") REPL.
  result<sbx::repl> repl(handle const& h, std::string_view language);

  // Typed-only extras (through `box.` for sandbox ones, `client.provider().` for the rest).
  result<std::optional<std::string>> env_get(handle const& h, std::string_view key);
  result<void> env_set(handle const& h, std::string_view key, std::string_view value);
  result<void> env_delete(handle const& h, std::string_view key);
  result<std::map<std::string, std::string>> env_all(handle const& h);
  result<ssh_access> expose_ssh(handle const& h);
  /// The SSH access exposed at creation (`request.expose_ssh()`), if any.
  std::optional<ssh_access> ssh(handle const& h) const;
  result<repl_output> eval(handle const& h, std::string_view code);
  /// Snapshots volume `volume` (id or slug) as `slug`. Errors: not_found, already_exists,
  /// invalid_request (the volume is attached to a running sandbox).
  result<snapshot> snapshot_volume(std::string_view volume, std::string_view slug);
  result<std::vector<snapshot>> list_snapshots();
  /// Errors: not_found.
  result<snapshot> get_snapshot(std::string_view id_or_slug);
  result<void> delete_snapshot(std::string_view id_or_slug);
  /// Errors: not_found.
  result<volume_info> get_volume(std::string_view id_or_slug);

 private:
  std::shared_ptr<deno_impl::state> state_;
};

}  // namespace sbx
