// SPDX-License-Identifier: Apache-2.0
#pragma once

// `EXPECT_THAT(r, succeeds())`, `succeeds_with(m)`, `fails_with(error_kind::not_found)`:
// what a result must hold, printed with the error's own text when it does not.

#include <sbx/result.hpp>

#include <gmock/gmock.h>

#include <ostream>

namespace sbx {
inline void PrintTo(error const& e, std::ostream* os) { *os << e.to_string(); }
inline void PrintTo(error_kind k, std::ostream* os) { *os << to_string(k); }
}  // namespace sbx

namespace sbx::test {

MATCHER(succeeds, "succeeds") {
  if (arg) return true;
  *result_listener << "failed with " << arg.error().to_string();
  return false;
}

MATCHER_P(succeeds_with, inner, negation ? "fails, or holds a value that does not match" : "succeeds with a matching value") {
  if (!arg) {
    *result_listener << "failed with " << arg.error().to_string();
    return false;
  }
  return testing::ExplainMatchResult(inner, arg.value(), result_listener);
}

MATCHER_P(fails_with, kind, std::string("fails with ") + std::string(sbx::to_string(kind))) {
  if (arg) {
    *result_listener << "succeeded";
    return false;
  }
  if (arg.error().kind() != kind) {
    *result_listener << "failed with " << arg.error().to_string();
    return false;
  }
  return true;
}

}  // namespace sbx::test
