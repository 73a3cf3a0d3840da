// Every optimised kernel against its naive reference twin on random shapes.
#include "engine/kernels/cpu_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "engine/kernels/linear.h"
#include "engine/kernels/onednn_linear.h"
#include "engine/kernels/packed_linear.h"
#include "engine/kernels/reference_kernels.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(VectorOpsTest, DotAndAxpyMatchScalarOnOddLengths) {
  std::mt19937 rng(1);
  for (int n : {1, 7, 8, 15, 16, 33, 64, 100, 1027}) {
    auto a = Random(n, rng), b = Random(n, rng);
    double ref = 0;
    for (int i = 0; i < n; ++i) ref += double(a[i]) * b[i];
    EXPECT_NEAR(Dot(a.data(), b.data(), n), ref, 1e-4 * std::sqrt(n)) << n;
    auto y = b;
    Axpy(0.5f, a.data(), y.data(), n);
    for (int i = 0; i < n; ++i)
      ASSERT_NEAR(y[i], b[i] + 0.5f * a[i], 1e-6) << n;
  }
}

TEST(VectorOpsTest, Dot2AndAxpy2MatchScalarOnOddLengths) {
  std::mt19937 rng(3);
  for (int n : {1, 7, 8, 15, 16, 17, 33, 64, 100, 1027}) {
    auto a = Random(n, rng), b0 = Random(n, rng), b1 = Random(n, rng);
    double ref0 = 0, ref1 = 0;
    for (int i = 0; i < n; ++i) {
      ref0 += double(a[i]) * b0[i];
      ref1 += double(a[i]) * b1[i];
    }
    float out[2];
    Dot2(a.data(), b0.data(), b1.data(), n, out);
    EXPECT_NEAR(out[0], ref0, 1e-4 * std::sqrt(n)) << n;
    EXPECT_NEAR(out[1], ref1, 1e-4 * std::sqrt(n)) << n;
    auto y = a;
    Axpy2(0.5f, b0.data(), -2.0f, b1.data(), y.data(), n);
    for (int i = 0; i < n; ++i)
      ASSERT_NEAR(y[i], a[i] + 0.5f * b0[i] - 2.0f * b1[i], 1e-5) << n;
  }
}

TEST(VectorOpsTest, Dot8MatchesEightDots) {
  std::mt19937 rng(11);
  for (int n : {8, 64, 72, 13}) {
    const int ld = n + 5;
    auto a = Random(n, rng), rows = Random(8 * ld, rng);
    float out[8];
    Dot8(a.data(), rows.data(), ld, n, out);
    for (int r = 0; r < 8; ++r) {
      double ref = 0;
      for (int i = 0; i < n; ++i) ref += double(a[i]) * rows[r * ld + i];
      EXPECT_NEAR(out[r], ref, 1e-4 * std::sqrt(n)) << n << " row " << r;
    }
  }
}

// Rows of bf16 values and their f32 widenings, for the bf16 kernels' tests.
struct Bf16Rows {
  std::vector<uint16_t> bf16;
  std::vector<float> f32;
};
Bf16Rows RandomBf16(int n, std::mt19937& rng) {
  Bf16Rows r;
  for (float x : Random(n, rng)) {
    r.bf16.push_back(FloatToBf16(x));
    r.f32.push_back(Bf16ToFloat(r.bf16.back()));
  }
  return r;
}

TEST(VectorOpsTest, Bf16DotMatchesDotsOfWidenedRows) {
  std::mt19937 rng(13);
  // Every path: 16 at a time, 8, and the scalar tail.
  for (int n : {64, 16, 24, 72, 13, 3}) {
    for (int n_rows : {1, 7, 16}) {
      auto a = Random(n, rng);
      const Bf16Rows rows = RandomBf16(n_rows * n, rng);
      std::vector<float> out(n_rows);
      for (int r = 0; r < n_rows; ++r)
        out[r] = Dot(a.data(), rows.bf16.data() + r * n, n);
      for (int r = 0; r < n_rows; ++r) {
        double ref = 0;
        for (int i = 0; i < n; ++i) ref += double(a[i]) * rows.f32[r * n + i];
        ASSERT_NEAR(out[r], ref, 1e-4 * std::sqrt(n)) << n << " row " << r;
      }
    }
  }
}

