// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/duration.hpp>
#include <sbx/memory.hpp>
#include <sbx/result.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sbx {

/// Where a sandbox may connect.
struct network_policy {
  enum class mode : std::uint8_t {
    blocked,  ///< no network at all (the default)
    allow,    ///< only `hosts` and `cidrs`
    open,     ///< like the host's egress, without the host's own loopback services
  };
  mode kind = mode::blocked;
  std::vector<std::string> hosts;  ///< exact names, "*.example.com", "host:port", IP literals
  std::vector<std::string> cidrs;  ///< "10.0.0.0/8", "2001:db8::/32"

  static network_policy blocked() { return {}; }
  static network_policy open() { return {mode::open, {}, {}}; }
  static network_policy allow(std::vector<std::string> hosts, std::vector<std::string> cidrs = {}) {
    return {mode::allow, std::move(hosts), std::move(cidrs)};
  }
  friend bool operator==(network_policy const&, network_policy const&) = default;
};

/// A secret the sandbox can use without seeing: its env var `name` holds a placeholder that
/// the network layer replaces with `value` only in requests to `hosts`. Never logged or printed.
struct secret {
  std::string name;
  std::string value;
  std::vector<std::string> hosts;
};

/// A volume mounted into the sandbox at `mount_path`.
struct volume_mount {
  std::string id;
  std::string mount_path;
  bool readonly = false;
};

/// The root filesystem a sandbox boots from.
struct image {
  enum class kind_t : std::uint8_t { reference, rootfs };
  kind_t kind = kind_t::reference;
  std::string value;

  /// A provider's image name or registry reference ("python:3.12", "ubuntu-22.04").
  static image ref(std::string name) { return {kind_t::reference, std::move(name)}; }
  /// A root filesystem directory on this machine (the local provider).
  static image rootfs(std::string dir) { return {kind_t::rootfs, std::move(dir)}; }
  friend bool operator==(image const&, image const&) = default;
};

/// What to create, for any provider. `request<P>` is the typed front of the same data; this is
/// what `any_client` takes. Fields a provider lacks are rejected by `create` with
/// `unsupported`, naming the capability and the field; they are never dropped.
struct common_request {
  std::optional<sbx::image> image;                   ///< gated: cap::custom_image
  /// None: a `session` sandbox, destroyed with its handle. A duration: it outlives the handle
  /// (after `close()`) and is killed when the duration has passed since creation.
  std::optional<std::chrono::milliseconds> lifetime;
  std::map<std::string, std::string> env;
  network_policy network;                            ///< hosts gated by cap::hostname_allowlist, cidrs by cap::cidr_allowlist
  std::vector<secret> secrets;                       ///< gated: cap::secret_injection
  std::vector<volume_mount> volumes;                 ///< gated: cap::volumes
  std::optional<std::string> snapshot;               ///< boot from this snapshot; gated: cap::snapshots
  std::vector<std::uint16_t> ports;                  ///< to expose at creation; gated: cap::port_exposure
  std::map<std::string, std::string> labels;
  std::optional<sbx::memory> memory;
  std::optional<double> cpus;
  /// Errors found while the request was built (a bad memory string...). `create` returns the
  /// first as invalid_request before anything is sent.
  std::vector<error> problems;
};

/// Checks what every provider checks the same way: `problems`, env names, label keys, secret
/// names unique, mount paths absolute. Errors: invalid_request naming the field.
result<void> validate(common_request const& r);

}  // namespace sbx
