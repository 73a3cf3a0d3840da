// Config parsing and model loading: every bad input is a clear error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "engine/model/model_config.h"
#include "engine/model/terraformer_model.h"
#include "engine/model/weight_loader.h"
#include "tests/testing/safetensors_builder.h"
#include "tests/testing/small_model_config.h"
#include "tests/testing/status_matchers.h"

namespace terraserve::engine {
namespace {

using ::terraserve::testing::SafetensorsBuilder;
using ::terraserve::testing::StatusIs;
using ::testing::HasSubstr;

// Records every tensor a model asks for (with random values), so a test can
// write a matching safetensors file without hard-coding the layout.
class RecordingSource final : public WeightSource {
 public:
  absl::StatusOr<std::vector<float>> Take(
      const std::string& name, const std::vector<int64_t>& shape) override {
    auto v = random_.Take(name, shape);
    if (v.ok()) tensors_[name] = {shape, *v};
    return v;
  }
  absl::Status CheckAllUsed() const override { return absl::OkStatus(); }
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>
      tensors_;

 private:
  RandomWeights random_{1};
};

SafetensorsBuilder BuilderFor(const ModelConfig& c,
                              const std::string& skip = "",
                              const std::string& reshape = "") {
  RecordingSource rec;
  EXPECT_OK(TerraformerModel::Load(c, rec));
  SafetensorsBuilder b;
  for (auto& [name, t] : rec.tensors_) {
    if (name == skip) continue;
    if (name == reshape) {
      b.Add(name, {t.first[0] + 1}, std::vector<float>(t.first[0] + 1, 0.0f));
    } else {
      b.Add(name, t.first, t.second);
    }
  }
  return b;
}

absl::StatusOr<std::unique_ptr<TerraformerModel>> LoadBytes(
    const ModelConfig& c, const std::string& bytes) {
  auto file = SafetensorsFile::FromBuffer(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!file.ok()) return file.status();
  WeightLoader loader(file->get());
  return TerraformerModel::Load(c, loader);
}

TEST(ModelConfigTest, ParsesEveryField) {
  ASSERT_OK_AND_ASSIGN(ModelConfig c, ModelConfig::FromJson(R"({
    "architecture": "decoder_lm", "vocab_size": 64, "d_model": 32, "n_heads": 4,
    "n_layers": 3, "max_len": 128, "attn_per_block": 2, "attention": "sparse_qkv",
    "qkv_modules": 4, "conv_length_kernel": 3, "ff": "sparse", "d_ff": 128,
    "ff_block_size": 16, "ff_lowrank": 8, "multiply_by_controller_output": true,
    "sru_width": 8, "sru_layers": 2, "output": "factored", "loss_modules": 4,
    "reversible": true, "center_layernorm": false, "pos_type": "none",
    "bos_id": 1, "eos_id": 2, "pad_id": 0, "unk_id": 3, "n_encoder_layers": 0})"));
  EXPECT_EQ(c.n_attention_sublayers(), 6);
  EXPECT_EQ(c.attention, AttentionKind::kSparseQkv);
  EXPECT_TRUE(c.multiply_by_controller_output);
  EXPECT_FALSE(c.learned_positions);
  EXPECT_FALSE(c.center_layernorm);
}

TEST(ModelConfigTest, RejectsBadConfigsNamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"[]", "not a JSON object"},
      {R"({"d_model": "big"})", "d_model: must be an integer"},
      {R"({"colour": 1})", "colour: unknown field"},
      {R"({"attention": "lsh"})", "attention: 'lsh' is not one of"},
      {R"({"d_model": 30, "n_heads": 4})",
       "n_heads: d_model 30 is not divisible by 4"},
      {R"({"ff": "sparse", "ff_block_size": 0, "ff_lowrank": 4})",
       "ff_block_size: must be > 0"},
      {R"({"ff": "sparse", "ff_block_size": 7, "ff_lowrank": 4})",
       "d_ff 256 is not divisible by 7"},
      {R"({"output": "factored", "loss_modules": 5})",
       "vocab_size 256 is not divisible by 5"},
      {R"({"eos_id": 999})", "eos_id: 999 is outside"},
      {R"({"reversible": 1})", "reversible: must be true or false"},
      {R"({"architecture": "rnn"})", "architecture: 'rnn'"},
      {R"({"vocab_size": -5})", "vocab_size: out of range: -5"},
      {R"({"vocab_size": 0})", "vocab_size: must be > 0"},
  };
  for (const auto& [json, msg] : cases) {
    EXPECT_THAT(ModelConfig::FromJson(json),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(msg)))
        << json;
  }
}

TEST(ModelLoadingTest, LoadsMatchingWeights) {
  ModelConfig c = testing::SmallModelConfig();
  ASSERT_OK_AND_ASSIGN(auto model, LoadBytes(c, BuilderFor(c).Build()));
  EXPECT_GT(model->parameter_count(), 0);
}

TEST(ModelLoadingTest, NamesTheMissingTensor) {
  ModelConfig c = testing::SmallModelConfig();
  EXPECT_THAT(
      LoadBytes(c, BuilderFor(c, "dec.1.ff.w2").Build()),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr(
              "missing tensor 'dec.1.ff.w2' (expected shape [4, 8, 16])")));
}

TEST(ModelLoadingTest, NamesTensorExpectedAndFoundShape) {
  ModelConfig c = testing::SmallModelConfig();
  EXPECT_THAT(
      LoadBytes(c, BuilderFor(c, "", "dec.0.ln.bias").Build()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'dec.0.ln.bias' expected shape [16], found [17]")));
}

TEST(ModelLoadingTest, RejectsWeightsOfAnotherArchitecture) {
  // Weights of a sparse model under a dense config: shapes disagree.
  ModelConfig sparse = testing::SmallModelConfig();
  ModelConfig dense = sparse;
  dense.ff = FfKind::kDense;
  EXPECT_THAT(
      LoadBytes(dense, BuilderFor(sparse).Build()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(
                   "'dec.1.ff.w1' expected shape [16, 32], found [16, 8, 4]")));
  // Extra tensors (e.g. an old trax layout's leftovers) are named too.
  auto b = BuilderFor(sparse);
  b.Add("dec.1.ff.old_w2", {2}, {1, 2});
  EXPECT_THAT(LoadBytes(sparse, b.Build()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dec.1.ff.old_w2")));
}

TEST(ModelLoadingTest, RejectsIntegerWeights) {
  ModelConfig c = testing::SmallModelConfig();
  auto b = BuilderFor(c);
  b.header()["embed"]["dtype"] = "I32";
  EXPECT_THAT(LoadBytes(c, b.Build()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'embed' has dtype I32")));
}

TEST(ModelLoadingTest, EncoderDecoderLoadsItsEncoderAndNamesWhatIsMissing) {
  ModelConfig c = testing::SmallModelConfig();
  c.architecture = "encoder_decoder";
  c.n_encoder_layers = 2;
  RandomWeights w(1);
  ASSERT_OK_AND_ASSIGN(auto model, TerraformerModel::Load(c, w));
  // Decoder-only weights under an encoder-decoder config.
  ModelConfig lm = testing::SmallModelConfig();
  EXPECT_THAT(
      LoadBytes(c, BuilderFor(lm).Build()),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("enc_pos")));
}

}  // namespace
}  // namespace terraserve::engine
