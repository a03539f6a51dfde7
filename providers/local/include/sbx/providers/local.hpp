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
namespace local_impl { struct access; }

/// The embedded default provider: real isolation on this Linux machine (user, pid, mount,
/// uts, ipc, cgroup and net namespaces; an overlay root over an image; cgroup limits;
/// capability drop, no_new_privs and seccomp), with no account and no network needed.
/// Each sandbox has a supervisor process that outlives its creator, so a duration-lifetime
/// sandbox can be reattached with `connect(id)` from another process. Container-grade, not
/// VM-grade: the kernel is shared. See docs/providers/local.md.
///
///     sbx::client<sbx::local> c;                         // state in $SBX_STATE_DIR or the default
///     SBX_TRY(box, c.create(sbx::request<sbx::local>{}.memory("256 MiB")));
class local {
 public:
  using provider_concept = provider_tag;
  static constexpr std::string_view name = "local";
  static constexpr auto capabilities =
      sbx::capabilities<cap::hostname_allowlist, cap::cidr_allowlist, cap::secret_injection, cap::snapshots,
                        cap::volumes, cap::port_exposure, cap::pause_resume, cap::pty, cap::kernel_session,
                        cap::custom_image, cap::network_update>;

  /// Where and how sandboxes are kept. Defaults come from the environment.
  struct config {
    /// Sandboxes, volumes, snapshots, images. Empty: $SBX_STATE_DIR, else /var/lib/sbx as
    /// root, else $XDG_RUNTIME_DIR/sbx.
    std::string state_dir;
    /// The default image's root filesystem. Empty: <state_dir>/images/default.
    std::string default_image;
    /// The supervisor binary. Empty: $SBX_SUPERVISOR, else next to the library's install.
    std::string supervisor_path;
    /// Warm sandboxes kept ready by this provider (0: none; unset: $SBX_WARM_POOL, else 0).
    /// create() claims one when the request fits their shape (the default image, no volumes,
    /// snapshot, hostname or disk_bytes) and applies its limits, environment, labels and
    /// lifetime; the pool refills in the background. A claimed sandbox is one that has run
    /// nothing: its own id and hostname, fresh upper dir, its own cgroups. Warm sandboxes are
    /// not listed, and die with this process like session sandboxes.
    std::optional<std::size_t> warm_pool;
  };

  /// Per-request options of the local provider.
  struct options {
    std::optional<std::string> hostname;  ///< the sandbox's hostname; default its id
    std::optional<std::uint32_t> pids_max;  ///< default 1024; the pids limit is always on
    std::optional<std::uint64_t> disk_bytes;  ///< tmpfs-backed upper layer of this size
    friend bool operator==(options const&, options const&) = default;
  };

  /// A connection the sandbox's network policy refused (see `network_events()`).
  struct network_event {
    std::string type;          ///< "network_policy_denied"
    std::string host;          ///< the name or address the sandbox asked for
    std::uint16_t port = 0;    ///< 0 for a DNS lookup of a name the policy does not allow
    std::chrono::system_clock::time_point time;
    std::string reason;        ///< why, e.g. "evil.test:443 matches none of the allowed hosts"
    std::string policy;        ///< the policy in force, e.g. "allow hosts [api.test] cidrs []"
    std::string via;           ///< "proxy" (HTTP(S)_PROXY clients), "transparent" or "dns"
  };

  /// The local provider's own sandbox operations: `box.network_events()`.
  template <class S>
  struct sandbox_methods {
    /// The connections the network policy refused so far, oldest first (an empty list for
    /// a sandbox that never had a policy engine). Errors: not_found (the sandbox is gone).
    result<std::vector<network_event>> network_events() {
      auto& s = static_cast<S&>(*this);
      return s.provider().network_events(s.handle());
    }
  };

  /// One sandbox: its id and this process's connection to its supervisor.
  struct handle {
    std::string id;
    std::shared_ptr<void> conn;  ///< provider-private; shared by copies of the handle
  };

  local();
  explicit local(config c);

  /// The effective configuration (defaults filled in).
  config const& configuration() const noexcept;
  /// What this host offers (namespaces, cgroup version, overlay in userns...), one line per item.
  std::vector<std::string> host_report() const;

  result<handle> create(common_request const& r, options const& o);
  result<handle> connect(std::string_view id);
  result<std::vector<sandbox_info>> list(std::map<std::string, std::string> const& labels);
  std::string id(handle const& h) const { return h.id; }
  result<sandbox_info> info(handle const& h);
  result<void> kill(handle const& h);
  void release(handle const& h) noexcept;
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

  result<void> update_network(handle const& h, network_policy const& n);
  result<std::vector<network_event>> network_events(handle const& h);
  result<snapshot_info> snapshot(handle const& h, std::string_view name);
  result<std::vector<snapshot_info>> list_snapshots();
  result<void> delete_snapshot(std::string_view id);
  result<volume_info> create_volume(volume_request const& r);
  result<std::vector<volume_info>> list_volumes();
  result<void> delete_volume(std::string_view id);
  result<std::string> expose_port(handle const& h, std::uint16_t port);
  result<void> pause(handle const& h);
  result<void> resume(handle const& h);
  result<pty> open_pty(handle const& h, pty_request const& r);
  result<sbx::repl> repl(handle const& h, std::string_view language);

  /// Removes what crashed sandboxes left behind (dead supervisors' mounts, cgroups, state
  /// dirs). Returns the ids it cleaned.
  result<std::vector<std::string>> gc();

 private:
  friend struct local_impl::access;  // the provider's own .cpp files reach state_ through it
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace sbx