TEST(VectorOpsTest, GemvAccumulateBf16MatchesNaive) {
  std::mt19937 rng(14);
  // Every column path: groups of 64, 32 and 8, and the scalar tail.
  for (int n : {64, 128, 32, 72, 100, 131, 3}) {
    for (int k : {1, 16, 37}) {
      const int ldw = n + 3;
      auto x = Random(k, rng), y = Random(n, rng);
      const Bf16Rows w = RandomBf16(k * ldw, rng);
      auto want = y;
      for (int j = 0; j < n; ++j) {
        double acc = want[j];
        for (int c = 0; c < k; ++c) acc += double(x[c]) * w.f32[c * ldw + j];
        want[j] = static_cast<float>(acc);
      }
      GemvAccumulateBf16(x.data(), w.bf16.data(), k, n, ldw, y.data());
      for (int j = 0; j < n; ++j)
        ASSERT_NEAR(y[j], want[j], 1e-4 * std::sqrt(k)) << n << " " << k;
    }
  }
}

TEST(VectorOpsTest, GemvAccumulateMatchesNaive) {
  std::mt19937 rng(12);
  // Every column path: groups of 64, 32 and 8, and the scalar tail.
  for (int n : {64, 128, 72, 100, 131, 3}) {
    for (int k : {1, 16, 37}) {
      const int ldw = n + 3;
      auto x = Random(k, rng), w = Random(k * ldw, rng), y = Random(n, rng);
      auto want = y;
      for (int j = 0; j < n; ++j) {
        double acc = want[j];
        for (int c = 0; c < k; ++c) acc += double(x[c]) * w[c * ldw + j];
        want[j] = static_cast<float>(acc);
      }
      GemvAccumulate(x.data(), w.data(), k, n, ldw, y.data());
      for (int j = 0; j < n; ++j)
        ASSERT_NEAR(y[j], want[j], 1e-4 * std::sqrt(k)) << n << " " << k;
    }
  }
}

TEST(VectorOpsTest, ExpShiftedMatchesStdExp) {
  std::mt19937 rng(11);
  for (int n : {1, 7, 8, 9, 64, 100}) {
    auto x = Random(n, rng, 25.0f);
    // The edges: both sides of the underflow, near the top of the range
    // (n = 128 in the exponent), 0 and far below.
    const float edges[] = {0.0f, -87.5f, -86.9f, 88.37f, -1e9f};
    for (int i = 0; i < n && i < 5; ++i) x[i] = edges[i];
    const float shift = n % 2 ? 0.0f : 1.5f;
    auto y = x;
    const float sum = ExpShifted(y.data(), n, shift);
    double want_sum = 0;
    for (int i = 0; i < n; ++i) {
      const float v = x[i] - shift;  // as the kernel rounds it
      const double want = v < -87.0 ? 0.0 : std::exp(v);
      want_sum += want;
      EXPECT_NEAR(y[i], want, 3e-7 * want) << "x " << x[i] << " n " << n;
    }
    EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum) << n;
  }
  float nan = NAN;
  ExpShifted(&nan, 1, 0.0f);
  EXPECT_TRUE(std::isnan(nan));
}

TEST(VectorOpsTest, MaxOfMatchesMaxElement) {
  std::mt19937 rng(13);
  for (int n : {1, 5, 16, 17, 40, 300}) {
    auto x = Random(n, rng);
    x[rng() % n] = 7.5f;  // anywhere: in the vector part or the tail
    EXPECT_EQ(MaxOf(x.data(), n), 7.5f) << n;
    for (float& v : x) v = -std::abs(v) - 1;
    EXPECT_EQ(MaxOf(x.data(), n), *std::max_element(x.begin(), x.end())) << n;
    if (n == 1) continue;
    x[0] = NAN;
    EXPECT_EQ(MaxOf(x.data(), n), *std::max_element(x.begin() + 1, x.end()));
  }
  EXPECT_EQ(MaxOf(nullptr, 0), -INFINITY);
}

TEST(VectorOpsTest, ArgmaxFirstMatchesScalarLoop) {
  auto scalar = [](const std::vector<float>& x) {
    int64_t best = 0;
    for (size_t i = 1; i < x.size(); ++i) {
      if (x[i] > x[best]) best = static_cast<int64_t>(i);
    }
    return best;
  };
  std::mt19937 rng(12);
  for (int n : {1, 3, 8, 9, 16, 63, 64, 71}) {
    for (int trial = 0; trial < 50; ++trial) {
      auto x = Random(n, rng);
      // Coarse values give ties, within the vectors and between a vector and
      // the tail.
      if (trial % 2) {
        for (float& v : x) v = std::round(v);
      }
      if (trial % 5 == 1) x[rng() % n] = NAN;
      if (trial % 7 == 2) x[0] = NAN;
      if (trial % 11 == 3) x[n - 1] = 100.0f;
      EXPECT_EQ(ArgmaxFirst(x.data(), n), scalar(x)) << "n " << n;
    }
  }
  const std::vector<float> zeros = {0.0f,  -0.0f, 0.0f, -0.0f, -1.0f,
                                    -2.0f, -3.0f, 0.0f, -0.0f};
  EXPECT_EQ(ArgmaxFirst(zeros.data(), 9), 0);
  EXPECT_EQ(ArgmaxFirst(zeros.data() + 1, 8), 0);
}

