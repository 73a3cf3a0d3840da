// gtest helpers for absl::Status (abseil 20220623 ships none).
#ifndef TERRASERVE_TESTS_TESTING_STATUS_MATCHERS_H_
#define TERRASERVE_TESTS_TESTING_STATUS_MATCHERS_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/base/status_macros.h"

namespace terraserve::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// Matches a Status or StatusOr whose code is `code` and whose message matches
// `msg`.
MATCHER_P2(StatusIs, code, msg, "") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(msg, std::string(s.message()),
                                       result_listener);
}

}  // namespace terraserve::testing

#define EXPECT_OK(expr)                                    \
  EXPECT_TRUE(::terraserve::testing::GetStatus(expr).ok()) \
      << ::terraserve::testing::GetStatus(expr)
#define ASSERT_OK(expr)                                    \
  ASSERT_TRUE(::terraserve::testing::GetStatus(expr).ok()) \
      << ::terraserve::testing::GetStatus(expr)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(TS_STATUS_CONCAT_(ts_or_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(var, lhs, rexpr) \
  auto var = (rexpr);                               \
  ASSERT_TRUE(var.ok()) << var.status();            \
  lhs = std::move(var).value()

#endif  // TERRASERVE_TESTS_TESTING_STATUS_MATCHERS_H_
