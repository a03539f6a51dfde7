// SPDX-License-Identifier: Apache-2.0
#pragma once

// The library side of the local provider's network policy: what create() adds to a
// sandbox (environment, the engine), update_network() and network_events(). Hooked into
// providers/local/src/local.cpp; the engine itself is sbx-netd (netd.cpp).

#include <sbx/providers/local.hpp>

#include <string>
#include <vector>

namespace sbx::local_impl::net {

/// What create() does for a request's network policy and secrets.
struct plan {
  bool engine = false;             ///< start sbx-netd (any mode but blocked, or secrets)
  std::vector<std::string> env;    ///< KEY=VALUE added to the sandbox's environment
  network_policy policy;
  struct bound { std::string placeholder, value; std::vector<std::string> hosts; };
  std::vector<bound> secrets;
};

/// Validates `r.network` and `r.secrets` and makes the placeholders. Errors: invalid_request
/// naming the bad entry.
result<plan> prepare(common_request const& r);

/// Starts the engine for a just-created sandbox and installs its CA bundle and resolv.conf.
/// Errors: create_failed (the engine could not start; it says why).
result<void> start(local& provider, local::handle const& h, plan const& p);

/// update_network: tells the running engine, or starts one (a sandbox created blocked).
result<void> update(local& provider, local::handle const& h, network_policy const& n);

/// The sandbox's `network_policy_denied` events, oldest first.
result<std::vector<local::network_event>> events(local& provider, local::handle const& h);

/// One line for host_report().
std::string report(local const& provider);

}  // namespace sbx::local_impl::net
