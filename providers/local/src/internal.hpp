// SPDX-License-Identifier: Apache-2.0
#pragma once

// What the parts of the local provider share. Not installed; nothing outside
// providers/local includes it.
//
// Store layout under the state dir (`local::configuration().state_dir`):
//   sandboxes/<id>/    one running (or crashed) sandbox: supervisor socket, pid files,
//                      config, upper/ and work/ of its overlay, event log
//   images/<name>/     image root filesystems; images/default is built by scripts/setup
//   volumes/<id>/      volume.json + data/ (bind-mounted into sandboxes)
//   snapshots/<id>/    snapshot.json + layer/ (a captured upper dir, an overlay lower layer)

#include <sbx/providers/local.hpp>

#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace sbx::local_impl {

/// An owned file descriptor.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) { reset(); fd_ = std::exchange(o.fd_, -1); }
    return *this;
  }
  ~unique_fd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept { if (fd_ >= 0) ::close(fd_); fd_ = fd; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// The store's paths.
struct store_paths {
  std::filesystem::path root;
  std::filesystem::path sandboxes() const { return root / "sandboxes"; }
  std::filesystem::path sandbox(std::string_view id) const { return sandboxes() / std::string(id); }
  std::filesystem::path images() const { return root / "images"; }
  std::filesystem::path volumes() const { return root / "volumes"; }
  std::filesystem::path volume(std::string_view id) const { return volumes() / std::string(id); }
  std::filesystem::path volume_data(std::string_view id) const { return volume(id) / "data"; }
  std::filesystem::path snapshots() const { return root / "snapshots"; }
  std::filesystem::path snapshot(std::string_view id) const { return snapshots() / std::string(id); }
};

/// How the host reaches a live sandbox.
struct sandbox_view {
  std::string id;
  pid_t init_pid = -1;   ///< host pid of the sandbox's pid 1
  uid_t root_uid = 0;    ///< host uid that is root inside the sandbox
  gid_t root_gid = 0;
  std::filesystem::path dir;  ///< sandboxes/<id>
};

/// The live sandbox behind a handle. Errors: not_found (gone or never existed).
/// Defined with the runtime (local.cpp).
result<sandbox_view> view(local const& provider, local::handle const& h);

/// The store paths of a provider. Defined with the runtime (local.cpp).
store_paths const& paths(local const& provider);

/// An O_PATH directory fd of the sandbox's root as its processes see it, for openat2 with
/// RESOLVE_IN_ROOT (so no path or symlink inside can lead out). Defined in files.cpp.
result<unique_fd> open_root(sandbox_view const& v);

/// The overlay lower dirs to boot snapshot `id` from, top first, ending with the image's
/// root filesystem. Errors: not_found. Defined in snapshots.cpp.
result<std::vector<std::filesystem::path>> snapshot_lowers(store_paths const& p, std::string_view id);

}  // namespace sbx::local_impl