TEST(CpuKernelsTest, LayerNormMatchesReference) {
  std::mt19937 rng(2);
  for (bool center : {true, false}) {
    for (int d : {1, 5, 64, 257}) {
      const int rows = 3;
      auto x = Random(rows * d, rng, 3), scale = Random(d, rng),
           bias = Random(d, rng);
      std::vector<float> y(rows * d), r(rows * d);
      kernels::LayerNorm(x.data(), rows, d, scale.data(), bias.data(), center,
                         y.data());
      reference::LayerNorm(x.data(), rows, d, scale.data(), bias.data(), center,
                           r.data());
      EXPECT_LT(MaxAbsDiff(y, r), 1e-4) << d << " center=" << center;
    }
  }
}

TEST(CpuKernelsTest, SoftmaxAndEmbedMatchReference) {
  std::mt19937 rng(3);
  auto x = Random(4 * 1000, rng, 5), r = x;
  kernels::Softmax(x.data(), 4, 1000);
  reference::Softmax(r.data(), 4, 1000);
  EXPECT_LT(MaxAbsDiff(x, r), 1e-5);

  const int V = 11, d = 9, n = 5;
  auto table = Random(V * d, rng), pos = Random(8 * d, rng);
  std::vector<int32_t> ids = {0, 10, 3, 3, 7}, positions = {0, 1, 2, 7, 4};
  std::vector<float> a(n * d), b(n * d);
  kernels::Embed(table.data(), pos.data(), ids.data(), positions.data(), n, d,
                 a.data());
  reference::Embed(table.data(), pos.data(), ids.data(), positions.data(), n, d,
                   b.data());
  EXPECT_EQ(a, b);
}

TEST(CpuKernelsTest, AttentionOverPagedCacheMatchesReference) {
  std::mt19937 rng(4);
  // Head sizes 8, 32, 64 (the medium shape's) and 128: every path of the bf16
  // cache's widening kernels, in pair order (bf16_pairs.h) or not.
  for (auto [heads, d] :
       {std::pair<int, int>{4, 32}, {4, 128}, {2, 128}, {1, 128}})
    for (bool bf16 : {false, true})
      for (bool causal : {true, false})
        for (int block_size : {1, 4, 6, 16}) {
          for (auto [T, start] :
               {std::pair<int, int>{1, 0},
                {1, 9},
                {1, 130},
                {6, 0},
                {5, 11},
                {37, 20}}) {  // 37 queries: tiles of 16, 16 and 5
            const int len = start + T;
            const int n_blocks = (len + block_size - 1) / block_size + 2;
            std::vector<float> pool =
                Random(size_t(n_blocks) * 2 * block_size * d, rng);
            std::vector<uint16_t> pool16(pool.size());
            for (size_t i = 0; i < pool.size(); ++i)
              pool16[i] = FloatToBf16(pool[i]);
            std::vector<int32_t> blocks(n_blocks);
            for (int i = 0; i < n_blocks; ++i)
              blocks[i] = n_blocks - 1 - i;  // scattered
            KvView kv{bf16 ? static_cast<void*>(pool16.data()) : pool.data(),
                      blocks.data(),
                      block_size,
                      d,
                      2LL * block_size * d,
                      int64_t(block_size) * d,
                      d / heads,
                      bf16};
            auto q = Random(T * d, rng);
            std::vector<float> a(T * d), b(T * d);
            AttentionJob ja{q.data(), T, start, kv, a.data(), causal};
            AttentionJob jb{q.data(), T, start, kv, b.data(), causal};
            kernels::Attention(&ja, 1, heads);
            reference::Attention(&jb, 1, heads);
            EXPECT_LT(MaxAbsDiff(a, b), 1e-5)
                << "bs=" << block_size << " T=" << T << " causal=" << causal
                << " bf16=" << bf16 << " d=" << d;
          }
        }
}

