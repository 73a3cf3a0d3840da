// /metrics after real requests: the families and counts, promtool's lint, and a
// real Prometheus (Debian package) scraping the server on loopback.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "terraserve/v1/generation.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace terraserve {
namespace {

using testing::MetricSample;
using testing::RunCommand;
using testing::ScrapeMetrics;
using testing::ServerProcess;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ServerProcess::Start({"--model_dir=" + testing::TestModelDir()});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    auto stub = v1::TextGeneration::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
    for (int i = 0; i < 3; ++i) {
      grpc::ClientContext ctx;
      v1::GenerateRequest r;
      r.set_text("Count me");
      r.mutable_stopping()->set_max_new_tokens(5 + i);
      r.mutable_stopping()->set_ignore_eos(true);
      v1::GenerateResponse out;
      ASSERT_TRUE(stub->Generate(&ctx, r, &out).ok());
      generated_ += out.final().usage().completion_tokens();
      prompt_ += out.final().usage().prompt_tokens();
    }
    grpc::ClientContext ctx;
    v1::GenerateRequest bad;
    bad.set_text("");
    v1::GenerateResponse out;
    ASSERT_EQ(stub->Generate(&ctx, bad, &out).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  std::unique_ptr<ServerProcess> server_;
  int generated_ = 0, prompt_ = 0;
};

TEST_F(MetricsTest, CountsMatchWhatWasSent) {
  const std::string text = ScrapeMetrics(server_->metrics_port());
  EXPECT_EQ(MetricSample(text, "terraserve_generation_tokens_total"),
            generated_);
  EXPECT_EQ(generated_, 5 + 6 + 7);
  EXPECT_EQ(MetricSample(text, "terraserve_prompt_tokens_total"), prompt_);
  EXPECT_EQ(
      MetricSample(
          text,
          R"(terraserve_request_success_total{finished_reason="length"})"),
      3);
  EXPECT_EQ(MetricSample(
                text, R"(terraserve_request_failure_total{reason="invalid"})"),
            1);
  EXPECT_EQ(
      MetricSample(
          text,
          R"(terraserve_grpc_server_handled_total{grpc_code="OK",grpc_method="/terraserve.v1.TextGeneration/Generate"})"),
      3);
  EXPECT_EQ(MetricSample(text, "terraserve_time_to_first_token_seconds_count"),
            3);
  EXPECT_EQ(MetricSample(text, "terraserve_inter_token_latency_seconds_count"),
            generated_ - 3);
  EXPECT_EQ(MetricSample(text, "terraserve_request_generation_tokens_sum"),
            generated_);
  EXPECT_EQ(MetricSample(text, "terraserve_num_requests_running"), 0);
  EXPECT_EQ(MetricSample(text, "terraserve_kv_cache_usage_ratio"), 0);
  EXPECT_GT(MetricSample(text, "process_resident_memory_bytes"), 1e6);
  for (const char* family :
       {"terraserve_e2e_request_latency_seconds_bucket{le=\"0.001\"}",
        "terraserve_iteration_tokens_count", "terraserve_batch_size_count",
        "terraserve_request_queue_time_seconds_count"}) {
    EXPECT_GE(MetricSample(text, family), 0) << family;
  }
  EXPECT_NE(text.find("terraserve_info{"), std::string::npos);
  EXPECT_NE(
      text.find(
          "terraserve_iteration_duration_seconds_bucket{phase=\"decode\""),
      std::string::npos);
}

TEST_F(MetricsTest, CancelMidStreamFreesTheSequence) {
  auto stub = v1::TextGeneration::NewStub(grpc::CreateChannel(
      server_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::GenerateRequest r;
  r.set_text("Cancel me");
  r.mutable_stopping()->set_max_new_tokens(400);
  r.mutable_stopping()->set_ignore_eos(true);
  auto reader = stub->GenerateStream(&ctx, r);
  v1::GenerateStreamResponse m;
  ASSERT_TRUE(reader->Read(&m));
  EXPECT_EQ(MetricSample(ScrapeMetrics(server_->metrics_port()),
                         "terraserve_num_requests_running"),
            1);
  ctx.TryCancel();
  while (reader->Read(&m)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The scheduler drops the sequence at its next step and returns its KV
  // blocks.
  std::string text;
  for (absl::Time end = absl::Now() + absl::Seconds(20); absl::Now() < end;) {
    text = ScrapeMetrics(server_->metrics_port());
    if (MetricSample(text, "terraserve_num_requests_running") == 0) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(MetricSample(text, "terraserve_num_requests_running"), 0);
  EXPECT_EQ(MetricSample(text, "terraserve_kv_cache_usage_ratio"), 0);
  EXPECT_EQ(
      MetricSample(text,
                   R"(terraserve_request_failure_total{reason="cancelled"})"),
      1);
}

TEST_F(MetricsTest, PromtoolAcceptsTheExposition) {
  auto r = RunCommand(
      {"/bin/sh", "-c",
       absl::StrCat("curl -sf http://127.0.0.1:", server_->metrics_port(),
                    "/metrics | promtool check metrics")},
      absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(MetricsTest, RealPrometheusScrapesTheServer) {
  char dir_template[] = "/tmp/terraserve-prom-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  {
    std::ofstream config(dir + "/prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
           << "scrape_configs:\n  - job_name: terraserve\n    static_configs:\n"
           << "      - targets: ['127.0.0.1:" << server_->metrics_port()
           << "']\n";
  }
  const int port = FreePort();
  pid_t prom = fork();
  if (prom == 0) {
    int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    execl("/usr/bin/prometheus", "prometheus",
          ("--config.file=" + dir + "/prometheus.yml").c_str(),
          ("--storage.tsdb.path=" + dir + "/data").c_str(),
          ("--web.listen-address=127.0.0.1:" + std::to_string(port)).c_str(),
          nullptr);
    _exit(127);
  }
  const std::string api =
      absl::StrCat("http://127.0.0.1:", port, "/api/v1/query");
  auto query = [&api](const std::string& promql) {
    return RunCommand({"/usr/bin/curl", "-sfG", "--data-urlencode",
                       "query=" + promql, api},
                      absl::Seconds(5))
        .output;
  };
  bool up = false, tokens = false;
  for (absl::Time end = absl::Now() + absl::Seconds(60);
       absl::Now() < end && !(up && tokens);) {
    absl::SleepFor(absl::Milliseconds(500));
    up = std::regex_search(query("up{job=\"terraserve\"}"),
                           std::regex(R"("value":\[[0-9.]+,"1"\])"));
    tokens = std::regex_search(query("terraserve_generation_tokens_total > 0"),
                               std::regex(R"("value":\[[0-9.]+,"18"\])"));
  }
  kill(prom, SIGTERM);
  waitpid(prom, nullptr, 0);
  RunCommand({"/bin/rm", "-rf", dir}, absl::Seconds(10));
  EXPECT_TRUE(up) << "target never up";
  EXPECT_TRUE(tokens) << "terraserve_generation_tokens_total never reached 18";
}

}  // namespace
}  // namespace terraserve
