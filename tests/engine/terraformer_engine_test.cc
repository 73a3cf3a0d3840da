// The engine's contract at its edges: every misuse of Step and Encode is a
// clear error that leaves the engine usable, with random weights of a small
// shape.
#include "engine/terraformer_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/kv_cache/kv_block_pool.h"
#include "tests/testing/small_model_config.h"
#include "tests/testing/status_matchers.h"

namespace terraserve::engine {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

ModelConfig Small(bool encoder_decoder) {
  ModelConfig c = testing::SmallModelConfig();
  if (encoder_decoder) {
    c.architecture = "encoder_decoder";
    c.n_encoder_layers = 1;
  }
  return c;
}

std::unique_ptr<TerraformerEngine> Make(bool encoder_decoder) {
  RandomWeights weights(1);
  EngineOptions options;
  options.kv_block_size = 4;
  auto e = TerraformerEngine::Create(Small(encoder_decoder), weights, nullptr,
                                     options, "small");
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

StepInput One(SequenceId id, std::vector<int32_t> tokens) {
  StepInput in;
  in.items.push_back({id, std::move(tokens), true});
  return in;
}

TEST(TerraformerEngineTest, StepRejectsMisuseAndStaysUsable) {
  auto e = Make(false);
  ASSERT_NE(e, nullptr);
  ASSERT_OK(e->AddSequence(1, 6));
  EXPECT_THAT(e->Step(One(2, {1})), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("unknown sequence 2")));
  EXPECT_THAT(e->Step(One(1, {})), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("without tokens")));
  EXPECT_THAT(e->Step(One(1, {1, 32})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("token id 32 outside [0, 32)")));
  EXPECT_THAT(e->Step(One(1, std::vector<int32_t>(9, 1))),  // 2 blocks of 4
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("reserved positions")));
  StepInput twice = One(1, {1});
  twice.items.push_back({1, {2}, true});
  EXPECT_THAT(e->Step(twice), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("twice in one step")));
  EXPECT_THAT(e->AddSequence(1, 4),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("exists")));
  EXPECT_THAT(e->AddSequence(3, 17),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1..16")));
  ASSERT_OK_AND_ASSIGN(StepOutput out, e->Step(One(1, {1, 2, 3})));
  EXPECT_EQ(out.logits.size(), 32u);
  EXPECT_THAT(
      e->Encode(1, {1, 2}),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no encoder")));
}

TEST(TerraformerEngineTest, LayersShareOneSetOfWorkingBuffers) {
  int64_t bytes[2] = {0, 0};
  for (int deep : {0, 1}) {
    ModelConfig c = Small(false);
    c.n_layers = deep ? 6 : 1;
    RandomWeights weights(1);
    ASSERT_OK_AND_ASSIGN(
        auto e, TerraformerEngine::Create(c, weights, nullptr, {}, "small"));
    ASSERT_OK(e->AddSequence(1, 12));
    ASSERT_OK(e->Step(One(1, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})).status());
    ASSERT_OK(e->Step(One(1, {4})).status());
    bytes[deep] = e->model().scratch_bytes();
  }
  EXPECT_GT(bytes[0], 0);
  EXPECT_EQ(bytes[1], bytes[0]);  // six layers need no more than one
}

TEST(TerraformerEngineTest, ReportsWhichWeightsItHoldsInBf16) {
  EngineOptions options;
  options.bf16_sparse_controller = true;
  options.bf16_output_layer = true;
  ModelConfig c = Small(false);
  for (FfKind ff : {FfKind::kSparse, FfKind::kDense}) {
    c.ff = ff;
    RandomWeights weights(1);
    ASSERT_OK_AND_ASSIGN(auto e, TerraformerEngine::Create(c, weights, nullptr,
                                                           options, "small"));
    EXPECT_EQ(e->model_info().dtype,
              ff == FfKind::kSparse ? "f32+bf16:sparse_controller,output_layer"
                                    : "f32+bf16:output_layer");
  }
}

TEST(TerraformerEngineTest, ReportsItsKvPoolAndRefusesOneTooLarge) {
  RandomWeights weights(1);
  EngineOptions options;
  options.kv_block_size = 4;
  options.kv_cache_tokens = 64;
  const ModelConfig c = Small(false);
  ASSERT_OK_AND_ASSIGN(
      auto e, TerraformerEngine::Create(c, weights, nullptr, options, "small"));
  EXPECT_EQ(e->model_info().kv_total_blocks, 16);
  EXPECT_EQ(e->model_info().dtype, "f32");
  EXPECT_EQ(e->model_info().kv_cache_bytes,
            64 * KvBlockPool::BytesPerToken(c.n_attention_sublayers(),
                                            c.d_model, false));
  // 32 TiB in blocks of 4096 positions: more than any host here has.
  options.kv_block_size = 4096;
  options.kv_cache_tokens = 0;
  options.kv_cache_bytes = int64_t(1) << 45;
  RandomWeights more(1);
  EXPECT_THAT(
      TerraformerEngine::Create(c, more, nullptr, options, "small").status(),
      StatusIs(absl::StatusCode::kResourceExhausted,
               HasSubstr("of memory available")));
}

TEST(TerraformerEngineTest, EncodeRejectsMisuse) {
  auto e = Make(true);
  ASSERT_NE(e, nullptr);
  ASSERT_OK(e->AddSequence(1, 8));
  EXPECT_THAT(e->Encode(2, {1}), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("unknown sequence 2")));
  EXPECT_THAT(e->Encode(1, {}), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("the source is 0 tokens")));
  // The source and at least the decoder start token must fit the reservation.
  EXPECT_THAT(e->Encode(1, std::vector<int32_t>(8, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1..7")));
  EXPECT_THAT(
      e->Encode(1, {1, 40}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token id 40")));
  ASSERT_OK(e->Encode(1, {1, 2, 3}));
  EXPECT_THAT(e->Encode(1, {1, 2, 3}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already encoded")));
  // The prefix positions, then the decoder start token, in one prefill.
  ASSERT_OK_AND_ASSIGN(StepOutput out, e->Step(One(1, {1, 2, 3, 0})));
  EXPECT_EQ(out.logits.size(), 32u);
  ASSERT_OK_AND_ASSIGN(out, e->Step(One(1, {5})));
  EXPECT_EQ(out.logits.size(), 32u);
  // The encoder has max_len positions of its own.
  ASSERT_OK(e->AddSequence(2, 16));
  EXPECT_THAT(e->Encode(2, std::vector<int32_t>(16, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1..15")));
}

}  // namespace
}  // namespace terraserve::engine
