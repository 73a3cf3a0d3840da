// Starts the real terraserve binary on loopback and talks to it over gRPC.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"

namespace terraserve {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using testing::ServerProcess;

HealthCheckResponse::ServingStatus Check(const std::string& addr,
                                         const std::string& service,
                                         grpc::Status* status) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  *status = stub->Check(&ctx, req, &resp);
  return resp.status();
}

TEST(ServerHealthTest, ServesHealthAndStopsCleanlyOnSigterm) {
  ASSERT_OK_AND_ASSIGN(
      auto server,
      ServerProcess::Start(
          {"--shutdown_grace=2", "--model_dir=" + testing::TestModelDir()}));
  grpc::Status status;
  EXPECT_EQ(Check(server->address(), "", &status),
            HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Check(server->address(), "terraserve.v1.TextGeneration", &status),
            HealthCheckResponse::SERVING);

  Check(server->address(), "no.such.Service", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  auto cli = testing::RunCommand(
      {TERRASERVE_CLI_BIN, "--addr=" + server->address(), "health"},
      absl::Seconds(20));
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("SERVING"), std::string::npos) << cli.output;

  EXPECT_EQ(server->StopWith(SIGTERM, absl::Seconds(20)), 0)
      << server->ReadLog();
}

TEST(ServerHealthTest, BadModelDirectoriesExitNonZeroWithClearMessages) {
  auto missing = testing::RunCommand(
      {TERRASERVE_SERVER_BIN, "--port=0", "--metrics_port=-1",
       "--model_dir=/nonexistent/model"},
      absl::Seconds(30));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("cannot open /nonexistent/model/config.json"),
            std::string::npos)
      << missing.output;
}

TEST(ServerHealthTest, BadFlagExitsNonZeroWithMessage) {
  auto result = testing::RunCommand({TERRASERVE_SERVER_BIN, "--port=70000"},
                                    absl::Seconds(20));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--port must be in [0, 65535]"),
            std::string::npos)
      << result.output;
  result = testing::RunCommand({TERRASERVE_SERVER_BIN, "--kv_cache_dtype=fp8"},
                               absl::Seconds(20));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--kv_cache_dtype must be f32 or bf16"),
            std::string::npos)
      << result.output;
}

TEST(ServerHealthTest, HelpDescribesFlags) {
  auto result =
      testing::RunCommand({TERRASERVE_SERVER_BIN, "--help"}, absl::Seconds(20));
  for (const char* flag :
       {"--model_dir", "--host", "--port", "--metrics_port"}) {
    EXPECT_NE(result.output.find(std::string(flag).substr(2)),
              std::string::npos)
        << flag;
  }
}

}  // namespace
}  // namespace terraserve
