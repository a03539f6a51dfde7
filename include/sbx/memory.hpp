// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/result.hpp>

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace sbx {

/// An amount of memory in bytes. Parsed from "1280 MiB", "1 GiB", "1.5GB", "512k", "1048576":
/// binary units (KiB, MiB, GiB, TiB; also K, M, G, T as in `docker --memory`) are powers of
/// 1024, decimal units (kB, MB, GB, TB) powers of 1000; case of the unit does not matter except
/// that `b`/`B` both mean bytes. A bare number is bytes.
class memory {
 public:
  constexpr memory() = default;
  constexpr explicit memory(std::uint64_t bytes) noexcept : bytes_(bytes) {}

  static constexpr memory kib(std::uint64_t n) noexcept { return memory(n << 10); }
  static constexpr memory mib(std::uint64_t n) noexcept { return memory(n << 20); }
  static constexpr memory gib(std::uint64_t n) noexcept { return memory(n << 30); }

  /// Parses `text`. Errors: invalid_request, with a message that quotes `text` and says what
  /// is wrong (empty, negative, unknown unit, not a whole number of bytes, overflow).
  static result<memory> parse(std::string_view text);

  constexpr std::uint64_t bytes() const noexcept { return bytes_; }
  constexpr std::uint64_t mebibytes() const noexcept { return bytes_ >> 20; }

  /// The shortest exact spelling in binary units: "1 GiB", "1280 MiB", "1000 B".
  std::string to_string() const;

  friend constexpr auto operator<=>(memory, memory) noexcept = default;

 private:
  std::uint64_t bytes_ = 0;
};

}  // namespace sbx
