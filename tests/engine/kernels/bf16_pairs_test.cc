// The pair-order bf16 kernels against double sums over the widened values.
#include "engine/kernels/bf16_pairs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/kernels/bf16.h"

namespace terraserve::engine {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Random bf16 values, and the same widened.
void RandomBf16(size_t n, std::mt19937& rng, std::vector<uint16_t>* bf16,
                std::vector<float>* f32) {
  bf16->clear();
  f32->clear();
  for (float x : Random(n, rng)) {
    bf16->push_back(FloatToBf16(x));
    f32->push_back(Bf16ToFloat(bf16->back()));
  }
}

// Row lengths of 1 to 9 chunks: every register grouping of the kernels (4, 2
// and 1 chunks at once) and their mixes.
const int kChunks[] = {1, 2, 3, 4, 5, 7, 9};

TEST(Bf16PairsTest, PairOrderPutsEvenThenOddPerChunkAndBack) {
  const int64_t n = 3 * kBf16PairChunk, half = kBf16PairChunk / 2;
  std::vector<float> x(n), pairs(n), back(n);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(i);
  ToPairOrder(x.data(), n, pairs.data());
  for (int64_t c = 0; c < n; c += kBf16PairChunk) {
    for (int64_t j = 0; j < half; ++j) {
      ASSERT_EQ(pairs[c + j], x[c + 2 * j]) << c << " " << j;
      ASSERT_EQ(pairs[c + half + j], x[c + 2 * j + 1]) << c << " " << j;
    }
  }
  FromPairOrder(pairs.data(), n, back.data());
  EXPECT_EQ(back, x);
}

TEST(Bf16PairsTest, DotsMatchDoubleSumsOfWidenedRows) {
  std::mt19937 rng(1);
  for (int chunks : kChunks) {
    const int64_t n = chunks * kBf16PairChunk;
    // Groups of eight rows and the single rows after them.
    for (int n_rows : {1, 7, 8, 16, 19}) {
      const int64_t ld = n + 5 * (chunks % 2);  // rows packed or apart
      const auto q = Random(n, rng);
      std::vector<uint16_t> rows;
      std::vector<float> wide;
      RandomBf16(n_rows * ld, rng, &rows, &wide);
      std::vector<float> q_pairs(n), out(n_rows);
      ToPairOrder(q.data(), n, q_pairs.data());
      DotsBf16Pairs(q_pairs.data(), rows.data(), n_rows, ld, n, out.data());
      for (int r = 0; r < n_rows; ++r) {
        double want = 0;
        for (int64_t i = 0; i < n; ++i) want += double(q[i]) * wide[r * ld + i];
        ASSERT_NEAR(out[r], want, 1e-4 * std::sqrt(double(n)))
            << "n " << n << " rows " << n_rows << " row " << r;
      }
    }
  }
}

TEST(Bf16PairsTest, AccumulateMatchesDoubleSumsOfWidenedRows) {
  std::mt19937 rng(2);
  for (int chunks : kChunks) {
    const int64_t n = chunks * kBf16PairChunk;
    for (int n_rows : {0, 1, 5, 16, 33}) {
      const int64_t ld = n + 3 * (chunks % 2);
      const auto w = Random(n_rows, rng), y0 = Random(n, rng);
      std::vector<uint16_t> rows;
      std::vector<float> wide;
      RandomBf16(n_rows * ld, rng, &rows, &wide);
      std::vector<float> y_pairs(n), y(n);
      ToPairOrder(y0.data(), n, y_pairs.data());
      AccumulateBf16Pairs(w.data(), rows.data(), n_rows, ld, n, y_pairs.data());
      FromPairOrder(y_pairs.data(), n, y.data());
      for (int64_t i = 0; i < n; ++i) {
        double want = y0[i];
        for (int r = 0; r < n_rows; ++r)
          want += double(w[r]) * wide[r * ld + i];
        ASSERT_NEAR(y[i], want, 1e-4 * std::sqrt(double(n_rows + 1)))
            << "n " << n << " rows " << n_rows << " at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace terraserve::engine
