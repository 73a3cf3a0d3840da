// Scheduler behaviour with a scripted FakeEngine and a FakeClock, driven step
// by step (no threads, no sleeps) except where the test is about the thread.
#include "server/scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/mutex.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_engine.h"
#include "tests/testing/status_matchers.h"

namespace terraserve::server {
namespace {

using ::terraserve::testing::FakeClock;
using ::terraserve::testing::FakeEngine;
using ::terraserve::testing::StatusIs;
using ::testing::HasSubstr;

class RecordingSink final : public ResponseSink {
 public:
  void Push(GenerationUpdate u) override {
    MutexLock lock(&mu_);
    for (const auto& t : u.tokens) ids.push_back(t.id);
    text += u.text;
    if (u.first) ++firsts;
    if (u.final) final = u.final;
    if (!u.error.ok()) error = u.error;
    ++updates;
  }
  bool closed() const override { return closed_flag.load(); }
  bool done() {
    MutexLock lock(&mu_);
    return final.has_value() || !error.ok();
  }

  Mutex mu_;
  std::vector<int32_t> ids;
  std::string text;
  int firsts = 0, updates = 0;
  std::optional<FinalInfo> final;
  absl::Status error;
  std::atomic<bool> closed_flag{false};
};

// Records the latencies the scheduler reports (scheduler thread only).
class TimingObserver final : public SchedulerObserver {
 public:
  void OnAdmitted(absl::Duration d) override { queue.push_back(d); }
  void OnFirstToken(absl::Duration d) override { ttft.push_back(d); }
  void OnInterTokenLatency(absl::Duration d) override { itl.push_back(d); }
  void OnFailed(const GenerationRequest&, const absl::Status& s, int) override {
    failed.push_back(s.code());
  }
  std::vector<absl::Duration> queue, ttft, itl;
  std::vector<absl::StatusCode> failed;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void Make(FakeEngine::Script script, int blocks = 64,
            SchedulerOptions options = {}) {
    auto tok =
        engine::Tokenizer::Load(std::string(TERRASERVE_SOURCE_DIR) +
                                "/models/terraformer-tiny/tokenizer.model");
    ASSERT_OK(tok.status());
    tok_ = tok->get();
    engine_ = std::make_unique<FakeEngine>(std::move(*tok), blocks, 4,
                                           std::move(script));
    ASSERT_OK_AND_ASSIGN(scheduler_, Scheduler::Create(engine_.get(), options,
                                                       &observer_, &clock_));
  }

  std::unique_ptr<GenerationRequest> Request(int max_new,
                                             std::vector<int32_t> prompt = {
                                                 1, 5, 6}) {
    auto r = std::make_unique<GenerationRequest>();
    r->prompt = std::move(prompt);
    r->max_new_tokens = max_new;
    r->arrival = clock_.Now();
    return r;
  }

  // Every engine step takes exactly 1 ms of fake time.
  bool Step() {
    clock_.Advance(absl::Milliseconds(1));
    return scheduler_->RunOneStep();
  }
  void RunUntilIdle(int max_steps = 1000) {
    for (int i = 0; i < max_steps && Step(); ++i) {
    }
  }

  // Ids of "▁the", "▁cat" etc. in the bundled vocabulary.
  int32_t Id(const std::string& word) { return tok_->Encode(word).back(); }

