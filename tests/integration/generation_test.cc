// The real terraserve binary with the bundled model, over gRPC on loopback:
// streaming and unary generation, determinism, validation errors, tokenization,
// cancellation, deadlines, serving a shape with dummy weights and an
// encoder-decoder model. Overload and drain under load are in fault_test.cc.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "terraserve/v1/generation.grpc.pb.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"

namespace terraserve {
namespace {

using testing::ServerProcess;
using v1::GenerateRequest;
using v1::GenerateStreamResponse;

class GenerationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = ServerProcess::Start(
        {"--model_dir=" + testing::TestModelDir(), "--max_queued_requests=64"});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = s->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = v1::TextGeneration::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }
  static void Deadline(grpc::ClientContext* ctx, int seconds = 60) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(seconds));
  }
  GenerateRequest Prompt(const std::string& text, int max_new) {
    GenerateRequest r;
    r.set_text(text);
    r.mutable_stopping()->set_max_new_tokens(max_new);
    return r;
  }
  grpc::Status Unary(const GenerateRequest& r, v1::GenerateResponse* out) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    return stub_->Generate(&ctx, r, out);
  }
  grpc::Status Stream(const GenerateRequest& r,
                      std::vector<GenerateStreamResponse>* out) {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    auto reader = stub_->GenerateStream(&ctx, r);
    GenerateStreamResponse m;
    while (reader->Read(&m)) out->push_back(m);
    return reader->Finish();
  }

  static ServerProcess* server_;
  std::unique_ptr<v1::TextGeneration::Stub> stub_;
};
ServerProcess* GenerationTest::server_ = nullptr;

