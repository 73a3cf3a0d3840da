// The engine's SentencePiece BPE tokenizer against SentencePiece itself
// (vectors from training/parity.py), plus incremental detokenization and bad
// model files.
#include "engine/tokenizer/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/testing/status_matchers.h"

namespace terraserve::engine {
namespace {

using ::terraserve::testing::StatusIs;
using ::testing::HasSubstr;

std::string BundledModelDir() {
  return std::string(TERRASERVE_SOURCE_DIR) + "/models/terraformer-tiny";
}

class TokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(
        tok_, Tokenizer::Load(BundledModelDir() + "/tokenizer.model"));
  }
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(TokenizerTest, MatchesSentencePieceOnSamplesAndCorpus) {
  std::ifstream in(std::string(TERRASERVE_PARITY_DIR) +
                   "/terraformer-tiny/tokenizer.json");
  ASSERT_TRUE(in) << "run training/parity.py (the parity_vectors test) first";
  nlohmann::json cases = nlohmann::json::parse(in);
  ASSERT_GT(cases.size(), 100u);
  int checked = 0;
  for (const auto& c : cases) {
    const std::string text = c["text"];
    std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok_->Encode(text), want) << text;
    EXPECT_EQ(tok_->Decode(want), c["decoded"].get<std::string>()) << text;
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(cases.size()));
}

TEST_F(TokenizerTest, SpecialTokens) {
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
  EXPECT_EQ(tok_->pad_id(), 0);
  EXPECT_EQ(tok_->unk_id(), 3);
  EXPECT_TRUE(tok_->IsSpecial(2));
  EXPECT_FALSE(tok_->IsSpecial(tok_->Encode("the").back()));
  EXPECT_EQ(tok_->Decode({1, 2}), "");
  EXPECT_EQ(tok_->Decode({1, 2}, /*keep_special=*/true), "<s></s>");
}

TEST_F(TokenizerTest, IncrementalDetokenizationNeverSplitsCharacters) {
  const std::string text = "Emoji 🙂 and 日本 and é";
  std::vector<int32_t> ids = tok_->Encode(text);
  IncrementalDetokenizer d(tok_.get(), false);
  std::string joined;
  for (int32_t id : ids) {
    std::string piece = d.Add(id);
    EXPECT_EQ(SanitizeUtf8(piece), piece) << "broken UTF-8 emitted";
    joined += piece;
  }
  joined += d.Flush();
  EXPECT_EQ(joined,
            " " + text);  // the continuation keeps the dummy-prefix space
}

TEST(Utf8Test, CompletePrefixAndSanitize) {
  EXPECT_EQ(CompleteUtf8Prefix("abc"), 3u);
  EXPECT_EQ(CompleteUtf8Prefix("ab\xF0\x9F"), 2u);
  EXPECT_EQ(CompleteUtf8Prefix("\xF0\x9F\x99\x82"), 4u);
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xC3"), "\xEF\xBF\xBD");
}

TEST(TokenizerLoadTest, RejectsBadModels) {
  EXPECT_THAT(Tokenizer::Load("/nonexistent/tokenizer.model"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/tokenizer.model")));
  EXPECT_THAT(Tokenizer::FromBytes("not a model at all \xff\xff\xff"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a SentencePiece model")));
  EXPECT_THAT(
      Tokenizer::FromBytes(""),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no pieces")));
  // A truncated copy of the real model.
  std::ifstream in(BundledModelDir() + "/tokenizer.model", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  EXPECT_FALSE(Tokenizer::FromBytes(bytes.substr(0, bytes.size() / 2)).ok());
}

}  // namespace
}  // namespace terraserve::engine