TEST(CpuKernelsTest, BatchedAttentionMatchesReferencePerSequence) {
  // Mixed batches: decodes at different positions and prefill chunks, each
  // sequence with its own scattered blocks of one shared pool. The second batch
  // is large enough to be split over the OpenMP team.
  std::mt19937 rng(9);
  const int heads = 4, d = 64, block_size = 4, pool_blocks = 256;
  std::vector<float> pool =
      Random(size_t(pool_blocks) * 2 * block_size * d, rng);
  std::vector<int32_t> order(pool_blocks);
  for (int i = 0; i < pool_blocks; ++i) order[i] = (i * 37) % pool_blocks;
  for (const std::vector<std::pair<int, int>>& shapes :
       {std::vector<std::pair<int, int>>{
            {1, 0}, {1, 13}, {5, 3}, {1, 30}, {7, 0}, {1, 2}},
        std::vector<std::pair<int, int>>{{1, 600}, {8, 100}, {1, 150}}}) {
    std::vector<std::vector<float>> qs, outs_a, outs_b;
    for (auto [T, start] : shapes) {  // buffers first: jobs keep pointers
      qs.push_back(Random(T * d, rng));
      outs_a.emplace_back(T * d);
      outs_b.emplace_back(T * d);
    }
    std::vector<AttentionJob> ja, jb;
    int next_block = 0;
    for (size_t i = 0; i < shapes.size(); ++i) {
      auto [T, start] = shapes[i];
      KvView kv{pool.data(),          order.data() + next_block, block_size, d,
                2LL * block_size * d, int64_t(block_size) * d,   d / heads};
      next_block += (start + T + block_size - 1) / block_size;
      ASSERT_LE(next_block, pool_blocks);
      ja.push_back({qs[i].data(), T, start, kv, outs_a[i].data()});
      jb.push_back({qs[i].data(), T, start, kv, outs_b[i].data()});
    }
    kernels::Attention(ja.data(), static_cast<int>(ja.size()), heads);
    reference::Attention(jb.data(), static_cast<int>(jb.size()), heads);
    for (size_t i = 0; i < shapes.size(); ++i)
      EXPECT_LT(MaxAbsDiff(outs_a[i], outs_b[i]), 1e-5) << "sequence " << i;
  }
}

TEST(CpuKernelsTest, SparseFfRowsAndBlockArgmaxMatchReference) {
  std::mt19937 rng(5);
  for (auto [d, n_blocks, block] :
       {std::tuple<int, int, int>{16, 4, 8}, {33, 7, 3}, {64, 16, 16}}) {
    const int f = n_blocks * block;
    auto w1t = Random(f * d, rng), w2 = Random(f * d, rng), b2 = Random(d, rng);
    auto x = Random(d, rng), logits = Random(f, rng);
    logits[block + 2] = logits[block + 1] =
        100;  // a tie: the first index must win
    std::vector<int32_t> i1(n_blocks), i2(n_blocks);
    std::vector<float> p1(n_blocks), p2(n_blocks);
    kernels::BlockArgmax(logits.data(), 1, n_blocks, block, i1.data(),
                         p1.data());
    reference::BlockArgmax(logits.data(), n_blocks, block, i2.data(),
                           p2.data());
    EXPECT_EQ(i1, i2);
    EXPECT_EQ(i1[1], block > 2 ? 1 : i1[1]);
    EXPECT_LT(MaxAbsDiff(p1, p2), 1e-6);
    {  // Several rows at once match row by row.
      const int rows = 40;
      auto many = Random(rows * f, rng);
      std::vector<int32_t> im(rows * n_blocks), ir(n_blocks);
      std::vector<float> pm(rows * n_blocks), pr(n_blocks);
      kernels::BlockArgmax(many.data(), rows, n_blocks, block, im.data(),
                           pm.data());
      for (int r = 0; r < rows; ++r) {
        reference::BlockArgmax(many.data() + r * f, n_blocks, block, ir.data(),
                               pr.data());
        EXPECT_TRUE(
            std::equal(ir.begin(), ir.end(), im.begin() + r * n_blocks));
        for (int b = 0; b < n_blocks; ++b)
          EXPECT_NEAR(pr[b], pm[r * n_blocks + b], 1e-6);
      }
    }
    SparseFfWeights w{w1t.data(), w2.data(), nullptr,  nullptr,
                      b2.data(),  d,         n_blocks, block};
    // The same rows in bf16, against the reference on their widened values.
    std::vector<uint16_t> w1t16(w1t.size()), w216(w2.size());
    std::vector<float> w1t_wide(w1t.size()), w2_wide(w2.size());
    for (size_t i = 0; i < w1t.size(); ++i) {
      w1t16[i] = FloatToBf16(w1t[i]);
      w216[i] = FloatToBf16(w2[i]);
      w1t_wide[i] = Bf16ToFloat(w1t16[i]);
      w2_wide[i] = Bf16ToFloat(w216[i]);
    }
    SparseFfWeights w16{nullptr,   nullptr, w1t16.data(), w216.data(),
                        b2.data(), d,       n_blocks,     block};
    SparseFfWeights wide{w1t_wide.data(), w2_wide.data(), nullptr,
                         nullptr,         b2.data(),      d,
                         n_blocks,        block};
    // One row (split over the team) and several (a row per thread), each row
    // with its own choice of units; f32 rows, then bf16.
    for (auto [rows, bf16] :
         {std::pair<int, bool>{1, false}, {5, false}, {1, true}, {5, true}}) {
      const SparseFfWeights& kernel_w = bf16 ? w16 : w;
      const SparseFfWeights& ref_w = bf16 ? wide : w;
      auto xs = Random(rows * d, rng), probs_all = Random(rows * n_blocks, rng);
      std::vector<int32_t> idx(rows * n_blocks);
      for (auto& i : idx) i = static_cast<int32_t>(rng() % block);
      std::copy(i1.begin(), i1.end(), idx.begin());
      std::vector<float> y1(rows * d), y2(rows * d);
      for (const float* probs : {static_cast<const float*>(nullptr),
                                 static_cast<const float*>(probs_all.data())}) {
        kernels::SparseFfRows(xs.data(), rows, idx.data(), probs, kernel_w,
                              y1.data());
        for (int r = 0; r < rows; ++r) {
          reference::SparseFfRow(xs.data() + r * d, idx.data() + r * n_blocks,
                                 probs ? probs + r * n_blocks : nullptr, ref_w,
                                 y2.data() + r * d);
        }
        EXPECT_LT(MaxAbsDiff(y1, y2), 1e-4)
            << d << " rows " << rows << " bf16 " << bf16;
      }
    }
  }
}

