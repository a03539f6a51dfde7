// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/provider.hpp>
#include <sbx/sandbox.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sbx {
namespace detail {

struct no_request_methods {};

template <class P, class R>
struct request_methods_of { using type = no_request_methods; };
template <class P, class R>
  requires requires { typename P::template request_methods<R>; }
struct request_methods_of<P, R> { using type = typename P::template request_methods<R>; };

/// Records a request-building problem so that `create` reports it before sending anything.
void note_problem(common_request& r, error e);
/// "session" -> none; otherwise a duration. Problems are noted on `r`.
void set_lifetime(common_request& r, std::string_view text);
void set_memory(common_request& r, std::string_view text);

/// `unsupported` for the first field of `r` that `P` has no capability for; run by every
/// `create`, so a field set through `common_request` is refused, never dropped.
template <class P>
result<void> reject_unsupported(common_request const& r) {
  auto no = [](std::string_view cap, std::string_view field) -> result<void> {
    return make_unsupported(P::name, cap, field);
  };
  if constexpr (!supports<P, cap::custom_image>) if (r.image) return no(cap::custom_image::name, "image");
  if constexpr (!supports<P, cap::hostname_allowlist>) if (!r.network.hosts.empty()) return no(cap::hostname_allowlist::name, "network.hosts");
  if constexpr (!supports<P, cap::cidr_allowlist>) if (!r.network.cidrs.empty()) return no(cap::cidr_allowlist::name, "network.cidrs");
  if constexpr (!supports<P, cap::secret_injection>) if (!r.secrets.empty()) return no(cap::secret_injection::name, "secrets");
  if constexpr (!supports<P, cap::volumes>) if (!r.volumes.empty()) return no(cap::volumes::name, "volumes");
  if constexpr (!supports<P, cap::snapshots>) if (r.snapshot) return no(cap::snapshots::name, "snapshot");
  if constexpr (!supports<P, cap::port_exposure>) if (!r.ports.empty()) return no(cap::port_exposure::name, "ports");
  return success();
}

}  // namespace detail

/// What to create on provider `P`: the common fields, the gated ones only where `P` has the
/// capability (`request<deno>{}.allow_cidrs(...)` does not compile and names
/// `cap::cidr_allowlist`), and `P`'s own (`region(...)` on deno).
///
///     auto r = sbx::request<sbx::local>{}.memory("1 GiB").timeout("5m").env("MODE", "test");
///
/// A value that does not parse ("5 parsecs") is kept as a problem and `create` returns it as
/// invalid_request quoting the input; nothing is sent.
template <provider P>
class request : public detail::request_methods_of<P, request<P>>::type {
 public:
  /// Memory limit: "1 GiB", "768 MiB", "1.5GB".
  request& memory(std::string_view text) { detail::set_memory(common_, text); return *this; }
  request& memory(sbx::memory m) { common_.memory = m; return *this; }
  request& cpus(double n) { common_.cpus = n; return *this; }
  /// Lifetime: "session" (the default: destroyed with its handle) or a duration ("5m", "1h").
  request& timeout(std::string_view text) { detail::set_lifetime(common_, text); return *this; }
  request& timeout(std::chrono::milliseconds d) { common_.lifetime = d; return *this; }
  request& env(std::string name, std::string value) { common_.env[std::move(name)] = std::move(value); return *this; }
  request& label(std::string key, std::string value) { common_.labels[std::move(key)] = std::move(value); return *this; }
  /// No network at all (the default).
  request& block_network() { common_.network = network_policy::blocked(); return *this; }
  /// Egress like the host's, minus the host's own loopback services.
  request& open_network() { common_.network = network_policy::open(); return *this; }

