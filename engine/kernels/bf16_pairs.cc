#include "engine/kernels/bf16_pairs.h"

#include <immintrin.h>

#include "engine/kernels/bf16.h"
#include "engine/kernels/simd.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine {

void ToPairOrder(const float* x, int64_t n, float* out) {
  constexpr int64_t kHalf = kBf16PairChunk / 2;
  for (int64_t c = 0; c < n; c += kBf16PairChunk) {
    for (int64_t j = 0; j < kHalf; ++j) {
      out[c + j] = x[c + 2 * j];
      out[c + kHalf + j] = x[c + 2 * j + 1];
    }
  }
}

void FromPairOrder(const float* x, int64_t n, float* out) {
  constexpr int64_t kHalf = kBf16PairChunk / 2;
  for (int64_t c = 0; c < n; c += kBf16PairChunk) {
    for (int64_t j = 0; j < kHalf; ++j) {
      out[c + 2 * j] = x[c + j];
      out[c + 2 * j + 1] = x[c + kHalf + j];
    }
  }
}

#if defined(__AVX2__) && defined(__FMA__)

namespace {

using S = internal::Simd;
constexpr int kL = S::kLanes;
static_assert(2 * kL == kBf16PairChunk, "a chunk is one vector of words");

// The lanes of one row's dot product with q (pair order), before their sum.
// Two accumulators: the even and odd halves' FMAs do not wait on each other.
inline __m256 RowLanes(const float* q, const uint16_t* row, int64_t n) {
  S::V a = S::Zero(), b = S::Zero();
  for (int64_t i = 0; i < n; i += 2 * kL) {
    const S::W w = S::LoadWords(row + i);
    a = S::Fma(S::Load(q + i), S::Even(w), a);
    b = S::Fma(S::Load(q + i + kL), S::Odd(w), b);
  }
  return S::ToEight(S::Add(a, b));
}

// y[0 : 2 kL C] += sum_r w[r] * rows[r] (pair order), the C chunks' even and
// odd accumulators in registers across the rows, each row read whole and in
// address order.
template <int C>
void AccumulateChunks(const float* w, const uint16_t* rows, int64_t n_rows,
                      int64_t ld, float* y) {
  S::V even[C], odd[C];
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c) {
    even[c] = S::Load(y + 2 * kL * c);
    odd[c] = S::Load(y + 2 * kL * c + kL);
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const S::V wr = S::Broadcast(w + r);
    const uint16_t* row = rows + r * ld;
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      const S::W words = S::LoadWords(row + 2 * kL * c);
      even[c] = S::Fma(wr, S::Even(words), even[c]);
      odd[c] = S::Fma(wr, S::Odd(words), odd[c]);
    }
  }
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c) {
    S::Store(y + 2 * kL * c, even[c]);
    S::Store(y + 2 * kL * c + kL, odd[c]);
  }
}

}  // namespace

void DotsBf16Pairs(const float* q_pairs, const uint16_t* rows, int64_t n_rows,
                   int64_t ld, int64_t n, float* out) {
  int64_t r = 0;
  for (; r + 8 <= n_rows; r += 8) {
    __m256 lanes[8];
    for (int j = 0; j < 8; ++j)
      lanes[j] = RowLanes(q_pairs, rows + (r + j) * ld, n);
    internal::SumEach8(lanes, out + r);
  }
  for (; r < n_rows; ++r)
    out[r] = internal::HorizontalSum(RowLanes(q_pairs, rows + r * ld, n));
}

void AccumulateBf16Pairs(const float* w, const uint16_t* rows, int64_t n_rows,
                         int64_t ld, int64_t n, float* y_pairs) {
  // Four chunks at once (16 of the 32 registers with AVX-512), so a head of
  // up to 128 values is one pass over its rows.
  int64_t i = 0;
  for (; i + 4 * kBf16PairChunk <= n; i += 4 * kBf16PairChunk)
    AccumulateChunks<4>(w, rows + i, n_rows, ld, y_pairs + i);
  for (; i + 2 * kBf16PairChunk <= n; i += 2 * kBf16PairChunk)
    AccumulateChunks<2>(w, rows + i, n_rows, ld, y_pairs + i);
  for (; i < n; i += kBf16PairChunk)
    AccumulateChunks<1>(w, rows + i, n_rows, ld, y_pairs + i);
}

#else

// Pair order is the natural order here.
void DotsBf16Pairs(const float* q_pairs, const uint16_t* rows, int64_t n_rows,
                   int64_t ld, int64_t n, float* out) {
  for (int64_t r = 0; r < n_rows; ++r) out[r] = Dot(q_pairs, rows + r * ld, n);
}

void AccumulateBf16Pairs(const float* w, const uint16_t* rows, int64_t n_rows,
                         int64_t ld, int64_t n, float* y_pairs) {
  for (int64_t r = 0; r < n_rows; ++r) Axpy(w[r], rows + r * ld, y_pairs, n);
}

#endif

}  // namespace terraserve::engine