  FakeClock clock_;
  TimingObserver observer_;
  const engine::Tokenizer* tok_ = nullptr;
  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, GeneratesUntilMaxNewTokens) {
  Make([this](engine::SequenceId, int i) {
    return Id(i % 2 ? " cat" : " the");
  });
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(scheduler_->Submit(Request(4), sink).status());
  RunUntilIdle();
  ASSERT_TRUE(sink->final.has_value());
  EXPECT_EQ(sink->final->reason, FinishReason::kLength);
  EXPECT_EQ(sink->final->completion_tokens, 4);
  EXPECT_EQ(sink->final->prompt_tokens, 3);
  EXPECT_EQ(sink->text, " the cat the cat");
  EXPECT_EQ(sink->firsts, 1);
  EXPECT_EQ(engine_->free_kv_blocks(), 64);  // blocks returned at once
}

TEST_F(SchedulerTest, EncoderDecoderRequestsAreEncodedOnAdmission) {
  Make([this](engine::SequenceId, int) { return Id(" a"); });
  auto sink = std::make_shared<RecordingSink>();
  auto r = Request(3, {1, 5, 6, 7, 0});
  r->source_tokens = 4;  // the encoder reads 1 5 6 7; the decoder starts at 0
  ASSERT_OK(scheduler_->Submit(std::move(r), sink).status());
  RunUntilIdle();
  ASSERT_EQ(engine_->encoded_.size(), 1u);
  EXPECT_EQ(engine_->encoded_.begin()->second,
            (std::vector<int32_t>{1, 5, 6, 7}));
  ASSERT_TRUE(sink->final.has_value());
  EXPECT_EQ(sink->final->completion_tokens, 3);
  EXPECT_EQ(sink->final->prompt_tokens, 5);

  // An encoder failure fails only that request, and frees its blocks.
  engine_->encode_status_ = absl::InvalidArgumentError("source too long");
  auto failed = std::make_shared<RecordingSink>();
  auto bad = Request(3, {1, 5, 0});
  bad->source_tokens = 2;
  ASSERT_OK(scheduler_->Submit(std::move(bad), failed).status());
  auto plain = std::make_shared<RecordingSink>();
  ASSERT_OK(scheduler_->Submit(Request(2), plain).status());
  RunUntilIdle();
  EXPECT_THAT(failed->error, StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("source too long")));
  ASSERT_TRUE(plain->final.has_value());
  EXPECT_EQ(plain->final->completion_tokens, 2);
  EXPECT_EQ(engine_->free_kv_blocks(), 64);
}

TEST_F(SchedulerTest, EosStopsUnlessIgnoredOrBeforeMinTokens) {
  Make([this](engine::SequenceId id, int i) {
    return i == 1 || id == 99 ? tok_->eos_id() : Id(" a");
  });
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(scheduler_->Submit(Request(10), sink).status());
  RunUntilIdle();
  ASSERT_TRUE(sink->final);
  EXPECT_EQ(sink->final->reason, FinishReason::kEosToken);
  EXPECT_EQ(sink->final->completion_tokens, 2);
  EXPECT_EQ(sink->text, " a");  // EOS has no text

  auto ignore = std::make_shared<RecordingSink>();
  auto r = Request(5);
  r->ignore_eos = true;
  ASSERT_OK(scheduler_->Submit(std::move(r), ignore).status());
  RunUntilIdle();
  EXPECT_EQ(ignore->final->reason, FinishReason::kLength);
  EXPECT_EQ(ignore->final->completion_tokens, 5);
}

TEST_F(SchedulerTest, MinNewTokensMasksEos) {
  // The script always wants EOS; with min_new_tokens the EOS logit is masked,
  // so the sampler picks another token until the minimum is reached.
  Make([this](engine::SequenceId, int) { return tok_->eos_id(); });
  auto sink = std::make_shared<RecordingSink>();
  auto r = Request(10);
  r->min_new_tokens = 3;
  ASSERT_OK(scheduler_->Submit(std::move(r), sink).status());
  RunUntilIdle();
  EXPECT_EQ(sink->final->reason, FinishReason::kEosToken);
  EXPECT_EQ(sink->final->completion_tokens, 4);
}

TEST_F(SchedulerTest, StopSequenceSplitAcrossTokensAndStopToken) {
  std::vector<int32_t> script;
  Make([&script, this](engine::SequenceId id, int i) {
    if (id == 1) return script[std::min<size_t>(i, script.size() - 1)];
    return i == 2 ? Id(" stop") : Id(" go");
  });
  script = tok_->Encode("hello world and more");
  ASSERT_GT(script.size(), 3u);
  auto sink = std::make_shared<RecordingSink>();
  auto r = Request(10);
  r->stop_sequences = {"lo wor"};  // spans the tokens of "hello" and "world"
  ASSERT_OK(scheduler_->Submit(std::move(r), sink).status());
  auto token_stop = std::make_shared<RecordingSink>();
  auto r2 = Request(10);
  r2->stop_token_ids = {Id(" stop")};
  ASSERT_OK(scheduler_->Submit(std::move(r2), token_stop).status());
  RunUntilIdle();
  ASSERT_TRUE(sink->final);
  EXPECT_EQ(sink->final->reason, FinishReason::kStopSequence);
  EXPECT_EQ(*sink->final->matched_stop_sequence, "lo wor");
  EXPECT_EQ(sink->text, " hel");
  ASSERT_TRUE(token_stop->final);
  EXPECT_EQ(token_stop->final->reason, FinishReason::kStopToken);
  EXPECT_EQ(*token_stop->final->matched_stop_token, Id(" stop"));
  EXPECT_EQ(token_stop->text, " go go");
}

TEST_F(SchedulerTest, FullQueueIsResourceExhausted) {
  SchedulerOptions o;
  o.max_queued_requests = 2;
  o.max_running_sequences = 1;  // the first goes to the free slot, two wait
  Make([this](engine::SequenceId, int) { return Id(" a"); }, 64, o);
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(scheduler_->Submit(Request(2), std::make_shared<RecordingSink>())
                  .status());
  }
  EXPECT_THAT(scheduler_->Submit(Request(2), std::make_shared<RecordingSink>()),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("queue is full")));
  Step();  // one admitted, two still waiting: no free slot, still full
  EXPECT_EQ(scheduler_->Load().running, 1);
  EXPECT_THAT(scheduler_->Submit(Request(2), std::make_shared<RecordingSink>()),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("queue is full")));
  RunUntilIdle();
  EXPECT_OK(scheduler_->Submit(Request(2), std::make_shared<RecordingSink>())
                .status());
}

