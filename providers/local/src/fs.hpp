// SPDX-License-Identifier: Apache-2.0
#pragma once

// The local provider's filesystem side as plain functions over a `sandbox_view` and the store
// paths, so that the runtime's member functions forward to them in one line and tests can
// drive them against a hand-made view. Not installed.

#include "internal.hpp"

#include <sbx/files.hpp>
#include <sbx/info.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::local_impl::fs {

// Files inside a live sandbox (files.cpp). Every path is absolute inside the sandbox and is
// resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) under `open_root(v)`, so no
// path or symlink inside the sandbox leads out. Files and directories created from the host
// belong to the sandbox's root (`v.root_uid`, `v.root_gid`).
// Errors: invalid_request (relative path, a directory where a file is expected or the other
// way round, "/" as a target of remove or rename), not_found (no such path), quota_exceeded
// (no space), internal (anything else; the message carries errno's text).
//
// Semantics worth knowing: write_file and upload replace a file atomically (a temp file in
// the same dir, then rename), so the result is a new inode owned by the sandbox's root with
// the requested mode, and a symlink at the target is replaced, never written through.
// stat/list_dir do not follow the last component (lstat). upload and download copy symlinks
// as symlinks (targets verbatim), preserve modes and mtimes, skip devices, FIFOs and sockets,
// and download drops set-id bits and skips /proc, /sys and other kernel filesystems. A
// destination directory that exists as a symlink below the top is refused (invalid_request),
// never followed.

result<std::string> read_file(sandbox_view const& v, std::string_view path);
result<void> read_file(sandbox_view const& v, std::string_view path, byte_sink const& sink);
result<void> write_file(sandbox_view const& v, std::string_view path, std::string_view data, write_options const& o);
result<void> write_file(sandbox_view const& v, std::string_view path, byte_source const& source, write_options const& o);
result<std::vector<file_info>> list_dir(sandbox_view const& v, std::string_view path);
result<file_info> stat(sandbox_view const& v, std::string_view path);
result<bool> exists(sandbox_view const& v, std::string_view path);
result<void> make_dir(sandbox_view const& v, std::string_view path);
result<void> remove(sandbox_view const& v, std::string_view path, bool recursive);
result<void> rename(sandbox_view const& v, std::string_view from, std::string_view to);
result<void> upload(sandbox_view const& v, std::string_view local_path, std::string_view remote_path);
result<void> download(sandbox_view const& v, std::string_view remote_path, std::string_view local_path);

// The store (volumes.cpp): ids, a lock per kind of object, live sandboxes.

/// Ids of volumes and snapshots: 1-64 of [A-Za-z0-9._-], not starting with '.'.
bool valid_store_id(std::string_view id);
/// `<prefix>-<12 random hex digits>`.
std::string new_store_id(std::string_view prefix);
/// An exclusive flock on `dir/.lock` (creating `dir`), held while the fd lives.
result<unique_fd> lock_store(std::filesystem::path const& dir);
/// Bytes of the regular files and symlinks below `p` (apparent sizes).
std::uint64_t tree_bytes(std::filesystem::path const& p);

/// A sandbox whose supervisor is alive, as its state.json (written by the runtime) says.
struct live_sandbox {
  std::string id;
  std::filesystem::path dir;
  pid_t init_pid = -1;
  std::string upper;                ///< the overlay upper dir as the runtime recorded it
  std::vector<std::string> lowers;  ///< the overlay lower dirs, top first
};
std::vector<live_sandbox> live_sandboxes(store_paths const& p);
/// The mountinfo root field (path inside the mounted filesystem) of every mount `pid` sees.
std::vector<std::string> mount_roots(pid_t pid);

// Volumes (volumes.cpp). Errors: invalid_request (bad name; delete of a volume a live
// sandbox mounts), already_exists (the name is taken), not_found (no such id).
result<volume_info> create_volume(store_paths const& p, volume_request const& r);
result<std::vector<volume_info>> list_volumes(store_paths const& p, bool with_usage);
result<void> delete_volume(store_paths const& p, std::string_view id);

// Snapshots (snapshots.cpp). Errors: not_found, already_exists (the name is taken),
// invalid_request (delete of a snapshot something stacks on or boots from).
struct snapshot_source {
  std::string sandbox_id;
  std::filesystem::path upper;                    ///< the sandbox's overlay upper dir (host path)
  std::vector<std::filesystem::path> lowers;      ///< what it sat on, top first, image last
};
result<snapshot_info> snapshot(store_paths const& p, snapshot_source const& s, std::string_view name);
result<std::vector<snapshot_info>> list_snapshots(store_paths const& p);
result<void> delete_snapshot(store_paths const& p, std::string_view id);

}  // namespace sbx::local_impl::fs