  /// Only these hosts ("api.example.com", "*.example.com", "host:443", IP literals).
  /// Requires cap::hostname_allowlist.
  request& allow_hosts(std::vector<std::string> hosts)
    requires supports<P, cap::hostname_allowlist>
  { common_.network.kind = network_policy::mode::allow; append(common_.network.hosts, std::move(hosts)); return *this; }
  /// Only these address ranges ("10.0.0.0/8"). Requires cap::cidr_allowlist.
  request& allow_cidrs(std::vector<std::string> cidrs)
    requires supports<P, cap::cidr_allowlist>
  { common_.network.kind = network_policy::mode::allow; append(common_.network.cidrs, std::move(cidrs)); return *this; }
  /// A secret the sandbox uses without seeing it. Requires cap::secret_injection.
  request& secret(std::string name, std::string value, std::vector<std::string> hosts)
    requires supports<P, cap::secret_injection>
  { common_.secrets.push_back({std::move(name), std::move(value), std::move(hosts)}); return *this; }
  /// Mounts volume `id` at `path`. Requires cap::volumes.
  request& mount(std::string id, std::string path, bool readonly = false)
    requires supports<P, cap::volumes>
  { common_.volumes.push_back({std::move(id), std::move(path), readonly}); return *this; }
  /// Boots from a snapshot. Requires cap::snapshots.
  request& from_snapshot(std::string id)
    requires supports<P, cap::snapshots>
  { common_.snapshot = std::move(id); return *this; }
  /// Exposes `port` at creation (see `sandbox::expose_port`). Requires cap::port_exposure.
  request& expose(std::uint16_t port)
    requires supports<P, cap::port_exposure>
  { common_.ports.push_back(port); return *this; }
  /// Boots from `img` instead of the default image. Requires cap::custom_image.
  request& image(sbx::image img)
    requires supports<P, cap::custom_image>
  { common_.image = std::move(img); return *this; }

  common_request const& common() const noexcept { return common_; }
  common_request& common() noexcept { return common_; }
  typename P::options const& options() const noexcept { return options_; }
  typename P::options& options() noexcept { return options_; }

 private:
  static void append(std::vector<std::string>& to, std::vector<std::string> from) {
    for (auto& s : from) to.push_back(std::move(s));
  }
  common_request common_;
  typename P::options options_{};
};

/// The entry point for provider `P`: creates, connects to and lists sandboxes, and manages
/// what outlives them (volumes, snapshots). Thread-safe; copies share the provider's state.
///
///     sbx::client<sbx::local> c;
///     SBX_TRY(box, c.create(sbx::request<sbx::local>{}.memory("512 MiB")));
template <provider P>
class client {
  // Volumes and snapshot listings live here, not on sandbox<P>: check the claims here too.
  static_assert(detail::check_claims<P>());

 public:
  client() requires std::default_initializable<P> = default;
  explicit client(P p) : provider_(std::move(p)) {}

  /// Creates a sandbox. Errors: invalid_request (a bad field, before anything is sent),
  /// unsupported, auth_failed, quota_exceeded, create_failed, connection.
  result<sandbox<P>> create(request<P> const& r = {}) { return create(r.common(), r.options()); }
  /// Creates from the run-time form; fields `P` lacks are `unsupported`, naming the field.
  result<sandbox<P>> create(common_request const& r, typename P::options const& o = {}) {
    SBX_TRYV(validate(r));
    SBX_TRYV(detail::reject_unsupported<P>(r));
    SBX_TRY(h, provider_.create(r, o));
    return sandbox<P>(provider_, std::move(h), !r.lifetime.has_value());
  }
  /// Reattaches to a running sandbox by id, from any process. The handle does not kill it
  /// when destroyed. Errors: not_found, auth_failed, connection.
  result<sandbox<P>> connect(std::string_view id) {
    SBX_TRY(h, provider_.connect(id));
    return sandbox<P>(provider_, std::move(h), false);
  }
  /// Sandboxes whose labels include all of `labels`.
  result<std::vector<sandbox_info>> list(std::map<std::string, std::string> const& labels = {}) { return provider_.list(labels); }

  /// Requires cap::volumes. Errors: already_exists, invalid_request, quota_exceeded.
  result<volume_info> create_volume(volume_request const& r)
    requires supports<P, cap::volumes>
  { return provider_.create_volume(r); }
  result<std::vector<volume_info>> list_volumes()
    requires supports<P, cap::volumes>
  { return provider_.list_volumes(); }
  /// Errors: not_found, invalid_request (mounted by a running sandbox).
  result<void> delete_volume(std::string_view id)
    requires supports<P, cap::volumes>
  { return provider_.delete_volume(id); }
  /// Requires cap::snapshots.
  result<std::vector<snapshot_info>> list_snapshots()
    requires supports<P, cap::snapshots>
  { return provider_.list_snapshots(); }
  /// Errors: not_found.
  result<void> delete_snapshot(std::string_view id)
    requires supports<P, cap::snapshots>
  { return provider_.delete_snapshot(id); }

  P& provider() noexcept { return provider_; }

 private:
  P provider_;
};

}  // namespace sbx