TEST_F(SchedulerTest, NeverFittingRequestIsRejectedUpFront) {
  Make([this](engine::SequenceId, int) { return Id(" a"); }, /*blocks=*/4);
  EXPECT_THAT(
      scheduler_->Submit(Request(100), std::make_shared<RecordingSink>()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("exceed the KV cache")));
}

TEST_F(SchedulerTest, AdmissionWaitsForKvBlocksInArrivalOrder) {
  // 6 blocks of 4 positions; each request needs 3 + 9 = 12 positions = 3
  // blocks.
  Make([this](engine::SequenceId, int) { return Id(" a"); }, /*blocks=*/6);
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 3; ++i) {
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_OK(scheduler_->Submit(Request(9), sinks.back()).status());
  }
  Step();
  EXPECT_EQ(scheduler_->Load().running, 2);
  EXPECT_EQ(scheduler_->Load().waiting, 1);
  EXPECT_DOUBLE_EQ(scheduler_->Load().kv_usage, 1.0);
  RunUntilIdle();
  for (auto& s : sinks) EXPECT_EQ(s->final->completion_tokens, 9);
  // Steps take 1 ms: the first two are admitted at the first step, the third
  // when their blocks come back after their 9th token.
  EXPECT_EQ(sinks[0]->final->queue_time, absl::Milliseconds(1));
  EXPECT_EQ(sinks[2]->final->queue_time, absl::Milliseconds(10));
  EXPECT_EQ(engine_->free_kv_blocks(), 6);
}

TEST_F(SchedulerTest, CancelDeadlineAndDisconnectFreeTheSequence) {
  Make([this](engine::SequenceId, int) { return Id(" a"); }, /*blocks=*/1024);
  auto cancelled = std::make_shared<RecordingSink>();
  auto expired = std::make_shared<RecordingSink>();
  auto gone = std::make_shared<RecordingSink>();
  ASSERT_OK_AND_ASSIGN(RequestHandle h,
                       scheduler_->Submit(Request(1000), cancelled));
  auto r = Request(1000);
  r->deadline = clock_.Now() + absl::Milliseconds(30);
  ASSERT_OK(scheduler_->Submit(std::move(r), expired).status());
  ASSERT_OK(scheduler_->Submit(Request(1000), gone).status());
  Step();
  Step();
  EXPECT_GT(engine_->free_kv_blocks(), 0);
  scheduler_->Cancel(h);
  gone->closed_flag = true;
  clock_.Advance(absl::Milliseconds(40));
  Step();
  EXPECT_THAT(cancelled->error,
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("cancelled")));
  EXPECT_THAT(expired->error, StatusIs(absl::StatusCode::kDeadlineExceeded,
                                       HasSubstr("deadline")));
  EXPECT_TRUE(absl::IsCancelled(gone->error));
  EXPECT_EQ(engine_->free_kv_blocks(), 1024);
  EXPECT_FALSE(Step());  // nothing left
}

TEST_F(SchedulerTest, EngineFailureFailsTheBatchWithInternal) {
  Make([this](engine::SequenceId, int) { return Id(" a"); });
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(scheduler_->Submit(Request(5), sink).status());
  engine_->fail_next_step_ = true;
  RunUntilIdle();
  EXPECT_THAT(sink->error,
              StatusIs(absl::StatusCode::kInternal, HasSubstr("injected")));
  EXPECT_EQ(engine_->free_kv_blocks(), 64);
}