// With and without a scale on the weights' rows, f32 and bf16 weights.
TEST(CpuKernelsTest, GemmAccumulateMatchesNaive) {
  std::mt19937 rng(10);
  for (auto [rows, k, n] : {std::tuple<int, int, int>{1, 1, 1},
                            {3, 7, 16},
                            {4, 64, 64},
                            {9, 17, 40},
                            {13, 20, 50},  // AVX-512: a 12-row tile and one
                            {5, 3, 33}}) {
    const int ldx = k + 3, ldw = n + 5, ldy = n + 2;  // strided rows
    auto x = Random(rows * ldx, rng), w = Random(k * ldw, rng),
         y = Random(rows * ldy, rng), scale = Random(k, rng);
    std::vector<uint16_t> wb(w.size());
    for (size_t i = 0; i < w.size(); ++i) wb[i] = FloatToBf16(w[i]);
    // y + (x * scale) @ w in double, w's values as read (f32, widened bf16).
    auto naive = [&](auto& weights, const float* sc) {
      auto want = y;
      for (int r = 0; r < rows; ++r) {
        for (int j = 0; j < n; ++j) {
          double acc = want[r * ldy + j];
          for (int c = 0; c < k; ++c) {
            acc += double(x[r * ldx + c]) * (sc != nullptr ? sc[c] : 1.0) *
                   internal::ToFloat(weights[c * ldw + j]);
          }
          want[r * ldy + j] = static_cast<float>(acc);
        }
      }
      return want;
    };
    for (const float* sc : {static_cast<const float*>(nullptr),
                            static_cast<const float*>(scale.data())}) {
      auto got = y;
      GemmAccumulate(x.data(), ldx, w.data(), ldw, k, n, got.data(), ldy, rows,
                     sc);
      EXPECT_LT(MaxAbsDiff(got, naive(w, sc)), 1e-4)
          << rows << "x" << k << "x" << n << " scaled " << (sc != nullptr);
      got = y;
      GemmAccumulate(x.data(), ldx, wb.data(), ldw, k, n, got.data(), ldy, rows,
                     sc);
      EXPECT_LT(MaxAbsDiff(got, naive(wb, sc)), 1e-4)
          << "bf16 " << rows << "x" << k << "x" << n << " scaled "
          << (sc != nullptr);
    }
  }
}

