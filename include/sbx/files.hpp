// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sbx {

enum class file_type : std::uint8_t { regular, directory, symlink, other };

/// What `stat` and `list` say about a path inside a sandbox.
struct file_info {
  std::string path;             ///< absolute path inside the sandbox
  std::string name;             ///< last component
  file_type type = file_type::regular;
  std::uint64_t size = 0;
  std::uint32_t mode = 0;       ///< permission bits, e.g. 0644
  std::chrono::system_clock::time_point modified;
  std::string link_target;      ///< for symlinks
};

/// Options for `write_file`.
struct write_options {
  std::uint32_t mode = 0644;
  bool create_parents = true;   ///< mkdir -p the parent first
};

/// Receives a file's bytes piece by piece (streamed download). Return an error to stop.
using byte_sink = std::function<result<void>(std::string_view)>;
/// Fills `buffer` with the next piece of a file to upload; returns how many bytes it wrote,
/// 0 at the end. Return an error to stop.
using byte_source = std::function<result<std::size_t>(std::span<char> buffer)>;

}  // namespace sbx
