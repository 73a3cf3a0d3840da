// Fault injection against the real terraserve binary on loopback: clients that
// vanish mid-stream or never read, 1 ms deadlines, bursts past the queue,
// floods of invalid requests, garbage on the port, SIGTERM under load and
// broken model directories. After every fault the server must be healthy,
// give the same tokens for a fixed seed, hold no KV blocks and no requests,
// and have leaked no threads or file descriptors.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "terraserve/v1/generation.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace terraserve {
namespace {

namespace fs = std::filesystem;
using testing::MetricSample;
using testing::ProcessStats;
using testing::ScrapeMetrics;
using testing::ServerProcess;
using v1::GenerateRequest;
using v1::GenerateStreamResponse;

// Runs `fn(i)` for i in [0, n) on `threads` threads.
void ParallelFor(int n, int threads, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i; (i = next++) < n;) fn(i);
    });
  }
  for (auto& t : pool) t.join();
}

// Counts of gRPC status codes, filled from many threads.
class CodeCounter {
 public:
  void Add(grpc::StatusCode code) {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_[code];
  }
  std::string ToString() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (auto [code, n] : counts_) absl::StrAppend(&out, code, ":", n, " ");
    return out;
  }
  std::map<grpc::StatusCode, int> counts() {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }

 private:
  std::mutex mu_;
  std::map<grpc::StatusCode, int> counts_;
};

GenerateRequest Prompt(const std::string& text, int max_new) {
  GenerateRequest r;
  r.set_text(text);
  r.mutable_stopping()->set_max_new_tokens(max_new);
  r.mutable_stopping()->set_ignore_eos(true);
  return r;
}

void SetDeadline(grpc::ClientContext* ctx, std::chrono::milliseconds ms) {
  ctx->set_deadline(std::chrono::system_clock::now() + ms);
}

class FaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = ServerProcess::Start(
        {"--model_dir=" + testing::TestModelDir(), "--max_queued_requests=4",
         "--max_running_sequences=6", "--max_batch_tokens=64"});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
    auto stub = NewStub();
    // Warm up the transport and the callback thread pool before the baseline.
    ParallelFor(32, 8, [&](int) { Probe(stub.get()); });
    reference_ = Probe(stub.get());
    ASSERT_FALSE(reference_.empty());
    auto stats = testing::ReadProcessStats(server_->pid());
    ASSERT_TRUE(stats.ok()) << stats.status();
    baseline_ = *stats;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = NewStub();
  }
  void TearDown() override { ExpectRecovered(); }

  static std::unique_ptr<v1::TextGeneration::Stub> NewStub() {
    return v1::TextGeneration::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  // Token ids of a fixed-seed sampled continuation; empty on error. The
  // server answers RESOURCE_EXHAUSTED ("retry later") while its queue still
  // holds late arrivals of a fault's calls, so like a well-behaved client the
  // probe retries that for up to 10 s.
  static std::vector<int32_t> Probe(v1::TextGeneration::Stub* stub) {
    std::vector<int32_t> ids;
    grpc::StatusCode code = grpc::StatusCode::OK;
    for (int i = 0; i < 100; ++i) {
      if (ProbeOnce(stub, &ids, &code)) return ids;
      if (code != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
      usleep(100'000);
    }
    return {};
  }

  static bool ProbeOnce(v1::TextGeneration::Stub* stub,
                        std::vector<int32_t>* ids, grpc::StatusCode* code) {
    GenerateRequest r = Prompt("A fixed probe", 12);
    r.mutable_sampling()->set_temperature(0.8);
    r.mutable_sampling()->set_seed(1234);
    grpc::ClientContext ctx;
    SetDeadline(&ctx, std::chrono::seconds(30));
    v1::GenerateResponse out;
    const grpc::Status status = stub->Generate(&ctx, r, &out);
    *code = status.error_code();
    if (!status.ok()) {  // said, so that a failed comparison can be explained
      std::fprintf(stderr, "probe failed: code %d: %s\n",
                   static_cast<int>(status.error_code()),
                   status.error_message().c_str());
      return false;
    }
    ids->assign(out.token_ids().begin(), out.token_ids().end());
    return true;
  }

  // The server is back to idle and healthy, with nothing leaked.
  void ExpectRecovered() {
    std::string metrics;
    for (int i = 0; i < 200; ++i) {  // up to 10 s for cancellations to land
      metrics = ScrapeMetrics(server_->metrics_port());
      if (MetricSample(metrics, "terraserve_num_requests_running") == 0 &&
          MetricSample(metrics, "terraserve_num_requests_waiting") == 0 &&
          MetricSample(metrics, "terraserve_kv_cache_usage_ratio") == 0)
        break;
      usleep(50'000);
    }
    EXPECT_EQ(MetricSample(metrics, "terraserve_num_requests_running"), 0);
    EXPECT_EQ(MetricSample(metrics, "terraserve_num_requests_waiting"), 0);
    EXPECT_EQ(MetricSample(metrics, "terraserve_kv_cache_usage_ratio"), 0);

    grpc::ClientContext ctx;
    SetDeadline(&ctx, std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse health;
    auto health_stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
    ASSERT_TRUE(health_stub->Check(&ctx, {}, &health).ok());
    EXPECT_EQ(health.status(), grpc::health::v1::HealthCheckResponse::SERVING);
    EXPECT_EQ(Probe(stub_.get()), reference_);

    // gRPC's executor grows its pool when its threads are slow (more so under
    // ASan) and keeps them; a leak per request (most faults run 20-300 times)
    // would be far more than this slack.
    constexpr int kSlack = 8;
    ProcessStats now{};
    for (int i = 0; i < 50; ++i) {
      now = *testing::ReadProcessStats(server_->pid());
      if (now.threads <= baseline_.threads + kSlack &&
          now.open_fds <= baseline_.open_fds + kSlack)
        break;
      usleep(100'000);
    }
    EXPECT_LE(now.threads, baseline_.threads + kSlack);
    EXPECT_LE(now.open_fds, baseline_.open_fds + kSlack);
  }

  static ServerProcess* server_;
  static std::vector<int32_t> reference_;
  static ProcessStats baseline_;
  std::unique_ptr<v1::TextGeneration::Stub> stub_;
};
ServerProcess* FaultTest::server_ = nullptr;
std::vector<int32_t> FaultTest::reference_;
ProcessStats FaultTest::baseline_;

TEST_F(FaultTest, ClientsThatDisconnectMidStream) {
  CodeCounter codes;
  ParallelFor(24, 4, [&](int i) {
    // Half cancel their call, half drop their whole channel (connection).
    auto stub = i % 2 ? NewStub() : nullptr;
    auto* s = stub ? stub.get() : stub_.get();
    grpc::ClientContext ctx;
    SetDeadline(&ctx, std::chrono::seconds(60));
    auto reader = s->GenerateStream(&ctx, Prompt("Disconnect me", 200));
    GenerateStreamResponse m;
    for (int k = 0; k < 2 + i % 3 && reader->Read(&m);) ++k;
    ctx.TryCancel();
    while (reader->Read(&m)) {
    }
    codes.Add(reader->Finish().error_code());
  });
  EXPECT_EQ(codes.counts()[grpc::StatusCode::CANCELLED], 24);
}

TEST_F(FaultTest, ClientsThatNeverReadDoNotBlockOthers) {
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<GenerateStreamResponse>>>
      readers;
  for (int i = 0; i < 4; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    SetDeadline(contexts.back().get(), std::chrono::seconds(60));
    readers.push_back(stub_->GenerateStream(contexts.back().get(),
                                            Prompt("Never read me", 400)));
  }
  // A well-behaved client still gets its answer while the others never read.
  GenerateRequest r = Prompt("I read my replies", 16);
  grpc::ClientContext ctx;
  SetDeadline(&ctx, std::chrono::seconds(30));
  v1::GenerateResponse out;
  grpc::Status s = stub_->Generate(&ctx, r, &out);
  ASSERT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
  EXPECT_EQ(out.token_ids_size(), 16);
  for (size_t i = 0; i < readers.size(); ++i) {
    contexts[i]->TryCancel();
    GenerateStreamResponse m;
    while (readers[i]->Read(&m)) {
    }
    EXPECT_FALSE(readers[i]->Finish().ok());
  }
}

TEST_F(FaultTest, OneMillisecondDeadlines) {
  CodeCounter codes;
  ParallelFor(40, 4, [&](int i) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, std::chrono::milliseconds(1));
    if (i % 2) {
      v1::GenerateResponse out;
      codes.Add(
          stub_->Generate(&ctx, Prompt("Too late", 64), &out).error_code());
    } else {
      auto reader = stub_->GenerateStream(&ctx, Prompt("Too late", 64));
      GenerateStreamResponse m;
      while (reader->Read(&m)) {
      }
      codes.Add(reader->Finish().error_code());
    }
  });
  // The small queue may still hold earlier expired requests when a new one
  // arrives, so some are refused outright; none may succeed or fail otherwise.
  auto counts = codes.counts();
  EXPECT_GT(counts[grpc::StatusCode::DEADLINE_EXCEEDED], 0);
  EXPECT_EQ(counts[grpc::StatusCode::DEADLINE_EXCEEDED] +
                counts[grpc::StatusCode::RESOURCE_EXHAUSTED],
            40)
      << codes.ToString();
}

TEST_F(FaultTest, BurstBeyondTheQueueLosesNothingAccepted) {
  CodeCounter codes;
  std::atomic<int> complete{0};
  ParallelFor(32, 32, [&](int) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, std::chrono::seconds(60));
    auto reader = stub_->GenerateStream(&ctx, Prompt("Burst", 16));
    GenerateStreamResponse m;
    int tokens = 0;
    bool final = false;
    while (reader->Read(&m)) {
      tokens += m.tokens_size();
      final |= m.has_final();
    }
    grpc::Status s = reader->Finish();
    codes.Add(s.error_code());
    if (s.ok() && final && tokens == 16) ++complete;
  });
  auto counts = codes.counts();
  EXPECT_GT(counts[grpc::StatusCode::OK], 0);
  EXPECT_GT(counts[grpc::StatusCode::RESOURCE_EXHAUSTED], 0);
  EXPECT_EQ(counts[grpc::StatusCode::OK] +
                counts[grpc::StatusCode::RESOURCE_EXHAUSTED],
            32);
  EXPECT_EQ(complete.load(), counts[grpc::StatusCode::OK]);
}

TEST_F(FaultTest, FloodOfInvalidRequests) {
  const std::function<void(GenerateRequest&)> bad[] = {
      [](GenerateRequest& r) { r.clear_input(); },
      [](GenerateRequest& r) { r.mutable_sampling()->set_top_p(1.5); },
      [](GenerateRequest& r) { r.mutable_token_ids()->add_ids(-5); },
      [](GenerateRequest& r) { r.mutable_sampling()->set_temperature(-3); },
      [](GenerateRequest& r) { r.mutable_sampling()->set_top_k(-1); },
      [](GenerateRequest& r) {
        r.mutable_stopping()->set_max_new_tokens(1 << 30);
      },
  };
  CodeCounter codes;
  ParallelFor(300, 4, [&](int i) {
    GenerateRequest r = Prompt("fine", 4);
    bad[i % 6](r);
    grpc::ClientContext ctx;
    SetDeadline(&ctx, std::chrono::seconds(30));
    v1::GenerateResponse out;
    grpc::Status s = stub_->Generate(&ctx, r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << "case " << i % 6 << ": " << s.error_message();
    codes.Add(s.error_code());
  });
  EXPECT_EQ(codes.counts()[grpc::StatusCode::INVALID_ARGUMENT], 300)
      << codes.ToString();
}

TEST_F(FaultTest, GarbageBytesOnTheGrpcPort) {
  std::mt19937 rng(7);
  ParallelFor(20, 4, [&](int i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server_->grpc_port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    std::string junk = i % 2 ? "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" : "";
    for (int k = 0; k < 4096; ++k) junk.push_back(char(i * 131 + k * 7));
    (void)!write(fd, junk.data(), junk.size());
    close(fd);
  });
}

// Outside the shared server: these stop or never start one.
TEST(FaultDrainTest, SigtermUnderLoadFinishesEveryAcceptedStream) {
  auto server = ServerProcess::Start(
      {"--model_dir=" + testing::TestModelDir(), "--shutdown_grace=60"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::TextGeneration::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  std::atomic<int> started{0}, finished{0};
  std::vector<std::thread> clients;
  // Long enough that the streams are still decoding when the late call comes,
  // on a fast machine too: once they finish, gRPC's own shutdown cancels new
  // calls (CANCELLED) before our handlers see them.
  const int kTokens = 300;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      grpc::ClientContext ctx;
      SetDeadline(&ctx, std::chrono::seconds(120));
      auto reader =
          stub->GenerateStream(&ctx, Prompt("Drain under load", kTokens + i));
      GenerateStreamResponse m;
      int tokens = 0;
      bool final = false;
      if (reader->Read(&m)) {
        ++started;
        tokens += m.tokens_size();
      }
      while (reader->Read(&m)) {
        tokens += m.tokens_size();
        final |= m.has_final();
      }
      EXPECT_TRUE(reader->Finish().ok());
      if (final && tokens == kTokens + i) ++finished;
    });
  }
  while (started < 8) usleep(1000);
  // Connected before the signal, so that the polls below need no new
  // connection to a stopping server.
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse h;
    EXPECT_TRUE(health->Check(&ctx, {}, &h).ok());
  }
  std::thread stopper(
      [&] { EXPECT_EQ((*server)->StopWith(SIGTERM, absl::Seconds(120)), 0); });
  // Once health reports NOT_SERVING the server is draining (it starts to
  // refuse before it reports), and the streams are still in flight.
  bool draining = false;
  for (int polls = 0; polls < 10'000 && !draining; ++polls) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, std::chrono::seconds(10));
    grpc::health::v1::HealthCheckResponse h;
    draining = health->Check(&ctx, {}, &h).ok() &&
               h.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    if (!draining) usleep(1000);
  }
  EXPECT_TRUE(draining) << "health never reported NOT_SERVING";
  // Arrivals after SIGTERM are refused, never half-served.
  grpc::ClientContext late;
  SetDeadline(&late, std::chrono::seconds(10));
  v1::GenerateResponse out;
  grpc::Status s = stub->Generate(&late, Prompt("Too late", 8), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  for (auto& c : clients) c.join();
  stopper.join();
  EXPECT_EQ(finished.load(), 8);
}

// Copies the bundled model to a temporary directory, breaks it with `damage`,
// and expects the server to refuse to start with `message` and exit code 1.
void ExpectBrokenModelRejected(
    const std::function<void(const fs::path&)>& damage,
    const std::string& message) {
  fs::path dir = fs::temp_directory_path() /
                 absl::StrCat("terraserve-broken-", getpid(), "-", rand());
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"})
    fs::copy_file(fs::path(testing::TestModelDir()) / f, dir / f);
  damage(dir);
  auto r =
      testing::RunCommand({TERRASERVE_SERVER_BIN, "--port=0",
                           "--metrics_port=-1", "--model_dir=" + dir.string()},
                          absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  fs::remove_all(dir);
}

TEST(FaultModelTest, TruncatedWeightsFile) {
  ExpectBrokenModelRejected(
      [](const fs::path& dir) {
        fs::resize_file(dir / "model.safetensors",
                        fs::file_size(dir / "model.safetensors") / 2);
      },
      "model.safetensors");
}

TEST(FaultModelTest, WeightsOfTheWrongShape) {
  ExpectBrokenModelRejected(
      [](const fs::path& dir) {
        std::ifstream in(dir / "config.json");
        std::string config((std::istreambuf_iterator<char>(in)), {});
        const std::string from = "\"d_ff\": 1024", to = "\"d_ff\": 2048";
        ASSERT_NE(config.find(from), std::string::npos);
        config.replace(config.find(from), from.size(), to);
        std::ofstream(dir / "config.json") << config;
      },
      "shape");
}

TEST(FaultModelTest, MissingTokenizer) {
  ExpectBrokenModelRejected(
      [](const fs::path& dir) { fs::remove(dir / "tokenizer.model"); },
      "tokenizer.model");
}

}  // namespace
}  // namespace terraserve