TEST_F(GenerationTest, StreamAndUnaryAgreeAndCarryFinal) {
  GenerateRequest r = Prompt("The meaning of life is", 12);
  r.set_request_id("abc-1");
  r.mutable_stopping()->set_ignore_eos(true);
  std::vector<GenerateStreamResponse> msgs;
  ASSERT_TRUE(Stream(r, &msgs).ok());
  ASSERT_FALSE(msgs.empty());
  std::string text;
  int tokens = 0;
  for (size_t i = 0; i < msgs.size(); ++i) {
    EXPECT_EQ(msgs[i].index(), i);
    EXPECT_EQ(msgs[i].request_id(), "abc-1");
    text += msgs[i].text();
    tokens += msgs[i].tokens_size();
    EXPECT_EQ(msgs[i].has_final(), i + 1 == msgs.size());
  }
  EXPECT_GT(msgs.front().prompt_tokens(), 0u);
  const v1::Final& f = msgs.back().final();
  EXPECT_EQ(f.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(f.usage().completion_tokens(), 12u);
  EXPECT_EQ(tokens, 12);
  EXPECT_GT(f.timing().total_ms(), 0);

  v1::GenerateResponse unary;
  ASSERT_TRUE(Unary(r, &unary).ok());
  EXPECT_EQ(unary.text(), text);  // greedy: same tokens either way
  EXPECT_EQ(unary.token_ids_size(), 12);
  EXPECT_EQ(unary.final().usage().prompt_tokens(), f.usage().prompt_tokens());
}

TEST_F(GenerationTest, SameSeedSameTextAndLogprobs) {
  GenerateRequest r = Prompt("Once upon a time", 16);
  r.mutable_sampling()->set_temperature(1.0f);
  r.mutable_sampling()->set_top_p(0.9f);
  r.mutable_sampling()->set_seed(1234);
  r.mutable_output()->set_logprobs(true);
  r.mutable_output()->set_top_logprobs(3);
  v1::GenerateResponse a, b;
  ASSERT_TRUE(Unary(r, &a).ok());
  ASSERT_TRUE(Unary(r, &b).ok());
  EXPECT_EQ(a.text(), b.text());
  EXPECT_EQ(a.final().seed(), 1234u);
  ASSERT_EQ(a.tokens_size(), a.token_ids_size());
  for (const auto& t : a.tokens()) {
    EXPECT_LE(t.logprob(), 0.0f);
    EXPECT_EQ(t.top_logprobs_size(), 3);
  }
}

TEST_F(GenerationTest, InvalidRequestsNameTheField) {
  struct Case {
    const char* name;
    std::function<void(GenerateRequest&)> mutate;
    const char* field;
  } cases[] = {
      {"no input", [](GenerateRequest& r) { r.clear_input(); }, "input"},
      {"empty text", [](GenerateRequest& r) { r.set_text(""); }, "text"},
      {"bad token id",
       [](GenerateRequest& r) { r.mutable_token_ids()->add_ids(999999); },
       "token_ids.ids[0]"},
      {"top_p", [](GenerateRequest& r) { r.mutable_sampling()->set_top_p(2); },
       "sampling.top_p"},
      {"temperature",
       [](GenerateRequest& r) { r.mutable_sampling()->set_temperature(-1); },
       "sampling.temperature"},
      {"max_new_tokens",
       [](GenerateRequest& r) {
         r.mutable_stopping()->set_max_new_tokens(1000000);
       },
       "stopping.max_new_tokens"},
      {"min > max",
       [](GenerateRequest& r) { r.mutable_stopping()->set_min_new_tokens(50); },
       "stopping.min_new_tokens"},
      {"stop sequences",
       [](GenerateRequest& r) {
         for (int i = 0; i < 9; ++i)
           r.mutable_stopping()->add_stop_sequences("x");
       },
       "stopping.stop_sequences"},
      {"empty stop",
       [](GenerateRequest& r) { r.mutable_stopping()->add_stop_sequences(""); },
       "stopping.stop_sequences[0]"},
      {"top_logprobs",
       [](GenerateRequest& r) {
         r.mutable_output()->set_logprobs(true);
         r.mutable_output()->set_top_logprobs(1000);
       },
       "output.top_logprobs"},
      {"long prompt",
       [](GenerateRequest& r) {
         r.set_text(std::string(20000, 'a') +
                    " b c d e f g h i j k l m n o p q r s t u v w x y z");
       },
       "input"},
  };
  for (const auto& c : cases) {
    GenerateRequest r = Prompt("hello", 10);
    c.mutate(r);
    v1::GenerateResponse out;
    grpc::Status s = Unary(r, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << c.name << ": " << s.error_message();
    std::vector<GenerateStreamResponse> msgs;
    EXPECT_EQ(Stream(r, &msgs).error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name;
  }
}

TEST_F(GenerationTest, TokenizeDetokenizeAndModelInfo) {
  grpc::ClientContext c1, c2, c3;
  v1::TokenizeRequest tr;
  tr.set_text("Hello world 🙂");
  v1::TokenizeResponse tokens;
  ASSERT_TRUE(stub_->Tokenize(&c1, tr, &tokens).ok());
  ASSERT_GT(tokens.ids_size(), 2);
  EXPECT_EQ(tokens.pieces_size(), tokens.ids_size());
  v1::DetokenizeRequest dr;
  dr.mutable_ids()->CopyFrom(tokens.ids());
  v1::DetokenizeResponse text;
  ASSERT_TRUE(stub_->Detokenize(&c2, dr, &text).ok());
  EXPECT_EQ(text.text(), "Hello world 🙂");
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&c3, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.model_id(), testing::TestModelDir().substr(
                                 testing::TestModelDir().rfind('/') + 1));
  EXPECT_TRUE(info.architecture().sparse_ff());
  EXPECT_TRUE(info.architecture().sparse_qkv());
  EXPECT_EQ(info.architecture().output_layer(), "factored");
  EXPECT_GT(info.vocab_size(), 0u);
  EXPECT_FALSE(info.server_version().empty());

  grpc::ClientContext c4;
  dr.add_ids(1u << 30);
  EXPECT_EQ(stub_->Detokenize(&c4, dr, &text).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GenerationTest, StopSequenceEndsTheStream) {
  // Greedy output of the prompt, then ask to stop at a piece of it.
  GenerateRequest r = Prompt("The cat", 24);
  r.mutable_stopping()->set_ignore_eos(true);
  v1::GenerateResponse full;
  ASSERT_TRUE(Unary(r, &full).ok());
  ASSERT_GT(full.text().size(), 6u);
  const std::string stop = full.text().substr(full.text().size() / 2, 3);
  r.mutable_stopping()->add_stop_sequences(stop);
  v1::GenerateResponse cut;
  ASSERT_TRUE(Unary(r, &cut).ok());
  EXPECT_EQ(cut.final().finish_reason(), v1::FINISH_REASON_STOP_SEQUENCE);
  EXPECT_EQ(cut.final().stop_sequence(), stop);
  EXPECT_EQ(cut.text(), full.text().substr(0, full.text().find(stop)));
}

TEST_F(GenerationTest, CancelAndDeadline) {
  {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    GenerateRequest r = Prompt("A long story:", 400);
    r.mutable_stopping()->set_ignore_eos(true);
    auto reader = stub_->GenerateStream(&ctx, r);
    GenerateStreamResponse m;
    ASSERT_TRUE(reader->Read(&m));
    ctx.TryCancel();
    while (reader->Read(&m)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(1));
    GenerateRequest r = Prompt("A long story:", 400);
    r.mutable_stopping()->set_ignore_eos(true);
    v1::GenerateResponse out;
    EXPECT_EQ(stub_->Generate(&ctx, r, &out).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // The server keeps serving afterwards.
  v1::GenerateResponse ok;
  EXPECT_TRUE(Unary(Prompt("Still there?", 4), &ok).ok());
}

TEST_F(GenerationTest, ConcurrentSequencesMatchSequentialRunsWithTheSameSeeds) {
  // 32 sampled generations run one at a time, then all at once (batched
  // together by the scheduler): each sequence's tokens depend only on its own
  // seed.
  auto request = [](int i) {
    GenerateRequest r;
    r.set_text(std::string("Prompt number ") + std::to_string(i % 7) + " says");
    r.mutable_stopping()->set_max_new_tokens(24);
    r.mutable_stopping()->set_ignore_eos(true);
    r.mutable_sampling()->set_temperature(0.9f);
    r.mutable_sampling()->set_top_k(50);
    r.mutable_sampling()->set_seed(1000 + i);
    return r;
  };
  constexpr int kN = 32;
  std::vector<std::vector<uint32_t>> sequential(kN), concurrent(kN);
  for (int i = 0; i < kN; ++i) {
    v1::GenerateResponse out;
    ASSERT_TRUE(Unary(request(i), &out).ok());
    sequential[i].assign(out.token_ids().begin(), out.token_ids().end());
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext ctx;
      Deadline(&ctx);
      v1::GenerateResponse out;
      EXPECT_TRUE(stub_->Generate(&ctx, request(i), &out).ok());
      concurrent[i].assign(out.token_ids().begin(), out.token_ids().end());
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kN; ++i)
    EXPECT_EQ(concurrent[i], sequential[i]) << "sequence " << i;
}

// A model directory of the bundled model's tokenizer.model and its config.json
// edited by the sed script `edit`, for --dummy_weights; "" on failure.
std::string DummyModelDir(const std::string& name, const std::string& edit) {
  const std::string dir = ::testing::TempDir() + "/" + name;
  const std::string src = testing::TestModelDir();
  auto r = testing::RunCommand(
      {"/bin/sh", "-c",
       "mkdir -p " + dir + " && cp " + src + "/tokenizer.model " + dir +
           " && sed -e '" + edit + "' " + src + "/config.json > " + dir +
           "/config.json"},
      absl::Seconds(10));
  return r.exit_code == 0 ? dir : "";
}

// One unary Generate of max_new_tokens tokens (EOS ignored, with logprobs)
// continuing `text`, against the server at `address`.
grpc::Status GenerateFrom(const std::string& address, const std::string& text,
                          int max_new_tokens, v1::GenerateResponse* out) {
  auto stub = v1::TextGeneration::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  GenerateRequest r;
  r.set_text(text);
  r.mutable_stopping()->set_max_new_tokens(max_new_tokens);
  r.mutable_stopping()->set_ignore_eos(true);
  r.mutable_output()->set_logprobs(true);
  return stub->Generate(&ctx, r, out);
}

TEST(GenerationDummyWeightsTest, ServesAShapeWithoutAWeightsFile) {
  // Only config.json and tokenizer.model: --dummy_weights fills the weights.
  const std::string dir = DummyModelDir("terraserve-dummy-model", "");
  ASSERT_FALSE(dir.empty());
  auto server = ServerProcess::Start({"--model_dir=" + dir, "--dummy_weights"});
  ASSERT_TRUE(server.ok()) << server.status();
  v1::GenerateResponse out;
  ASSERT_TRUE(
      GenerateFrom((*server)->address(), "Random weights", 8, &out).ok());
  EXPECT_EQ(out.token_ids_size(), 8);
  // Without the flag the missing weights file is a clear startup error.
  auto refused =
      testing::RunCommand({TERRASERVE_SERVER_BIN, "--port=0",
                           "--metrics_port=-1", "--model_dir=" + dir},
                          absl::Seconds(30));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.output.find("model.safetensors"), std::string::npos)
      << refused.output;
}

TEST(GenerationBf16Test, ServesTheBundledModelWithEveryBf16Option) {
  auto server =
      ServerProcess::Start({"--model_dir=" + testing::TestModelDir(),
                            "--kv_cache_dtype=bf16", "--bf16_sparse_controller",
                            "--bf16_sparse_ff_rows", "--bf16_output_layer"});
  ASSERT_TRUE(server.ok()) << server.status();
  v1::GenerateResponse out;
  ASSERT_TRUE(GenerateFrom((*server)->address(),
                           "The cache holds half the bytes", 16, &out)
                  .ok());
  EXPECT_EQ(out.token_ids_size(), 16);
  EXPECT_FALSE(out.text().empty());
}

TEST(GenerationEncoderDecoderTest, TheDecoderContinuesTheEncodedPrompt) {
  // The bundled model's shape as a Terraformer encoder-decoder (2 encoder
  // blocks), with dummy weights: the prompt is the encoder's input.
  const std::string dir =
      DummyModelDir("terraserve-encdec-model",
                    "s/\"decoder_lm\"/\"encoder_decoder\"/;"
                    "s/\"n_encoder_layers\": 0/\"n_encoder_layers\": 2/");
  ASSERT_FALSE(dir.empty());
  auto server = ServerProcess::Start({"--model_dir=" + dir, "--dummy_weights"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::TextGeneration::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  auto generate = [&](const std::string& text, v1::GenerateResponse* out) {
    return GenerateFrom((*server)->address(), text, 6, out);
  };
  {
    grpc::ClientContext ctx;
    v1::GetModelInfoRequest req;
    v1::ModelInfo info;
    ASSERT_TRUE(stub->GetModelInfo(&ctx, req, &info).ok());
    EXPECT_EQ(info.architecture().kind(), "encoder_decoder");
    EXPECT_EQ(info.architecture().n_encoder_layers(), 2u);
  }
  v1::GenerateResponse a, again, b;
  ASSERT_TRUE(generate("The cat sat on the mat", &a).ok());
  ASSERT_TRUE(generate("The cat sat on the mat", &again).ok());
  ASSERT_TRUE(generate("A completely different source", &b).ok());
  EXPECT_EQ(a.token_ids_size(), 6);
  EXPECT_EQ(std::vector<uint32_t>(a.token_ids().begin(), a.token_ids().end()),
            std::vector<uint32_t>(again.token_ids().begin(),
                                  again.token_ids().end()));
  // The source reaches the decoder: the first token's distribution moves.
  ASSERT_GT(a.tokens_size(), 0);
  ASSERT_GT(b.tokens_size(), 0);
  EXPECT_NE(a.tokens(0).logprob(), b.tokens(0).logprob());
  // Prompt tokens: BOS, the source's pieces and the decoder start token.
  grpc::ClientContext ctx;
  v1::TokenizeRequest tr;
  tr.set_text("The cat sat on the mat");
  tr.set_add_bos(true);
  v1::TokenizeResponse ids;
  ASSERT_TRUE(stub->Tokenize(&ctx, tr, &ids).ok());
  EXPECT_EQ(a.final().usage().prompt_tokens(), uint32_t(ids.ids_size() + 1));
}

}  // namespace
}  // namespace terraserve