TEST_F(SchedulerTest, ContinuousBatchingAdmitsWhileOthersDecode) {
  Make([this](engine::SequenceId, int) { return Id(" a"); });
  auto first = std::make_shared<RecordingSink>();
  ASSERT_OK(scheduler_->Submit(Request(20), first).status());
  for (int i = 0; i < 5; ++i) Step();
  auto second = std::make_shared<RecordingSink>();
  ASSERT_OK(scheduler_->Submit(Request(3), second).status());
  Step();
  EXPECT_EQ(engine_->batch_sizes_.back(),
            2);  // joined the running batch at once
  RunUntilIdle();
  EXPECT_TRUE(second->final && first->final);
}

TEST_F(SchedulerTest, LatenciesComeFromTheClock) {
  Make([this](engine::SequenceId, int) { return Id(" a"); });
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_OK(scheduler_->Submit(Request(4), sink).status());
  clock_.Advance(absl::Milliseconds(5));  // waits 5 ms before the first step
  RunUntilIdle();
  ASSERT_TRUE(sink->final);
  EXPECT_EQ(sink->final->queue_time, absl::Milliseconds(6));
  EXPECT_EQ(sink->final->time_to_first_token, absl::Milliseconds(6));
  EXPECT_EQ(sink->final->total_time, absl::Milliseconds(9));
  EXPECT_THAT(observer_.queue, ::testing::ElementsAre(absl::Milliseconds(6)));
  EXPECT_THAT(observer_.ttft, ::testing::ElementsAre(absl::Milliseconds(6)));
  EXPECT_THAT(observer_.itl, ::testing::Each(absl::Milliseconds(1)));
  EXPECT_EQ(observer_.itl.size(), 3u);
}

TEST_F(SchedulerTest, CancelAndDeadlineWhileQueued) {
  // 3 blocks of 4 positions: one request of 3 + 9 positions at a time.
  Make([this](engine::SequenceId, int) { return Id(" a"); }, /*blocks=*/3);
  auto running = std::make_shared<RecordingSink>();
  auto cancelled = std::make_shared<RecordingSink>();
  auto expired = std::make_shared<RecordingSink>();
  ASSERT_OK(scheduler_->Submit(Request(9), running).status());
  ASSERT_OK_AND_ASSIGN(RequestHandle h,
                       scheduler_->Submit(Request(9), cancelled));
  auto r = Request(9);
  r->deadline = clock_.Now() + absl::Milliseconds(3);
  ASSERT_OK(scheduler_->Submit(std::move(r), expired).status());
  Step();
  EXPECT_EQ(scheduler_->Load().waiting, 2);
  scheduler_->Cancel(h);
  Step();
  EXPECT_THAT(cancelled->error,
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("cancelled")));
  EXPECT_TRUE(expired->error.ok());
  Step();  // t = 3 ms: the deadline has come while still queued
  EXPECT_THAT(expired->error, StatusIs(absl::StatusCode::kDeadlineExceeded,
                                       HasSubstr("deadline")));
  EXPECT_TRUE(cancelled->ids.empty() && expired->ids.empty());
  RunUntilIdle();
  EXPECT_EQ(running->final->completion_tokens, 9);
  EXPECT_THAT(observer_.failed,
              ::testing::ElementsAre(absl::StatusCode::kCancelled,
                                     absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(engine_->free_kv_blocks(), 3);
  EXPECT_EQ(scheduler_->Load().waiting, 0);
}

TEST_F(SchedulerTest, ManySequencesOfDifferentLengthsAllComplete) {
  SchedulerOptions o;
  o.max_running_sequences = 8;
  o.max_batch_tokens = 24;
  o.prefill_chunk_tokens = 8;
  Make([this](engine::SequenceId id,
              int i) { return Id((id + i) % 2 ? " cat" : " dog"); },
       /*blocks=*/64, o);
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 30; ++i) {
    std::vector<int32_t> prompt(1 + (i * 7) % 37, Id(" a"));
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_OK(
        scheduler_->Submit(Request(1 + (i * 5) % 17, prompt), sinks.back())
            .status());
  }
  RunUntilIdle();
  for (int i = 0; i < 30; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(sinks[i]->final);
    EXPECT_EQ(sinks[i]->final->completion_tokens, 1 + (i * 5) % 17);
    EXPECT_EQ(sinks[i]->final->prompt_tokens, 1 + (i * 7) % 37);
    ASSERT_FALSE(sinks[i]->ids.empty());
    // Handles are 1-based in submission order; the script alternates.
    EXPECT_EQ(sinks[i]->ids[0], Id((i + 1) % 2 ? " cat" : " dog"));
  }
  EXPECT_THAT(engine_->batch_sizes_, ::testing::Each(::testing::Le(8)));
  EXPECT_EQ(engine_->free_kv_blocks(), 64);
}

