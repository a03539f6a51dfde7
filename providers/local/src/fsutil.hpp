// SPDX-License-Identifier: Apache-2.0
#pragma once

// Small filesystem helpers shared by the library and the supervisor. Plain std only.

#include <string>

namespace sbx::local_impl::fsu {

/// Removes `path` and everything below it without following symlinks and without crossing
/// into another filesystem (a mount point below `path` is left alone, never emptied).
/// Returns "" or a message naming the path and errno's text.
std::string remove_tree(std::string const& path);

/// Writes `data` to `path` through a temporary file and a rename, so readers see the old or
/// the new content, never a mix. Returns "" or a message.
std::string write_atomic(std::string const& path, std::string const& data, unsigned mode = 0600);

/// The whole content of a file; empty when it cannot be read.
std::string read_all(std::string const& path);

}  // namespace sbx::local_impl::fsu
