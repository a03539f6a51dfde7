// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/cap/cidr_allowlist.hpp>
#include <sbx/cap/custom_image.hpp>
#include <sbx/cap/hostname_allowlist.hpp>
#include <sbx/cap/kernel_session.hpp>
#include <sbx/cap/network_update.hpp>
#include <sbx/cap/pause_resume.hpp>
#include <sbx/cap/port_exposure.hpp>
#include <sbx/cap/pty.hpp>
#include <sbx/cap/secret_injection.hpp>
#include <sbx/cap/snapshots.hpp>
#include <sbx/cap/volumes.hpp>

#include <boost/hana/contains.hpp>
#include <boost/hana/set.hpp>
#include <boost/hana/type.hpp>

#include <array>
#include <bitset>
#include <cstddef>
#include <string_view>

namespace sbx {

/// A provider's capability set: `static constexpr auto capabilities = sbx::capabilities<cap::pty>;`
template <class... Caps>
constexpr auto capabilities = boost::hana::make_set(boost::hana::type_c<Caps>...);

/// Whether `Provider` claims `Cap`. The one place that asks Hana.
template <class Provider, class Cap>
constexpr bool has_capability_v =
    decltype(boost::hana::contains(Provider::capabilities, boost::hana::type_c<Cap>))::value;

/// The question all code asks: `requires sbx::supports<P, sbx::cap::pause_resume>`.
template <class Provider, class Cap>
concept supports = has_capability_v<Provider, Cap>;

/// How many capability markers there are.
inline constexpr std::size_t capability_count = 11;

/// Run-time view of a capability set, indexed by each marker's `bit`.
using capability_set = std::bitset<capability_count>;

/// The markers' names in bit order.
inline constexpr std::array<std::string_view, capability_count> capability_names = {
    cap::hostname_allowlist::name, cap::cidr_allowlist::name, cap::secret_injection::name,
    cap::snapshots::name,          cap::volumes::name,        cap::port_exposure::name,
    cap::pause_resume::name,       cap::pty::name,            cap::kernel_session::name,
    cap::custom_image::name,       cap::network_update::name};

/// `Provider`'s set as bits, for `any_sandbox::capabilities()` and listings.
template <class Provider>
capability_set capability_bits_of() {
  capability_set s;
  auto set_if = [&s]<class Cap>(Cap) { if constexpr (has_capability_v<Provider, Cap>) s.set(Cap::bit); };
  set_if(cap::hostname_allowlist{}); set_if(cap::cidr_allowlist{}); set_if(cap::secret_injection{});
  set_if(cap::snapshots{});          set_if(cap::volumes{});        set_if(cap::port_exposure{});
  set_if(cap::pause_resume{});       set_if(cap::pty{});            set_if(cap::kernel_session{});
  set_if(cap::custom_image{});      set_if(cap::network_update{});
  return s;
}

}  // namespace sbx
