// SPDX-License-Identifier: Apache-2.0
#pragma once

// The runtime's own internals: the provider's shared state, one connection to a sandbox's
// supervisor, and the exec functions (exec.cpp). Not installed.

#include "cgroups.hpp"
#include "internal.hpp"

#include <sbx/providers/local.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::local_impl {

/// What this host offers, detected once per provider.
struct host_info {
  bool privileged = false;      ///< euid 0: shifted uid ranges, idmapped image mounts
  bool userns = false;          ///< user namespaces can be created
  cg::layout cgroups;
  cg::support limits;
  std::uint64_t ram_bytes = 0;
  unsigned cpus = 1;
  int cap_last = 40;
};

/// One process's connection to one sandbox's supervisor (shared by copies of a handle).
struct connection {
  std::string id;
  std::filesystem::path dir;
  unique_fd ctl;   ///< control requests, one at a time (ctl_mu)
  unique_fd chan;  ///< exec requests to the agent; any thread may send
  std::mutex ctl_mu;
  sandbox_view view;
  cg::group group;
  bool session = false;
  std::map<std::string, std::string> labels;
  std::chrono::system_clock::time_point created;
  std::atomic<bool> released{false};
};

/// The connection behind a handle. Errors: not_found (released or never attached).
result<connection*> conn_of(local::handle const& h);

/// A control request/reply on `c`. Errors: not_found (the sandbox is gone), or the kind the
/// supervisor replied with.
struct ctl_reply {
  std::int64_t a = 0, b = 0;
};
result<ctl_reply> control(connection& c, std::uint32_t type, std::int64_t arg = 0);

/// The precompiled seccomp program (raw sock_filter records), built once per process.
result<std::string_view> seccomp_program();

/// The error for a sandbox that went away under us.
error gone(std::string_view id);

result<exec_result> run(connection& c, exec_request const& r);
result<process> start(connection& c, exec_request const& r);
result<pty> start_pty(connection& c, pty_request const& r);

/// Names a sandbox's environment never takes, from the host or from a request.
bool forbidden_env(std::string_view name);

}  // namespace sbx::local_impl
