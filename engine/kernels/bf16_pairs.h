// Dot products and weighted sums over rows of bfloat16 values in "pair
// order" (engine/kernels layer): a decode query's scores and weighted values
// over a bf16 KV cache.
//
// Why: widening bf16 the usual way (zero-extend each 16-bit value to 32 bits,
// then shift) costs two instructions per 16 values, and with a dot product's
// own loads, FMAs and reduction, a query against a bf16 cache ran no faster
// from cache than against an f32 one of twice the bytes: bound by the core,
// not memory. Loaded as 32-bit words instead, a vector of 2L bf16 values
// (L = 16 lanes with AVX-512, 8 with AVX2) holds an even-indexed value in the
// low half of each word and the next, odd-indexed one in the high half: one
// shift makes the even ones f32, one mask the odd ones. Their products come
// out in pair order: per chunk of kBf16PairChunk = 2L values, the L
// even-indexed ones, then the L odd ones. So the other operand (the query) is
// put in pair order once, and weighted sums accumulate in pair order and are
// put back once.
//
// Pure functions; thread-safe. n (the row length) must be a multiple of
// kBf16PairChunk; callers fall back to the plain bf16 Dot / GEMV otherwise.
#ifndef TERRASERVE_ENGINE_KERNELS_BF16_PAIRS_H_
#define TERRASERVE_ENGINE_KERNELS_BF16_PAIRS_H_

#include <cstdint>

namespace terraserve::engine {

#if defined(__AVX512F__)
constexpr int64_t kBf16PairChunk = 32;
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int64_t kBf16PairChunk = 16;
#else
constexpr int64_t kBf16PairChunk = 2;  // pair order is then the natural order
#endif

// out[0:n] = x[0:n] in pair order (out must not alias x).
void ToPairOrder(const float* x, int64_t n, float* out);

// out[0:n] = x[0:n] back from pair order (out must not alias x).
void FromPairOrder(const float* x, int64_t n, float* out);

// out[r] = sum_i q[i] * rows[r * ld + i] for r < n_rows, over bf16 rows of n
// values, q given in pair order.
void DotsBf16Pairs(const float* q_pairs, const uint16_t* rows, int64_t n_rows,
                   int64_t ld, int64_t n, float* out);

// y[0:n] += sum_r w[r] * rows[r * ld : r * ld + n] over r < n_rows (bf16
// rows), y kept in pair order.
void AccumulateBf16Pairs(const float* w, const uint16_t* rows, int64_t n_rows,
                         int64_t ld, int64_t n, float* y_pairs);

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_BF16_PAIRS_H_
