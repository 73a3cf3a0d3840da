#include "server/grpc/status_util.h"

#include <gtest/gtest.h>

#include <string>

namespace terraserve::server {
namespace {

TEST(StatusUtilTest, MapsEveryCode) {
  for (int code = 0; code <= 16; ++code) {
    absl::Status s(static_cast<absl::StatusCode>(code), code == 0 ? "" : "msg");
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    if (code != 0) {
      EXPECT_EQ(g.error_message(), "msg");
    }
  }
}

TEST(StatusUtilTest, TruncatesLongMessages) {
  grpc::Status g =
      ToGrpcStatus(absl::InvalidArgumentError(std::string(5000, 'x')));
  EXPECT_EQ(g.error_message().size(), kMaxStatusMessageBytes);
  EXPECT_EQ(g.error_message().substr(kMaxStatusMessageBytes - 3), "...");
}

}  // namespace
}  // namespace terraserve::server
