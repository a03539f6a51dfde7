// SPDX-License-Identifier: Apache-2.0
#pragma once

// Internal helpers around nlohmann::json shared by the remote providers. Not installed:
// only provider .cpp files include this (it pulls in nlohmann/json.hpp).

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace sbx::json_util {

using value = nlohmann::json;

/// Standard base64 (RFC 4648 section 4) with padding.
std::string base64_encode(std::string_view bytes);
/// Decodes standard base64; tolerates missing padding. None for a character outside the
/// alphabet or a bad length.
std::optional<std::string> base64_decode(std::string_view text);

/// Parses `text`; none instead of an exception when it is not JSON.
std::optional<value> parse(std::string_view text) noexcept;

/// `v[key]` as a string when it is one.
std::optional<std::string> get_string(value const& v, std::string_view key);
/// `v[key]` as an integer when it is a number holding one.
std::optional<long long> get_int(value const& v, std::string_view key);
/// `v[key]` as a bool when it is one.
std::optional<bool> get_bool(value const& v, std::string_view key);

/// Compact text of `v`; invalid UTF-8 in strings is replaced rather than thrown on.
std::string dump(value const& v);

}  // namespace sbx::json_util
