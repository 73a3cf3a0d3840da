// Soak: the real server under mixed streaming and unary load with
// cancellations, short deadlines and invalid requests for
// $TERRASERVE_SOAK_SECONDS (default 60). Checks that every accepted request
// that was not cancelled got all its tokens, that resident memory stops
// growing after warm-up (< 5%), that a fixed-seed request gives the same
// tokens at the end as at the start, and that the server ends idle. Writes
// the figures to $TERRASERVE_SOAK_REPORT (default soak_report.json).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "terraserve/v1/generation.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace terraserve {
namespace {

using testing::MetricSample;
using testing::ScrapeMetrics;
using testing::ServerProcess;
using v1::GenerateRequest;
using v1::GenerateStreamResponse;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

class SoakClient {
 public:
  explicit SoakClient(const std::string& address)
      : stub_(v1::TextGeneration::NewStub(grpc::CreateChannel(
            address, grpc::InsecureChannelCredentials()))) {}

  // Token ids of a fixed-seed sampled continuation.
  std::vector<int32_t> Probe() {
    GenerateRequest r = Request("The soak probe says", 16);
    r.mutable_sampling()->set_temperature(0.9);
    r.mutable_sampling()->set_seed(77);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    v1::GenerateResponse out;
    EXPECT_TRUE(stub_->Generate(&ctx, r, &out).ok());
    return {out.token_ids().begin(), out.token_ids().end()};
  }

  // One request of a random kind; records its outcome.
  void RunOne(std::mt19937& rng) {
    static const char* kPrompts[] = {
        "Once upon a time", "The meaning of life is",
        "Q: Why did the chicken cross the road?\nA:", "Never trust a",
        "In the beginning"};
    const int max_new = 1 + rng() % 48;
    GenerateRequest r = Request(kPrompts[rng() % 5], max_new);
    r.mutable_sampling()->set_temperature(rng() % 2 ? 0.0 : 0.8);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(60));
    const int kind = rng() % 20;
    std::string label;
    grpc::Status status;
    int tokens = 0;
    if (kind < 8) {  // stream to the end
      label = "stream";
      status = Stream(&ctx, r, -1, &tokens);
    } else if (kind < 14) {  // unary
      label = "unary";
      v1::GenerateResponse out;
      status = stub_->Generate(&ctx, r, &out);
      tokens = out.token_ids_size();
    } else if (kind < 17) {  // client cancels mid-stream
      label = "cancelled_stream";
      status = Stream(&ctx, r, rng() % 4, &tokens);
    } else if (kind < 19) {  // deadline that may fire at any point
      label = "short_deadline";
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(1 + rng() % 40));
      status = Stream(&ctx, r, -1, &tokens);
    } else {  // invalid
      label = "invalid";
      r.mutable_sampling()->set_top_p(3);
      v1::GenerateResponse out;
      status = stub_->Generate(&ctx, r, &out);
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_[label];
    ++codes_[status.error_code()];
    // Nothing accepted is lost: a successful call carries every token.
    if (status.ok() && tokens != max_new) ++lost_;
    if (label == "invalid" &&
        status.error_code() != grpc::StatusCode::INVALID_ARGUMENT)
      ++unexpected_;
    if (label != "invalid" && !status.ok() &&
        status.error_code() != grpc::StatusCode::CANCELLED &&
        status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
        status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED)
      ++unexpected_;
  }

  nlohmann::json Summary() {
    std::lock_guard<std::mutex> lock(mu_);
    nlohmann::json j;
    int total = 0;
    for (auto& [k, n] : requests_) {
      j["requests"][k] = n;
      total += n;
    }
    j["requests_total"] = total;
    for (auto& [code, n] : codes_) j["codes"][std::to_string(code)] = n;
    j["lost"] = lost_;
    j["unexpected_errors"] = unexpected_;
    return j;
  }
  int lost() {
    std::lock_guard<std::mutex> lock(mu_);
    return lost_;
  }
  int unexpected() {
    std::lock_guard<std::mutex> lock(mu_);
    return unexpected_;
  }

