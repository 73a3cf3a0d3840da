// Status propagation macros for absl::Status / absl::StatusOr.
// Abseil 20220623 (Debian 12) has no status_macros.h, so the project carries
// its own.
#ifndef TERRASERVE_ENGINE_BASE_STATUS_MACROS_H_
#define TERRASERVE_ENGINE_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TS_STATUS_CONCAT_INNER_(a, b) a##b
#define TS_STATUS_CONCAT_(a, b) TS_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (an absl::Status) is not OK.
#define TS_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status ts_status_ = (expr);      \
    if (!ts_status_.ok()) return ts_status_; \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status on error,
// otherwise moves the value into `lhs` (a declaration such as `auto x` or an
// existing lvalue).
#define TS_ASSIGN_OR_RETURN(lhs, rexpr)                                     \
  TS_ASSIGN_OR_RETURN_IMPL_(TS_STATUS_CONCAT_(ts_statusor_, __LINE__), lhs, \
                            rexpr)

#define TS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

#endif  // TERRASERVE_ENGINE_BASE_STATUS_MACROS_H_
