// FactoredDense against its formula, y[s*Mo + m] = sum_i x_i D[s, i] E[i, m]
// + bias[s*Mo + m], including row counts that span several of its chunks.
#include "engine/layers/factored_dense.h"

#include <gtest/gtest.h>

#include "engine/kernels/kernel_types.h"
#include "tests/testing/status_matchers.h"

namespace terraserve::engine {
namespace {

TEST(FactoredDenseTest, MatchesTheFormulaOverSeveralChunks) {
  // 16 modules of 4096 inputs: 256 KB of scaled rows per row, so a chunk is 4
  // rows and 10 rows take three chunks (the last one short).
  const int S = 16, d_in = 4096, d_out = 64, mo = d_out / S;
  ASSERT_EQ(FactoredDense::kChunkBytes / (int64_t(S) * d_in * 4), 4);
  RandomWeights weights(7);
  ASSERT_OK_AND_ASSIGN(
      auto layer,
      FactoredDense::Load(weights, "fd", S, d_in, d_out, DenseKernel::kAuto));
  // The same seed and names give the same tensors again, for the formula.
  RandomWeights again(7);
  ASSERT_OK_AND_ASSIGN(auto D, again.Take("fd.D", {S, d_in}));
  ASSERT_OK_AND_ASSIGN(auto E, again.Take("fd.E", {d_in, mo}));
  ASSERT_OK_AND_ASSIGN(auto bias, again.Take("fd.bias", {d_out}));
  for (int rows : {1, 4, 10}) {
    RandomWeights inputs(rows);
    ASSERT_OK_AND_ASSIGN(auto x, inputs.Take("x", {rows, d_in}));
    std::vector<float> y(rows * d_out);
    Scratch scratch;
    ASSERT_OK(layer->Forward(x.data(), rows, &scratch, y.data()));
    for (int r = 0; r < rows; ++r) {
      for (int s = 0; s < S; ++s) {
        for (int m = 0; m < mo; ++m) {
          double want = bias[s * mo + m];
          for (int i = 0; i < d_in; ++i)
            want += double(x[r * d_in + i]) * D[s * d_in + i] * E[i * mo + m];
          EXPECT_NEAR(y[r * d_out + s * mo + m], want, 1e-4)
              << "rows " << rows << " r " << r << " s " << s << " m " << m;
        }
      }
    }
  }
}

}  // namespace
}  // namespace terraserve::engine
