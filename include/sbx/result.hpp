// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/error.hpp>

#include <boost/outcome/basic_result.hpp>
#include <boost/outcome/policy/base.hpp>
#include <boost/outcome/success_failure.hpp>

namespace sbx {
namespace detail {

[[noreturn]] void abort_bad_value_access(error const* e) noexcept;
[[noreturn]] void abort_bad_error_access() noexcept;

/// Accessing the value of a failed result prints the error and aborts: a bug in the
/// caller, never something to catch.
struct abort_on_bad_access : boost::outcome_v2::policy::base {
  template <class Impl> static constexpr void wide_value_check(Impl&& self) {
    if (!base::_has_value(static_cast<Impl&&>(self))) {
      // `self` as an lvalue: on an rvalue result (`f().value()`) the forwarded form would
      // yield an rvalue, whose address cannot be taken.
      if (base::_has_error(static_cast<Impl&&>(self))) abort_bad_value_access(&base::_error(self));
      abort_bad_value_access(nullptr);
    }
  }
  template <class Impl> static constexpr void wide_error_check(Impl&& self) {
    if (!base::_has_error(static_cast<Impl&&>(self))) abort_bad_error_access();
  }
  template <class Impl> static constexpr void wide_exception_check(Impl&& self) {
    if (!base::_has_exception(static_cast<Impl&&>(self))) abort_bad_error_access();
  }
};

}  // namespace detail

/// The value of an operation or the `error` that says why there is none.
template <class T>
using result = boost::outcome_v2::basic_result<T, error, detail::abort_on_bad_access>;

/// `return sbx::success();` from a `result<void>` function.
using boost::outcome_v2::success;

}  // namespace sbx

#define SBX_DETAIL_CAT2(a, b) a##b
#define SBX_DETAIL_CAT(a, b) SBX_DETAIL_CAT2(a, b)
#define SBX_DETAIL_TRY(tmp, var, ...)                                   \
  auto&& tmp = (__VA_ARGS__);                                           \
  if (!tmp) return std::move(tmp).assume_error();                       \
  auto var = std::move(tmp).assume_value()

/// `SBX_TRY(box, client.create(req));` declares `box` from a successful result, or returns
/// its error from the enclosing function (which must return a `result<U>`).
#define SBX_TRY(var, ...) SBX_DETAIL_TRY(SBX_DETAIL_CAT(sbx_try_, __LINE__), var, __VA_ARGS__)

/// `SBX_TRYV(box.kill());` returns the error of a failed result, ignoring a value.
#define SBX_TRYV(...)                                                              \
  do {                                                                             \
    auto&& sbx_tryv_ = (__VA_ARGS__);                                              \
    if (!sbx_tryv_) return std::move(sbx_tryv_).assume_error();                    \
  } while (false)
