// terraserve-load against the real server: bounded closed- and open-loop runs
// finish with every request OK and a JSON report.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/testing/server_process.h"

namespace terraserve {
namespace {

TEST(LoadTest, ClosedAndOpenLoopRunsComplete) {
  auto server = testing::ServerProcess::Start(
      {"--model_dir=" + testing::TestModelDir(), "--log_requests=false"});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string json = "/tmp/terraserve-load-test.json";
  for (const std::string mode : {"--concurrency=8", "--rate=50"}) {
    auto r = testing::RunCommand(
        {TERRASERVE_LOAD_BIN, "--addr=" + (*server)->address(), mode,
         "--requests=24", "--duration_s=60", "--prompt_tokens=4:32",
         "--output_tokens=4:16", "--vocab=1000", "--json_out=" + json},
        absl::Seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    nlohmann::json j = nlohmann::json::parse(std::ifstream(json));
    EXPECT_EQ(j["requests_ok"], 24) << r.output;
    EXPECT_GT(j["tokens_per_s"].get<double>(), 0);
    EXPECT_GT(j["ttft_ms"]["p90"].get<double>(), 0);
  }
  std::remove(json.c_str());
}

}  // namespace
}  // namespace terraserve
