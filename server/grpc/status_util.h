// The one place where absl::Status becomes grpc::Status (server/grpc layer).
#ifndef TERRASERVE_SERVER_GRPC_STATUS_UTIL_H_
#define TERRASERVE_SERVER_GRPC_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace terraserve::server {

// Maximum bytes of an error message sent to clients; longer ones are cut.
inline constexpr size_t kMaxStatusMessageBytes = 1024;

// Maps the code one to one (absl and gRPC share numeric values) and truncates
// the message to kMaxStatusMessageBytes.
grpc::Status ToGrpcStatus(const absl::Status& status);

// "OK", "CANCELLED", ... for a numeric gRPC status code; "UNKNOWN" outside
// 0..16.
inline const char* GrpcCodeName(int code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_GRPC_STATUS_UTIL_H_