// PackRowTiles then PanelGemmAccumulateTiles against y + x @ w in double, over
// f32 panels of 16 columns: one tile, a full tile and a short one, several;
// strided x and y rows.
TEST(CpuKernelsTest, PanelGemmOverRowTilesMatchesNaive) {
  std::mt19937 rng(12);
  for (auto [rows, k, panels] : {std::tuple<int, int, int>{1, 1, 1},
                                 {5, 9, 2},
                                 {12, 33, 3},
                                 {13, 20, 1},
                                 {30, 64, 4},
                                 {37, 17, 5}}) {
    const int ldx = k + 3, n = panels * 16, ldy = n + 2;
    auto x = Random(rows * ldx, rng), w = Random(k * n, rng),
         y = Random(rows * ldy, rng);
    std::vector<float> tiles(rows * k);
    PackRowTiles(x.data(), ldx, k, rows, tiles.data());
    // Panel p holds columns [16p, 16p + 16), row by row.
    std::vector<float> packed(k * n);
    for (int p = 0; p < panels; ++p) {
      for (int c = 0; c < k; ++c) {
        for (int j = 0; j < 16; ++j)
          packed[(p * k + c) * 16 + j] = w[c * n + p * 16 + j];
      }
    }
    auto want = y;
    for (int r = 0; r < rows; ++r) {
      for (int j = 0; j < n; ++j) {
        double acc = want[r * ldy + j];
        for (int c = 0; c < k; ++c)
          acc += double(x[r * ldx + c]) * w[c * n + j];
        want[r * ldy + j] = static_cast<float>(acc);
      }
    }
    auto got = y;
    PanelGemmAccumulateTiles(tiles.data(), packed.data(), k, panels, got.data(),
                             ldy, rows);
    EXPECT_LT(MaxAbsDiff(got, want), 1e-4)
        << rows << "x" << k << " panels " << panels;
  }
}

TEST(CpuKernelsTest, CausalConvMatchesReference) {
  std::mt19937 rng(6);
  for (auto [S, M, kL, kS, T] :
       {std::tuple<int, int, int, int, int>{4, 8, 3, 3, 1},
        {4, 8, 3, 1, 5},
        {1, 5, 2, 3, 3},
        {16, 4, 3, 3, 7},
        {16, 64, 3, 3, 1},  // the medium shape: two 32-column blocks
        {6, 32, 3, 3, 2},
        {5, 48, 3, 1, 3},     // three 16-column blocks
        {3, 20, 3, 3, 2}}) {  // 16 columns in registers, 4 in the tail
    auto hist = Random((kL - 1) * S * M, rng), y = Random(T * S * M, rng);
    auto w = Random(kL * kS * M * M, rng), b = Random(M, rng);
    std::vector<float> a(T * S * M), r(T * S * M);
    // Alone, and batched with a second job of another length and kernel.
    auto y2 = Random((T + 2) * S * M, rng), w2 = Random(kL * M * M, rng);
    std::vector<float> a2((T + 2) * S * M), r2(a2.size());
    const auto pw = kernels::PackConvWeight(w, kL, kS, M),
               pw2 = kernels::PackConvWeight(w2, kL, 1, M);
    const CausalConvJob job{hist.data(), y.data(), T,       kS,
                            pw.data(),   b.data(), a.data()};
    const CausalConvJob jobs[2] = {
        job,
        {hist.data(), y2.data(), T + 2, 1, pw2.data(), b.data(), a2.data()}};
    reference::CausalConv(hist.data(), y.data(), T, S, M, kL, kS, w.data(),
                          b.data(), r.data());
    reference::CausalConv(hist.data(), y2.data(), T + 2, S, M, kL, 1, w2.data(),
                          b.data(), r2.data());
    kernels::CausalConv(&job, 1, S, M, kL);
    EXPECT_LT(MaxAbsDiff(a, r), 1e-4) << S << "x" << M;
    std::fill(a.begin(), a.end(), 0.0f);
    kernels::CausalConv(jobs, 2, S, M, kL);
    EXPECT_LT(MaxAbsDiff(a, r), 1e-4) << S << "x" << M << " batched";
    EXPECT_LT(MaxAbsDiff(a2, r2), 1e-4) << S << "x" << M << " batched";
  }
}

