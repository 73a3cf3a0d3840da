#include "server/server_options.h"

#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace terraserve::server {
namespace {

using ::terraserve::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ServerOptionsTest, DefaultsAreValid) {
  EXPECT_OK(ServerOptions().Validate());
}

TEST(ServerOptionsTest, RejectsBadFieldsNamingTheFlag) {
  struct Case {
    void (*mutate)(ServerOptions&);
    const char* flag;
  } cases[] = {
      {[](ServerOptions& o) { o.port = 70000; }, "--port"},
      {[](ServerOptions& o) { o.port = -1; }, "--port"},
      {[](ServerOptions& o) { o.metrics_port = -2; }, "--metrics_port"},
      {[](ServerOptions& o) { o.metrics_port = o.port; }, "--metrics_port"},
      {[](ServerOptions& o) { o.host = ""; }, "--host"},
      {[](ServerOptions& o) { o.shutdown_grace_seconds = -1; },
       "--shutdown_grace"},
      {[](ServerOptions& o) { o.max_receive_message_bytes = 10; },
       "--max_receive_message_bytes"},
  };
  for (const auto& c : cases) {
    ServerOptions o;
    c.mutate(o);
    EXPECT_THAT(o.Validate(), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr(c.flag)));
  }
}

}  // namespace
}  // namespace terraserve::server
