// SparseFf's single-row gather, which runs its controller, argmax and rows in
// one parallel region, against the masked GEMM (an independent computation of
// the same layer) and against the several-row gather, on shapes whose blocks
// split unevenly over the team, with either controller kernel and f32 or bf16
// rows.
#include "engine/layers/sparse_ff.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/base/thread_team.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/threads_scope.h"

namespace terraserve::engine {
namespace {

struct Shape {
  int d, n_blocks, block, lowrank;
};

TEST(SparseFfOneRowTest, MatchesTheMaskedGemmAndTheRowsPath) {
  // Two threads wherever the suite runs, so the region really splits.
  testing::ThreadsScope threads(2);
  ASSERT_EQ(TeamSize(), 2);
  // d * n_blocks >= 32K, so the row is split over the team; 33 blocks split
  // 16 / 17. A lowrank of 20 or 96 is one or three bf16 m1 panels, which
  // the team splits by inputs as well.
  // The 96-unit blocks are the medium shape's.
  const Shape shapes[] = {{1024, 33, 32, 20},
                          {512, 64, 16, 96},
                          {512, 64, 96, 96},
                          {256, 3, 32, 8}};
  for (const Shape& s : shapes) {
    // bf16: bit 0 the controller, bit 1 the W1 / W2 rows.
    for (int bf16 : {0, 1, 2, 3}) {
      for (bool multiply : {false, true}) {
        ModelConfig c;
        c.d_model = s.d;
        c.ff_block_size = s.block;
        c.d_ff = s.n_blocks * s.block;
        c.ff_lowrank = s.lowrank;
        c.multiply_by_controller_output = multiply;
        c.bf16_sparse_controller = (bf16 & 1) != 0;
        c.bf16_sparse_ff_rows = (bf16 & 2) != 0;
        c.dense_kernel = DenseKernel::kPacked;
        const std::string name = "d " + std::to_string(s.d) + " blocks " +
                                 std::to_string(s.n_blocks) + "x" +
                                 std::to_string(s.block) + " bf16 " +
                                 std::to_string(bf16) + " multiply " +
                                 std::to_string(multiply);
        RandomWeights weights(s.d + s.block);
        ASSERT_OK_AND_ASSIGN(auto ff, SparseFf::Load(weights, "ff", c));
        RandomWeights inputs(3);
        ASSERT_OK_AND_ASSIGN(auto x, inputs.Take("x", {2, s.d}));
        // Row 0 alone, then the masked GEMM on it, then the two rows
        // together (the several-row gather).
        Scratch scratch;
        std::vector<float> one(s.d), masked(s.d), both(2 * s.d);
        ASSERT_OK(ff->Forward(x.data(), 1, &scratch, one.data()));
        ASSERT_OK(ff->Forward(x.data(), 1, &scratch, masked.data(),
                              SparseFf::Path::kMaskedGemm));
        ASSERT_OK(ff->Forward(x.data(), 2, &scratch, both.data(),
                              SparseFf::Path::kGather));
        for (int i = 0; i < s.d; ++i) {
          ASSERT_NEAR(one[i], masked[i], 1e-4) << name << " i " << i;
          ASSERT_NEAR(one[i], both[i], 1e-4) << name << " i " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace terraserve::engine
