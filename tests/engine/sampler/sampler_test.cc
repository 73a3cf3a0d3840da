#include "engine/sampler/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace terraserve::engine {
namespace {

using ::terraserve::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<float> Logits() { return {1.0f, 3.0f, 2.0f, 0.5f, 3.0f, -1.0f}; }

TEST(SamplerTest, GreedyTakesFirstMaximumAndReportsLogprobs) {
  SamplingParams p;
  p.top_logprobs = 3;
  Sampler s(p, {});
  auto l = Logits();
  SampledToken t = s.Sample(l.data(), 6);
  EXPECT_EQ(t.id, 1);  // tie between 1 and 4: first wins
  double z = 0;
  for (float v : l) z += std::exp(v);
  EXPECT_NEAR(t.logprob, 3.0 - std::log(z), 1e-5);
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].first, 1);
  EXPECT_EQ(t.top[1].first, 4);
  EXPECT_EQ(t.top[2].first, 2);
}

std::map<int32_t, int> Histogram(SamplingParams p, int n) {
  std::map<int32_t, int> h;
  auto l = Logits();
  for (int i = 0; i < n; ++i) {
    p.seed = i;
    Sampler s(p, {});
    ++h[s.Sample(l.data(), 6).id];
  }
  return h;
}

TEST(SamplerTest, TemperatureSamplingFollowsTheDistribution) {
  SamplingParams p;
  p.temperature = 1;
  const int n = 20000;
  auto h = Histogram(p, n);
  auto l = Logits();
  double z = 0;
  for (float v : l) z += std::exp(v);
  for (int id = 0; id < 6; ++id) {
    double expected = std::exp(l[id]) / z;
    double se = std::sqrt(expected * (1 - expected) / n);
    EXPECT_NEAR(double(h[id]) / n, expected, 5 * se + 1e-3) << id;
  }
}

TEST(SamplerTest, TopKTopPAndMinPRestrictTheCandidates) {
  SamplingParams p;
  p.temperature = 1;
  p.top_k = 2;
  for (auto& [id, count] : Histogram(p, 2000))
    EXPECT_TRUE(id == 1 || id == 4) << id;
  p.top_k = 0;
  p.top_p =
      0.5f;  // the two 3.0 logits hold ~0.64 together; the first alone < 0.5
  for (auto& [id, count] : Histogram(p, 2000))
    EXPECT_TRUE(id == 1 || id == 4) << id;
  p.top_p = 1;
  p.min_p = 0.3f;  // e^2 / e^3 = 0.37 stays, e^1 / e^3 = 0.14 goes
  for (auto& [id, count] : Histogram(p, 2000))
    EXPECT_TRUE(id == 1 || id == 4 || id == 2) << id;
}

// Two levels of logits over ids scattered across a vocabulary large enough
// that the walks cannot be short: the likely half holds e / (e + 1) = 73% of
// the mass. Without top_p, likely ids are drawn 73% of the time; with top_p
// 0.7 the nucleus is the likely ids in id order (ties go by id) until 0.7 of
// the mass, so every draw is one of them, and the last ones are reached.
TEST(SamplerTest, DeepWalksOverALargeVocabularyKeepTheOrder) {
  const int vocab = 3000, n = 4000;
  std::vector<float> logits(vocab, 0.0f);
  std::vector<int32_t> likely_ids;
  std::mt19937 rng(5);
  for (int id = 0; id < vocab; ++id) {
    if (rng() % 2 == 0) {
      logits[id] = 1.0f;
      likely_ids.push_back(id);
    }
  }
  const double e = std::exp(1.0), likely = e * likely_ids.size();
  const double total = likely + (vocab - likely_ids.size());
  // The nucleus: the first k likely ids, k * e >= 0.7 * total.
  const size_t k = static_cast<size_t>(std::ceil(0.7 * total / e));
  for (float top_p : {1.0f, 0.7f}) {
    SamplingParams p;
    p.temperature = 1;
    p.top_p = top_p;
    Sampler s(p, {});
    int hits = 0;
    int32_t highest = -1;
    for (int i = 0; i < n; ++i) {
      const int32_t id = s.Sample(logits.data(), vocab).id;
      if (logits[id] > 0) {
        ++hits;
        highest = std::max(highest, id);
      }
    }
    if (top_p < 1) {
      EXPECT_EQ(hits, n);
      EXPECT_LE(highest, likely_ids[k]);  // one id of slack for rounding
      EXPECT_GE(highest, likely_ids[k - 30]);
    } else {
      const double share = likely / total;
      EXPECT_NEAR(double(hits) / n, share,
                  5 * std::sqrt(share * (1 - share) / n));
    }
  }
}

// Logits that are all NaN (a broken model) leave no candidate by weight; the
// draw still returns a valid id rather than reading past an empty list.
TEST(SamplerTest, NanLogitsStillGiveAnIdInRange) {
  const std::vector<float> nan(100, std::nanf(""));
  for (float min_p : {0.0f, 0.5f}) {
    SamplingParams p;
    p.temperature = 1;
    p.min_p = min_p;
    p.top_p = 0.9f;
    Sampler s(p, {});
    const int32_t id = s.Sample(nan.data(), 100).id;
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 100);
  }
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDiffers) {
  SamplingParams p;
  p.temperature = 1.5f;
  p.seed = 42;
  Sampler a(p, {}), b(p, {});
  p.seed = 43;
  Sampler c(p, {});
  auto l = Logits();
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 50; ++i) {
    ta.push_back(a.Sample(l.data(), 6).id);
    tb.push_back(b.Sample(l.data(), 6).id);
    tc.push_back(c.Sample(l.data(), 6).id);
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
}

TEST(SamplerTest, PenaltiesChangeTheChoice) {
  auto l = Logits();
  SamplingParams p;
  p.repetition_penalty = 2;  // token 1 is in the prompt: 3 -> 1.5, so 4 wins
  EXPECT_EQ(Sampler(p, {1}).Sample(l.data(), 6).id, 4);
  SamplingParams q;
  q.presence_penalty =
      1.5f;  // after emitting 1, its logit drops to 1.5; then 4 wins
  Sampler s(q, {});
  EXPECT_EQ(s.Sample(l.data(), 6).id, 1);
  EXPECT_EQ(s.Sample(l.data(), 6).id, 4);
  SamplingParams f;
  f.frequency_penalty =
      1.2f;  // 1 (3.0), then 4 (3.0 > 1.8), then 2 (2.0 > 1.8)
  Sampler t(f, {});
  EXPECT_EQ(t.Sample(l.data(), 6).id, 1);
  EXPECT_EQ(t.Sample(l.data(), 6).id, 4);
  EXPECT_EQ(t.Sample(l.data(), 6).id, 2);
}

TEST(SamplerTest, ValidateNamesFieldAndRange) {
  SamplingParams p;
  EXPECT_OK(p.Validate(10));
  p.temperature = -1;
  EXPECT_THAT(p.Validate(10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sampling.temperature must be in [0, 100]")));
  p = SamplingParams();
  p.top_k = 11;
  EXPECT_THAT(p.Validate(10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sampling.top_k must be in [0, 10]")));
  p = SamplingParams();
  p.top_p = 1.5f;
  EXPECT_THAT(p.Validate(10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("top_p")));
  p = SamplingParams();
  p.top_p = NAN;
  EXPECT_THAT(p.Validate(10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("top_p")));
}

}  // namespace
}  // namespace terraserve::engine