TEST(DenseLinearTest, OnednnAndPackedMatchReferenceForManyShapes) {
  std::mt19937 rng(7);
  for (DenseKernel kernel : {DenseKernel::kOnednn, DenseKernel::kPacked}) {
    const int which = static_cast<int>(kernel);
    // Packed: whole 16-column panels, a tail, or only a tail; 17 panels and
    // a tail are handed to threads in pairs and one single; 32 and a tail
    // take many rows through row tiles.
    for (auto [k, n] : {std::pair<int, int>{1, 1},
                        {33, 17 * 16 + 3},
                        {21, 32 * 16 + 5},
                        {20, 64},  // four panels: paired when two threads
                        {17, 5},
                        {64, 96},
                        {256, 33},
                        {40, 16},
                        {9, 100},
                        {600, 40}}) {
      auto w = Random(k * n, rng, 0.3f), b = Random(n, rng);
      auto fast = MakeLinear(w, b, k, n, kernel);
      ASSERT_TRUE(fast.ok()) << fast.status();
      auto ref = MakeReferenceLinear(w, b, k, n);
      // One object serves every M; the packed kernel does rows six (AVX2) or
      // twelve (AVX-512) at a time, from twice that packed into row tiles.
      for (int m : {1, 2, 3, 4, 5, 6, 7, 12, 13, 16, 25, 37, 64}) {
        auto x = Random(m * k, rng);
        std::vector<float> y1(m * n), y2(m * n);
        ASSERT_TRUE((*fast)->Forward(x.data(), m, y1.data()).ok());
        ASSERT_TRUE(ref->Forward(x.data(), m, y2.data()).ok());
        EXPECT_LT(MaxAbsDiff(y1, y2), 1e-4)
            << "kernel " << which << " " << k << "x" << n << " m=" << m;
      }
    }
    auto no_bias = MakeLinear(std::vector<float>(6, 1.0f), {}, 2, 3, kernel);
    ASSERT_TRUE(no_bias.ok());
    std::vector<float> x = {1, 2}, y(3);
    ASSERT_TRUE((*no_bias)->Forward(x.data(), 1, y.data()).ok());
    EXPECT_EQ(y, std::vector<float>({3, 3, 3})) << "kernel " << which;
    EXPECT_FALSE(MakeLinear({1, 2, 3}, {}, 2, 2, kernel).ok());
  }
}

TEST(Bf16LinearTest, MatchesReferenceOnRoundedWeights) {
  std::mt19937 rng(8);
  EXPECT_EQ(FloatToBf16(1.0f), 0x3F80);
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.00390625f)), 1.0f);  // ties to even
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(3.14159f)), 3.140625f);
  for (auto [k, n] : {std::pair<int, int>{1, 1},
                      {96, 6144},
                      {33, 45},
                      {64, 40},
                      {1024, 8 * 16 + 5}}) {
    auto w = Random(k * n, rng, 0.3f), b = Random(n, rng);
    std::vector<float> rounded(w.size());
    for (size_t i = 0; i < w.size(); ++i)
      rounded[i] = Bf16ToFloat(FloatToBf16(w[i]));
    auto fast = MakePackedBf16Linear(w, b, k, n);
    ASSERT_TRUE(fast.ok()) << fast.status();
    auto ref = MakeReferenceLinear(rounded, b, k, n);
    EXPECT_EQ((*fast)->weight_bytes(), int64_t(k) * n * 2 + n * 4);
    // One to four rows (panel pairs), five (one panel at a time), and past
    // one tile or two.
    for (int m : {1, 2, 3, 4, 5, 13, 30}) {
      auto x = Random(m * k, rng);
      std::vector<float> y1(m * n), y2(m * n);
      ASSERT_TRUE((*fast)->Forward(x.data(), m, y1.data()).ok());
      ASSERT_TRUE(ref->Forward(x.data(), m, y2.data()).ok());
      EXPECT_LT(MaxAbsDiff(y1, y2), 1e-4) << k << "x" << n;
    }
  }
  EXPECT_FALSE(MakePackedBf16Linear({1, 2, 3}, {}, 2, 2).ok());
}

// The kernels that offer ForwardColumns, over w [k, n] and bias b: the
// packed kernel with f32 and with bf16 weights.
std::vector<std::unique_ptr<Linear>> ColumnKernels(const std::vector<float>& w,
                                                   const std::vector<float>& b,
                                                   int k, int n) {
  std::vector<std::unique_ptr<Linear>> kernels;
  for (bool bf16 : {false, true}) {
    auto made = bf16 ? MakePackedBf16Linear(w, b, k, n)
                     : MakeLinear(w, b, k, n, DenseKernel::kPacked);
    EXPECT_TRUE(made.ok()) << made.status();
    if (made.ok()) kernels.push_back(std::move(*made));
  }
  return kernels;
}

int64_t CountNan(const std::vector<float>& v) {
  return std::count_if(v.begin(), v.end(),
                       [](float x) { return std::isnan(x); });
}

