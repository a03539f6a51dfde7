// SPDX-License-Identifier: Apache-2.0
#pragma once

// cgroup v1, v2 and hybrid hosts, detected at run time. Shared by the library (gc, OOM
// counters, host_report) and the supervisor (create, limits, attach, freeze, remove).
// Plain std only: the supervisor links neither fmt nor the core library.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sbx::local_impl::cg {

/// Where each controller lives on this host.
struct layout {
  // v1 mount point per controller; empty when the controller is not mounted as v1.
  std::string memory_v1, pids_v1, cpu_v1, freezer_v1;
  // our own cgroup path within each v1 hierarchy ("/" or "/process_api/...")
  std::string memory_self, pids_self, cpu_self, freezer_self;
  std::string v2_mount;          ///< the cgroup2 mount point, empty if none
  std::string v2_self;           ///< our own path in the v2 hierarchy
  std::vector<std::string> v2_controllers;  ///< controllers available at the v2 root
  bool memsw = false;            ///< v1 memory.memsw.* exist (swap accounting)

  bool v2_has(std::string const& c) const;
  /// "v1", "v2", "hybrid" or "none".
  std::string kind() const;
};

/// Reads /proc/self/mountinfo and /proc/self/cgroup.
layout detect();

/// One sandbox's cgroups: every directory it is attached to, and which file says what.
struct group {
  std::vector<std::string> dirs;   ///< attach to all of them (cgroup.procs)
  std::string memory_dir;          ///< empty: no memory controller
  bool memory_v2 = false;
  std::string pids_dir, cpu_dir, freezer_dir;
  bool pids_v2 = false, cpu_v2 = false, freezer_v2 = false;
};

/// What a sandbox asks for. pids is always set.
struct limits {
  std::optional<std::uint64_t> memory_bytes;
  std::optional<double> cpus;
  std::uint32_t pids_max = 1024;
};

/// Whether this host can enforce each limit (as the current user), and why not.
struct support {
  bool memory = false, pids = false, cpu = false, freezer = false;
  std::string why_not;  ///< one sentence naming what is missing
};
support can(layout const& l);

/// Creates the cgroups of sandbox `id` and writes `lim`. On failure returns a message naming
/// the file and errno's text and removes what it made.
std::string create(layout const& l, std::string const& id, limits const& lim, group& out);
/// Writes `lim` into the group's files (memory, pids, cpu). Used by create() and when a warm
/// sandbox is claimed (its group was made with the default limits). "" or a message.
std::string set_limits(layout const& l, group const& g, limits const& lim);
/// Writes `pid` into every cgroup.procs. Returns an error message or "".
std::string attach(group const& g, pid_t pid);
/// Moves the calling (single-threaded) process into the group's v1 cgroups (`enter`) or back
/// into its own cgroups of those hierarchies (`leave`). Writing "0" to a v1 `tasks` file
/// moves only the caller and skips the global threadgroup lock, whose RCU grace period makes
/// a cgroup.procs write cost milliseconds; a process cloned in between is born inside.
std::string enter_v1(layout const& l, group const& g);
std::string leave_v1(layout const& l, group const& g);
/// Attaches `pid` to the group's v2 cgroup, if it has one.
std::string attach_v2(layout const& l, group const& g, pid_t pid);
/// Freezes (true) or thaws (false) and waits until the kernel says it is done. "" or a message.
std::string freeze(group const& g, bool frozen);
/// The memory controller's OOM-kill counter; 0 when unknown.
std::uint64_t oom_kills(group const& g);
/// Kills what is left in the cgroups (SIGKILL), then removes the directories, retrying while
/// the kernel still reports them busy (up to `budget_ms`). Returns the dirs it could not remove.
std::vector<std::string> remove(group const& g, int budget_ms = 2000);

}  // namespace sbx::local_impl::cg
