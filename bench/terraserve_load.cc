// terraserve-load: gRPC load generator for a running terraserve (callback API
// client).
//
//   terraserve-load --addr=127.0.0.1:50051 --concurrency=16 --requests=200
//   terraserve-load --rate=5 --duration_s=60 --prompt_tokens=16:128
//   --output_tokens=32:64
//
// Fixed concurrency (closed loop: each finished stream starts the next) or
// fixed rate (open loop, Poisson arrivals). Prompts are random token ids with
// lengths drawn uniformly from --prompt_tokens=min:max; outputs ask for
// --output_tokens=min:max new tokens with EOS ignored. Reports throughput, TTFT
// and inter-token latency percentiles and errors by status code; --json_out
// writes them. Always bounded by
// --requests and --duration_s.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "server/grpc/status_util.h"
#include "terraserve/v1/generation.grpc.pb.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:50051",
          "Server address (loopback by default).");
ABSL_FLAG(int, concurrency, 4,
          "Streams in flight (closed loop); ignored with --rate.");
ABSL_FLAG(
    double, rate, 0,
    "Requests per second, Poisson arrivals (open loop); 0 = closed loop.");
ABSL_FLAG(int, requests, 100, "Stop after this many requests.");
ABSL_FLAG(double, duration_s, 300,
          "Stop starting requests after this many seconds.");
ABSL_FLAG(std::string, prompt_tokens, "16:64", "Prompt length range min:max.");
ABSL_FLAG(std::string, output_tokens, "32:64", "max_new_tokens range min:max.");
ABSL_FLAG(int, vocab, 1000, "Prompt token ids are drawn from [4, vocab).");
ABSL_FLAG(std::string, json_out, "", "Write results here as JSON.");
ABSL_FLAG(uint64_t, seed, 1, "Seed for lengths, prompts and arrivals.");

namespace terraserve::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::pair<int, int> Range(const std::string& s) {
  std::vector<std::string> p = absl::StrSplit(s, ':');
  int lo = 1, hi = 1;
  if (p.size() == 2 && absl::SimpleAtoi(p[0], &lo) &&
      absl::SimpleAtoi(p[1], &hi) && lo > 0 && hi >= lo) {
    return {lo, hi};
  }
  std::fprintf(stderr, "bad range '%s' (want min:max)\n", s.c_str());
  std::exit(2);
}

struct Results {
  absl::Mutex mu;
  std::vector<double> ttft_ms, itl_ms, e2e_ms;
  std::map<std::string, int> codes;
  int64_t tokens = 0;
};

class Load;

// One streaming call; reports into Results and tells the Load when done.
class Stream final
    : public grpc::ClientReadReactor<v1::GenerateStreamResponse> {
 public:
  Stream(v1::TextGeneration::Stub* stub, v1::GenerateRequest req,
         Results* results, Load* load);
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& s) override;

 private:
  grpc::ClientContext ctx_;
  v1::GenerateRequest req_;
  v1::GenerateStreamResponse msg_;
  Results* results_;
  Load* load_;
  Clock::time_point start_ = Clock::now(), last_;
  bool first_ = true;
  std::vector<double> itl_;
  double ttft_ = 0;
  int64_t tokens_ = 0;
};

class Load {
 public:
  explicit Load(v1::TextGeneration::Stub* stub)
      : stub_(stub), rng_(absl::GetFlag(FLAGS_seed)) {}

  // Starts one request if the budget allows; returns false when it is spent.
  bool StartOne() {
    v1::GenerateRequest req;
    {
      absl::MutexLock lock(&mu_);
      if (started_ >= absl::GetFlag(FLAGS_requests) || Clock::now() > deadline_)
        return false;
      ++started_;
      ++in_flight_;
      auto [plo, phi] = Range(absl::GetFlag(FLAGS_prompt_tokens));
      auto [olo, ohi] = Range(absl::GetFlag(FLAGS_output_tokens));
      const int n = std::uniform_int_distribution<int>(plo, phi)(rng_);
      for (int i = 0; i < n; ++i) {
        req.mutable_token_ids()->add_ids(std::uniform_int_distribution<int>(
            4, absl::GetFlag(FLAGS_vocab) - 1)(rng_));
      }
      req.mutable_stopping()->set_max_new_tokens(
          std::uniform_int_distribution<int>(olo, ohi)(rng_));
      req.mutable_stopping()->set_ignore_eos(true);
    }
    new Stream(stub_, std::move(req), &results_, this);
    return true;
  }

  void Finished() {
    const bool closed_loop = absl::GetFlag(FLAGS_rate) <= 0;
    if (closed_loop) StartOne();
    absl::MutexLock lock(&mu_);
    --in_flight_;
  }