 private:
  static GenerateRequest Request(const std::string& text, int max_new) {
    GenerateRequest r;
    r.set_text(text);
    r.mutable_stopping()->set_max_new_tokens(max_new);
    r.mutable_stopping()->set_ignore_eos(true);
    return r;
  }
  // Reads the stream; after `cancel_after` messages (>= 0) cancels it.
  grpc::Status Stream(grpc::ClientContext* ctx, const GenerateRequest& r,
                      int cancel_after, int* tokens) {
    auto reader = stub_->GenerateStream(ctx, r);
    GenerateStreamResponse m;
    for (int n = 0; reader->Read(&m); ++n) {
      *tokens += m.tokens_size();
      if (n == cancel_after) ctx->TryCancel();
    }
    return reader->Finish();
  }

  std::unique_ptr<v1::TextGeneration::Stub> stub_;
  std::mutex mu_;
  std::map<std::string, int> requests_;
  std::map<int, int> codes_;
  int lost_ = 0, unexpected_ = 0;
};

TEST(SoakTest, MixedLoadWithCancellationsHoldsSteady) {
  const int seconds = EnvInt("TERRASERVE_SOAK_SECONDS", 60);
  const int clients = EnvInt("TERRASERVE_SOAK_CLIENTS", 6);
  auto server = ServerProcess::Start({"--model_dir=" + testing::TestModelDir(),
                                      "--max_queued_requests=8",
                                      "--max_running_sequences=8"});
  ASSERT_TRUE(server.ok()) << server.status();
  SoakClient client((*server)->address());
  const std::vector<int32_t> probe_start = client.Probe();
  ASSERT_FALSE(probe_start.empty());
  const auto t0 = std::chrono::steady_clock::now();
  const auto end = t0 + std::chrono::seconds(seconds);
  // RSS is compared from the end of warm-up: allocator arenas, gRPC pools and
  // oneDNN scratch grow for about the first 30 s (measured), then settle.
  const auto warm = t0 + std::min(std::chrono::seconds(seconds) / 2,
                                  std::max(std::chrono::seconds(seconds) / 5,
                                           std::chrono::seconds(30)));
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      while (std::chrono::steady_clock::now() < end) client.RunOne(rng);
    });
  }
  auto rss = [&] {
    return testing::ReadProcessStats((*server)->pid())->rss_bytes;
  };
  const int64_t rss_start = rss();
  std::this_thread::sleep_until(warm);
  const int64_t rss_warm = rss();
  // One sample every tenth of the run, to tell a leak (steady climb) from
  // allocator noise.
  std::vector<int64_t> samples;
  for (auto next = warm; (next += std::chrono::seconds(seconds) / 10) < end;) {
    std::this_thread::sleep_until(next);
    samples.push_back(rss());
  }
  for (auto& t : threads) t.join();
  const int64_t rss_end =
      testing::ReadProcessStats((*server)->pid())->rss_bytes;
  const std::vector<int32_t> probe_end = client.Probe();

  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = ScrapeMetrics((*server)->metrics_port());
    if (MetricSample(metrics, "terraserve_num_requests_running") == 0) break;
    usleep(50'000);
  }
  const double growth = double(rss_end - rss_warm) / double(rss_warm);
  nlohmann::json report = client.Summary();
  report["seconds"] = seconds;
  report["clients"] = clients;
  report["rss_bytes"] = {
      {"start", rss_start}, {"after_warmup", rss_warm}, {"end", rss_end}};
  report["rss_samples_after_warmup"] = samples;
  report["rss_growth_after_warmup"] = growth;
  report["probe_unchanged"] = probe_start == probe_end;
  report["generated_tokens"] =
      MetricSample(metrics, "terraserve_generation_tokens_total");
  const char* path = std::getenv("TERRASERVE_SOAK_REPORT");
  std::ofstream(path ? path : "soak_report.json") << report.dump(2) << "\n";
  std::cout << report.dump(2) << "\n";

  EXPECT_EQ(client.lost(), 0);
  EXPECT_EQ(client.unexpected(), 0);
  EXPECT_LT(growth, 0.05);
  EXPECT_EQ(probe_start, probe_end);
  EXPECT_EQ(MetricSample(metrics, "terraserve_num_requests_running"), 0);
  EXPECT_EQ(MetricSample(metrics, "terraserve_kv_cache_usage_ratio"), 0);
  EXPECT_EQ((*server)->StopWith(SIGTERM, absl::Seconds(60)), 0);
}

}  // namespace
}  // namespace terraserve