// ForwardColumns over consecutive ranges of whole groups (the last one ending
// at n, taking any tail) builds the same y as Forward, for the kernels that
// offer it; a range of a single group and an empty one are included.
TEST(LinearColumnsTest, RangesOfColumnsMatchForward) {
  std::mt19937 rng(9);
  for (auto [k, n] : {std::pair<int, int>{96, 6144},
                      {33, 17 * 16 + 3},
                      {20, 64},
                      {9, 100},
                      {40, 5}}) {
    auto w = Random(k * n, rng, 0.3f), b = Random(n, rng);
    for (const auto& linear : ColumnKernels(w, b, k, n)) {
      const int64_t g = linear->column_group();
      ASSERT_GT(g, 0);
      const int64_t groups = (n + g - 1) / g;
      for (int m : {1, 2, 3, 5, 13}) {
        auto x = Random(m * k, rng);
        std::vector<float> whole(m * n), ranges(m * n, NAN);
        ASSERT_TRUE(linear->Forward(x.data(), m, whole.data()).ok());
        // Ranges of 1, 0, 2, 3, 5, 5, ... groups.
        const int64_t lengths[] = {1, 0, 2, 3, 5};
        int64_t at = 0;
        for (int i = 0; at < groups; ++i) {
          const int64_t end = std::min(groups, at + lengths[std::min(i, 4)]);
          linear->ForwardColumns(x.data(), m, at * g,
                                 std::min<int64_t>(n, end * g), ranges.data());
          at = end;
        }
        EXPECT_EQ(CountNan(ranges), 0);
        EXPECT_LT(MaxAbsDiff(whole, ranges), 1e-5)
            << k << "x" << n << " group " << g << " m=" << m;
      }
    }
  }
}

// ForwardColumnsScaled: for several inputs at once, the same as Forward over
// x's rows multiplied by each input's scales, over ranges of columns as above.
TEST(LinearColumnsTest, ScaledRangesMatchForwardOfScaledRows) {
  std::mt19937 rng(11);
  for (auto [k, n] : {std::pair<int, int>{64, 64},
                      {33, 17 * 16 + 3},
                      {20, 160},  // five bf16 panels, ten f32 ones
                      {40, 5}}) {
    auto w = Random(k * n, rng, 0.3f), b = Random(n, rng);
    for (const auto& linear : ColumnKernels(w, b, k, n)) {
      const int64_t g = linear->column_group();
      const int64_t groups = (n + g - 1) / g, half = groups / 2;
      for (auto [m, inputs] : {std::pair<int, int>{1, 1}, {4, 3}, {16, 2}}) {
        auto x = Random(m * k, rng), scales = Random(inputs * k, rng);
        // What the scaled rows would give through Forward.
        std::vector<float> want(inputs * m * n), scaled(m * k);
        for (int s = 0; s < inputs; ++s) {
          for (int i = 0; i < m * k; ++i)
            scaled[i] = x[i] * scales[s * k + i % k];
          ASSERT_TRUE(
              linear->Forward(scaled.data(), m, want.data() + s * m * n).ok());
        }
        std::vector<float> got(want.size(), NAN);
        linear->ForwardColumnsScaled(x.data(), m, scales.data(), inputs, 0,
                                     half * g, got.data());
        linear->ForwardColumnsScaled(x.data(), m, scales.data(), inputs,
                                     half * g, n, got.data());
        EXPECT_EQ(CountNan(got), 0);
        EXPECT_LT(MaxAbsDiff(want, got), 1e-5)
            << k << "x" << n << " group " << g << " m=" << m
            << " inputs=" << inputs;
      }
    }
  }
}

// ForwardColumnsOfInputs: a layer's inputs cut into shares (odd cuts
// included), each over two ranges of columns, sum to Forward.
TEST(LinearColumnsTest, SharesOfInputsSumToForward) {
  std::mt19937 rng(13);
  for (auto [k, n] :
       {std::pair<int, int>{1024, 96}, {33, 17 * 16 + 3}, {20, 160}, {40, 5}}) {
    auto w = Random(k * n, rng, 0.3f), b = Random(n, rng);
    for (const auto& linear : ColumnKernels(w, b, k, n)) {
      const int64_t g = linear->column_group();
      const int64_t half = (n + g - 1) / g / 2;
      const int cuts[] = {0, k / 3, k / 3 + 1, k};
      for (int m : {1, 3}) {
        auto x = Random(m * k, rng);
        std::vector<float> want(m * n), sum(m * n, 0.0f), share(m * n, NAN);
        ASSERT_TRUE(linear->Forward(x.data(), m, want.data()).ok());
        for (int c = 0; c + 1 < 4; ++c) {
          linear->ForwardColumnsOfInputs(x.data(), m, cuts[c], cuts[c + 1], 0,
                                         half * g, share.data());
          linear->ForwardColumnsOfInputs(x.data(), m, cuts[c], cuts[c + 1],
                                         half * g, n, share.data());
          EXPECT_EQ(CountNan(share), 0);
          for (int i = 0; i < m * n; ++i) sum[i] += share[i];
        }
        EXPECT_LT(MaxAbsDiff(want, sum), 1e-4)
            << k << "x" << n << " group " << g << " m=" << m;
      }
    }
  }
}

}  // namespace
}  // namespace terraserve::engine