  int Run() {
    deadline_ = Clock::now() + std::chrono::milliseconds(int64_t(
                                   absl::GetFlag(FLAGS_duration_s) * 1000));
    const auto t0 = Clock::now();
    if (absl::GetFlag(FLAGS_rate) > 0) {
      std::exponential_distribution<double> gap(absl::GetFlag(FLAGS_rate));
      auto next = Clock::now();
      while (true) {
        std::this_thread::sleep_until(next);
        if (!StartOne()) break;
        absl::MutexLock lock(&mu_);
        next += std::chrono::microseconds(int64_t(gap(rng_) * 1e6));
      }
    } else {
      for (int i = 0; i < absl::GetFlag(FLAGS_concurrency); ++i) StartOne();
    }
    {
      absl::MutexLock lock(&mu_);
      auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return in_flight_ == 0 && (started_ >= absl::GetFlag(FLAGS_requests) ||
                                   Clock::now() > deadline_);
      };
      while (!done())
        mu_.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(100));
    }
    return Report(std::chrono::duration<double>(Clock::now() - t0).count());
  }

 private:
  int Report(double seconds);

  v1::TextGeneration::Stub* stub_;
  Results results_;
  absl::Mutex mu_;
  std::mt19937_64 rng_;
  int started_ = 0, in_flight_ = 0;
  Clock::time_point deadline_;
};

Stream::Stream(v1::TextGeneration::Stub* stub, v1::GenerateRequest req,
               Results* results, Load* load)
    : req_(std::move(req)), results_(results), load_(load) {
  ctx_.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::minutes(10));
  stub->async()->GenerateStream(&ctx_, &req_, this);
  StartRead(&msg_);
  StartCall();
}

void Stream::OnReadDone(bool ok) {
  if (!ok) return;
  const auto now = Clock::now();
  if (msg_.tokens_size() > 0) {
    if (first_) {
      ttft_ = std::chrono::duration<double, std::milli>(now - start_).count();
      first_ = false;
    } else {
      itl_.push_back(
          std::chrono::duration<double, std::milli>(now - last_).count() /
          msg_.tokens_size());
    }
    last_ = now;
    tokens_ += msg_.tokens_size();
  }
  StartRead(&msg_);
}

void Stream::OnDone(const grpc::Status& s) {
  {
    absl::MutexLock lock(&results_->mu);
    ++results_->codes[terraserve::server::GrpcCodeName(s.error_code())];
    results_->tokens += tokens_;
    if (s.ok()) {
      results_->ttft_ms.push_back(ttft_);
      results_->itl_ms.insert(results_->itl_ms.end(), itl_.begin(), itl_.end());
      results_->e2e_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - start_)
              .count());
    }
  }
  Load* load = load_;
  delete this;
  load->Finished();
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * (v.size() - 1) + 0.5))];
}

int Load::Report(double seconds) {
  absl::MutexLock lock(&results_.mu);
  const int ok = results_.codes["OK"];
  nlohmann::json j;
  j["seconds"] = seconds;
  j["requests_ok"] = ok;
  j["requests_per_s"] = ok / seconds;
  j["tokens"] = results_.tokens;
  j["tokens_per_s"] = results_.tokens / seconds;
  for (auto [name, v] : {std::pair<const char*, std::vector<double>*>{
                             "ttft_ms", &results_.ttft_ms},
                         {"itl_ms", &results_.itl_ms},
                         {"e2e_ms", &results_.e2e_ms}}) {
    j[name] = {
        {"p50", Pct(*v, 0.5)}, {"p90", Pct(*v, 0.9)}, {"p99", Pct(*v, 0.99)}};
  }
  j["codes"] = results_.codes;
  std::printf("%d requests OK in %.1f s: %.2f req/s, %.1f tokens/s\n", ok,
              seconds, ok / seconds, results_.tokens / seconds);
  std::printf(
      "TTFT ms p50 %.1f p90 %.1f p99 %.1f | ITL ms p50 %.2f p90 %.2f p99 "
      "%.2f\n",
      Pct(results_.ttft_ms, .5), Pct(results_.ttft_ms, .9),
      Pct(results_.ttft_ms, .99), Pct(results_.itl_ms, .5),
      Pct(results_.itl_ms, .9), Pct(results_.itl_ms, .99));
  for (const auto& [code, n] : results_.codes)
    std::printf("  %s: %d\n", code.c_str(), n);
  if (!absl::GetFlag(FLAGS_json_out).empty())
    std::ofstream(absl::GetFlag(FLAGS_json_out)) << j.dump(2) << "\n";
  return ok > 0 ? 0 : 1;
}

}  // namespace
}  // namespace terraserve::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("gRPC load generator for terraserve.");
  absl::ParseCommandLine(argc, argv);
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_addr),
                                     grpc::InsecureChannelCredentials());
  auto stub = terraserve::v1::TextGeneration::NewStub(channel);
  terraserve::bench::Load load(stub.get());
  return load.Run();
}