TEST_F(SchedulerTest, LongPromptIsNotStarvedByShortRequests) {
  SchedulerOptions o;
  o.max_running_sequences = 4;
  o.max_batch_tokens = 12;
  o.prefill_chunk_tokens = 8;
  Make([this](engine::SequenceId, int) { return Id(" a"); }, /*blocks=*/256, o);
  auto long_prompt = std::make_shared<RecordingSink>();
  ASSERT_OK(
      scheduler_
          ->Submit(Request(2, std::vector<int32_t>(96, Id(" a"))), long_prompt)
          .status());
  // A new short request arrives every step, more than the server can finish.
  int steps = 0;
  for (; steps < 200 && long_prompt->firsts == 0; ++steps) {
    ASSERT_OK(scheduler_->Submit(Request(30), std::make_shared<RecordingSink>())
                  .status());
    Step();
  }
  // 96 prompt tokens: each step the three decodes take 3 of the 12 tokens
  // and the long prompt, admitted first, gets a chunk of 8 from the rest.
  EXPECT_LE(steps, 96 / 8 + 1);
  RunUntilIdle();
  EXPECT_TRUE(long_prompt->final);
}

// Runs under TSan in CI: submissions, cancels and disconnects from several
// threads while the scheduler thread decodes.
TEST_F(SchedulerTest, ConcurrentSubmitCancelAndDisconnectFromManyThreads) {
  SchedulerOptions o;
  o.max_queued_requests = 16;
  o.max_running_sequences = 8;
  Make([this](engine::SequenceId, int) { return Id(" a"); }, /*blocks=*/64, o);
  scheduler_->Start();
  constexpr int kThreads = 4, kPerThread = 40;
  std::vector<std::shared_ptr<RecordingSink>> sinks(kThreads * kPerThread);
  std::atomic<int> refused{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kPerThread; ++i) {
        auto sink = std::make_shared<RecordingSink>();
        sinks[t * kPerThread + i] = sink;
        auto h = scheduler_->Submit(Request(1 + rng() % 12), sink);
        if (!h.ok()) {
          EXPECT_TRUE(absl::IsResourceExhausted(h.status())) << h.status();
          sinks[t * kPerThread + i] = nullptr;
          ++refused;
          continue;
        }
        if (rng() % 4 == 0) scheduler_->Cancel(*h);
        if (rng() % 5 == 0) sink->closed_flag = true;
        (void)scheduler_->Load();
      }
    });
  }
  // Cancels of odd handles, known or not yet, racing with each other.
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      for (int i = 0; i < 500; ++i)
        scheduler_->Cancel(1 + 2 * (rng() % (kThreads * kPerThread / 2 + 10)));
    });
  }
  for (auto& c : clients) c.join();
  scheduler_->Stop(absl::Now() + absl::Seconds(60));
  int finished = 0;
  for (auto& s : sinks) {
    if (s == nullptr) continue;  // refused at Submit
    ASSERT_TRUE(s->done());      // every accepted request got an answer
    MutexLock lock(&s->mu_);
    finished += s->final.has_value();
  }
  EXPECT_GT(finished, 0);
  EXPECT_EQ(engine_->free_kv_blocks(), 64);
  EXPECT_EQ(scheduler_->Load().running, 0);
  EXPECT_EQ(scheduler_->Load().waiting, 0);
  EXPECT_LT(refused.load(), kThreads * kPerThread);
}

TEST_F(SchedulerTest, ThreadDrainsOnStop) {
  Make([this](engine::SequenceId, int) { return Id(" a"); });
  scheduler_->Start();
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 8; ++i) {
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_OK(scheduler_->Submit(Request(16), sinks.back()).status());
  }
  scheduler_->Stop(absl::Now() + absl::Seconds(30));
  for (auto& s : sinks) {
    ASSERT_TRUE(s->done());
    EXPECT_TRUE(s->final.has_value()) << s->error;  // drained, not cut off
  }
  EXPECT_THAT(scheduler_->Submit(Request(1), std::make_shared<RecordingSink>()),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("draining")));
}

}  // namespace
}  // namespace terraserve::server
