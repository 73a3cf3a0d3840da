// Three servers behind a client-side round_robin channel; one is stopped with
// SIGTERM mid-run. Its in-flight streams finish (drain), the others take the
// new calls, and no request fails except for UNAVAILABLE answers that the
// client retries.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "terraserve/v1/generation.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace terraserve {
namespace {

TEST(ScaleOutTest, RoundRobinSurvivesADrainingReplica) {
  std::vector<std::unique_ptr<testing::ServerProcess>> servers;
  std::vector<std::string> addrs;
  for (int i = 0; i < 3; ++i) {
    auto s = testing::ServerProcess::Start(
        {"--model_dir=" + testing::TestModelDir(), "--shutdown_grace=30",
         "--log_requests=false"});
    ASSERT_TRUE(s.ok()) << s.status();
    addrs.push_back((*s)->address());
    servers.push_back(std::move(*s));
  }
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  auto channel =
      grpc::CreateCustomChannel("ipv4:" + absl::StrJoin(addrs, ","),
                                grpc::InsecureChannelCredentials(), args);
  auto stub = v1::TextGeneration::NewStub(channel);

  std::atomic<int> ok{0}, retried{0}, failed{0}, started{0};
  auto worker = [&] {
    for (int r = 0; r < 6; ++r) {
      ++started;
      for (int attempt = 0;; ++attempt) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
        v1::GenerateRequest req;
        req.set_text("Scale out");
        req.mutable_stopping()->set_max_new_tokens(48);
        req.mutable_stopping()->set_ignore_eos(true);
        auto reader = stub->GenerateStream(&ctx, req);
        v1::GenerateStreamResponse m;
        bool final = false;
        while (reader->Read(&m)) final |= m.has_final();
        grpc::Status s = reader->Finish();
        if (s.ok() && final) {
          ++ok;
          break;
        }
        // UNAVAILABLE: the replica is draining or its connection closed.
        // CANCELLED with gRPC's own message: a call that reached the transport
        // in the instant the server shut down, cancelled by the library before
        // any handler ran (nothing was generated). Both are safe to retry on
        // another replica.
        const bool library_cancel =
            s.error_code() == grpc::StatusCode::CANCELLED &&
            s.error_message() == "CANCELLED";
        if ((s.error_code() == grpc::StatusCode::UNAVAILABLE ||
             library_cancel) &&
            attempt < 20) {
          ++retried;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        ++failed;
        ADD_FAILURE() << s.error_code() << ": " << s.error_message();
        break;
      }
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < 6; ++i) workers.emplace_back(worker);
  while (started < 12)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(servers[0]->StopWith(SIGTERM, absl::Seconds(60)),
            0);  // drains, exits 0
  for (auto& w : workers) w.join();
  EXPECT_EQ(ok.load(), 36);
  EXPECT_EQ(failed.load(), 0);
  RecordProperty("retried", retried.load());
}

}  // namespace
}  // namespace terraserve
