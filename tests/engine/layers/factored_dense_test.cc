// FactoredDense against its formula, y[s*Mo + m] = sum_i x_i D[s, i] E[i, m]
// + bias[s*Mo + m], including row counts that span several of its chunks.
#include "engine/layers/factored_dense.h"

#include <gtest/gtest.h>

#include "engine/kernels/kernel_types.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/threads_scope.h"

namespace terraserve::engine {
namespace {

// y for `rows` rows of random x against the formula, in double.
void ExpectFormula(FactoredDense& layer, uint64_t seed, int S, int d_in,
                   int d_out, int rows) {
  const int mo = d_out / S;
  // The same seed and names give the same tensors again, for the formula.
  RandomWeights again(seed);
  ASSERT_OK_AND_ASSIGN(auto D, again.Take("fd.D", {S, d_in}));
  ASSERT_OK_AND_ASSIGN(auto E, again.Take("fd.E", {d_in, mo}));
  ASSERT_OK_AND_ASSIGN(auto bias, again.Take("fd.bias", {d_out}));
  RandomWeights inputs(rows);
  ASSERT_OK_AND_ASSIGN(auto x, inputs.Take("x", {rows, d_in}));
  std::vector<float> y(rows * d_out);
  Scratch scratch;
  ASSERT_OK(layer.Forward(x.data(), rows, &scratch, y.data()));
  for (int r = 0; r < rows; ++r) {
    for (int s = 0; s < S; ++s) {
      for (int m = 0; m < mo; ++m) {
        double want = bias[s * mo + m];
        for (int i = 0; i < d_in; ++i)
          want += double(x[r * d_in + i]) * D[s * d_in + i] * E[i * mo + m];
        ASSERT_NEAR(y[r * d_out + s * mo + m], want, 1e-4)
            << S << "x" << d_in << "x" << d_out << " rows " << rows << " r "
            << r << " s " << s << " m " << m;
      }
    }
  }
}

TEST(FactoredDenseTest, MatchesTheFormulaOverSeveralChunks) {
  // 16 modules of 4096 inputs: 256 KB of scaled rows per row, so a chunk is 4
  // rows and 10 rows take three chunks (the last one short).
  const int S = 16, d_in = 4096, d_out = 64;
  ASSERT_EQ(FactoredDense::kChunkBytes / (int64_t(S) * d_in * 4), 4);
  for (DenseKernel kernel : {DenseKernel::kPacked, DenseKernel::kOnednn}) {
    RandomWeights weights(7);
    ASSERT_OK_AND_ASSIGN(
        auto layer, FactoredDense::Load(weights, "fd", S, d_in, d_out, kernel));
    for (int rows : {1, 4, 10}) ExpectFormula(*layer, 7, S, d_in, d_out, rows);
  }
}

TEST(FactoredDenseTest, SplitsTheColumnsOfEOverTheTeam) {
  // 80 columns of E: five 16-column groups, handed out unevenly, each thread
  // scaling E's rows by every input row as it reads its share.
  const int S = 4, d_in = 512, d_out = 320;
  testing::ThreadsScope threads(2);
  RandomWeights weights(8);
  ASSERT_OK_AND_ASSIGN(
      auto layer,
      FactoredDense::Load(weights, "fd", S, d_in, d_out, DenseKernel::kPacked));
  for (int rows : {1, 5}) ExpectFormula(*layer, 8, S, d_in, d_out, rows);
}

}  // namespace
}  // namespace terraserve::engine
