// SPDX-License-Identifier: Apache-2.0
#pragma once

// Provider types for the capability-contract tests (tests/static, tests/compile_fail):
// `with_marker<P, Cap>` is a fake provider with exactly one marker more than `P`, so a
// compile_fail case and its compiling twin differ by that marker alone; `core_provider` (in
// fake_provider.hpp) defines only the operations every provider has, so a case can claim a marker and define
// part of what it needs, and `detail::check_claims` must reject it.

#include <sbx/provider.hpp>

#include "fake_provider.hpp"

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sbx::test {

namespace detail {
template <class Provider, class Cap>
struct with_marker_impl;
template <class... Caps, class Cap>
struct with_marker_impl<fake_provider<Caps...>, Cap> {
  using type = fake_provider<Caps..., Cap>;
};
}  // namespace detail

/// The fake provider `Provider` (a `fake_provider<...>`) plus the marker `Cap`.
template <class Provider, class Cap>
using with_marker = typename detail::with_marker_impl<Provider, Cap>::type;


}  // namespace sbx::test
