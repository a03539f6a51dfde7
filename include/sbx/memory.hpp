// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/result.hpp>

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace sbx {

/// An amount of memory in bytes. Parsed from "1280 MiB", "1 GiB", "1.5GB", "512k", "1048576".
///
/// Grammar: `[space] digits [. digits] [space] [unit] [space]`, where space is spaces or tabs
/// (and, at the ends, any ASCII whitespace). A bare number is bytes. Units, matched without
/// regard to case ("gib", "GIB" and "GiB" are the same):
/// - bytes: `B`, `byte`, `bytes`;
/// - powers of 1024: `KiB MiB GiB TiB PiB EiB`, the Kubernetes spellings `Ki Mi Gi Ti Pi Ei`, and
///   the bare letters `K M G T P E` as in `docker --memory 512m` (Kubernetes reads bare `M` as
///   10^6; sbx follows docker);
/// - powers of 1000: `kB MB GB TB PB EB` (so `512mb` is 512,000,000 bytes, not docker's 512 MiB).
/// A fraction is allowed when the result is a whole number of bytes ("1.5 GiB" is 1610612736,
/// computed exactly; "0.3 B" is refused). Refused, as invalid_request: empty text, a sign
/// ("-1 GiB"), a point without digits on both sides, scientific notation ("1e3": ambiguous with
/// the exa unit `E`), an unknown unit ("5 parsecs"), anything after the unit, and more than
/// 2^64 - 1 bytes ("16 EiB").
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
