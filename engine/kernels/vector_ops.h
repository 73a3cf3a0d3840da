// Vectorised dot product, axpy and small GEMV (engine/kernels layer): AVX-512
// or AVX2+FMA when the build targets them, scalar otherwise. Dot and Axpy are
// inline so hot loops over many short rows (attention over cached positions,
// sparse FF rows) pay no call per row. Pure functions; thread-safe.
#ifndef TERRASERVE_ENGINE_KERNELS_VECTOR_OPS_H_
#define TERRASERVE_ENGINE_KERNELS_VECTOR_OPS_H_

#include <immintrin.h>

#include <cstdint>

#include "engine/kernels/bf16.h"

namespace terraserve::engine {

namespace internal {
// An f32 value from f32 or bf16 storage.
inline float ToFloat(float v) { return v; }
inline float ToFloat(uint16_t v) { return Bf16ToFloat(v); }
}  // namespace internal

// Which instruction set these were compiled for: "avx512", "avx2" or "scalar".
const char* VectorIsa();

// out[r] = sum_i a[i] * rows[r * ld + i] for r < 8: eight dot products sharing
// one vector, with a single combined horizontal reduction (attention scores
// over 8 cached keys).
void Dot8(const float* a, const float* rows, int64_t ld, int64_t n, float* out);

// y[0:n] += x[0:k] @ w, w being k rows of n bfloat16 values, ldw apart (a
// run of a bf16 KV cache's values, a panel of a bf16 weight), widened in
// registers as it is read.
void GemvAccumulateBf16(const float* x, const uint16_t* w, int64_t k, int64_t n,
                        int64_t ldw, float* y);

// y[0:n] += x[0:k] @ w, w being k rows of n floats, ldw floats apart.
// Accumulators stay in registers across k, so small matrices (the convolutions'
// M x M kernels, the attention's value rows) run near the FMA rate with no
// store per row.
void GemvAccumulate(const float* x, const float* w, int64_t k, int64_t n,
                    int64_t ldw, float* y);

// y[r, 0:n] += x[r, 0:k] @ w for r < rows: rows ldx / ldy floats apart, w
// k rows of n floats, ldw apart. Up to six rows (twelve with AVX-512) by 16
// columns at a time with the outputs in registers, so each w load feeds up to
// six (twelve) FMAs (the convolutions: the modules of a position against one
// M x M tap).
//
// Given `scale` (k floats), each w row c is multiplied by scale[c] as it is
// loaded: y[r] += (x[r] * scale) @ w elementwise, for every row, without the
// scaled rows being written anywhere (the factored dense: x its D, scale an
// input row). Here and below.
void GemmAccumulate(const float* x, int64_t ldx, const float* w, int64_t ldw,
                    int64_t k, int64_t n, float* y, int64_t ldy, int64_t rows,
                    const float* scale = nullptr);
// The same with bfloat16 weights, each load widened in registers once for all
// the rows it feeds.
void GemmAccumulate(const float* x, int64_t ldx, const uint16_t* w, int64_t ldw,
                    int64_t k, int64_t n, float* y, int64_t ldy, int64_t rows,
                    const float* scale = nullptr);

// The same kernel over a weight packed as panels of 16 columns: panel g is k
// rows of 16 floats, contiguous, at panels + g * 16 * k, and adds to y columns
// 16g .. 16g+15. Reading each panel in order is one stream per panel
// (packed_linear.h).
void PanelGemmAccumulate(const float* x, int64_t ldx, const float* panels,
                         int64_t k, int64_t n_panels, float* y, int64_t ldy,
                         int64_t rows, const float* scale = nullptr);
// The same over bfloat16 panels of kBf16PanelColumns: panel g is k rows of 32
// values at panels + g * 32 * k, adding to y columns 32g .. 32g+31. A row of
// such a panel is a cache line, as an f32 panel's is; 16-column bf16 panels,
// half a line a row, read 30-35 GB/s from memory where these read 50+.
void PanelGemmAccumulate(const float* x, int64_t ldx, const uint16_t* panels,
                         int64_t k, int64_t n_panels, float* y, int64_t ldy,
                         int64_t rows, const float* scale = nullptr);
inline constexpr int64_t kBf16PanelColumns = 32;

// Rows of the packed GEMM's register tile: 12 with AVX-512, 6 with AVX2, 1 in
// the scalar build.
#if defined(__AVX512F__)
inline constexpr int64_t kGemmRowTile = 12;
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr int64_t kGemmRowTile = 6;
#else
inline constexpr int64_t kGemmRowTile = 1;
#endif

// Copies x[r, 0:k] for r < rows (rows ldx apart) to `tiles` (rows * k floats)
// as the register tile reads them: the rows in tiles of kGemmRowTile (the last
// may be shorter), the tile from row t at tiles + t * k holding its R rows
// column by column, [k][R]. A tile's step over k then reads one short run,
// where plain rows are R lines 4 KB or more apart, each behind its own
// pointer: GEMMs of 24-512 rows ran 1-12% faster so in all but one noisy
// run, a whole dense prompt step 1.18x (AVX-512, Xeon).
void PackRowTiles(const float* x, int64_t ldx, int64_t k, int64_t rows,
                  float* tiles);
// PanelGemmAccumulate over rows packed by PackRowTiles, f32 panels. (Not
// built for bf16 panels: it was not measured there, and each variant of the
// register tile costs minutes of the sanitizer builds.)
void PanelGemmAccumulateTiles(const float* tiles, const float* panels,
                              int64_t k, int64_t n_panels, float* y,
                              int64_t ldy, int64_t rows);

// Up to this many rows PanelGemmAccumulate reads two panels at once when given
// two (two memory streams per thread); a caller splitting panels over threads
// hands them out in pairs up to it. With AVX-512 every row tile does (its 32
// registers hold twelve rows by two panels); with AVX2 only up to three rows.
#if defined(__AVX512F__)
inline constexpr int64_t kPanelPairRows = INT64_MAX;
#else
inline constexpr int64_t kPanelPairRows = 3;
#endif
// The same for bf16 panels, each already two groups of 16: a pair is four
// groups, so only a few rows' accumulators fit in registers (AVX-512: four
// rows of four; AVX2, whose panel row is four registers, none).
#if defined(__AVX512F__)
inline constexpr int64_t kBf16PanelPairRows = 4;
#else
inline constexpr int64_t kBf16PanelPairRows = 0;
#endif

// x[i] = exp(x[i] - shift) for i < n; returns the sum of the results: a
// softmax's exponentials. Vectorised with our own polynomial, since glibc's
// vector exp is only declared under -ffast-math and the scalar one took a
// third of the attention's compute. Relative error under 3e-7 against
// std::exp (a few ulp); 0 where x[i] - shift < -87 (std::exp gives a
// subnormal there, or 0).
float ExpShifted(float* x, int64_t n, float shift);

// The largest of x[0:n] (-inf for n 0), ignoring NaNs: a softmax's shift.
float MaxOf(const float* x, int64_t n);

// The index of the largest of x[0:n], n >= 1: the first on ties, and as the
// scalar loop `if (x[i] > x[best]) best = i` for NaNs (a NaN never wins; one at
// x[0] does). The Sparse FF controller's per-block choice.
int64_t ArgmaxFirst(const float* x, int64_t n);

// Asks for the cache lines of p[0:n] (f32 or bf16) ahead of their use.
template <typename T>
inline void Prefetch(const T* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 64 / int64_t(sizeof(T)))
    _mm_prefetch(reinterpret_cast<const char*>(p + i), _MM_HINT_T0);
}

#if defined(__AVX2__) && defined(__FMA__)
// Also built for AVX-512, where Dot8 still works in 8 lanes.
namespace internal {

inline float HorizontalSum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

// out[r] = the sum of lanes[r]'s eight lanes, for r < 8, reduced together:
// pairwise hadds, then the 128-bit halves folded.
inline void SumEach8(const __m256 lanes[8], float* out) {
  const __m256 s01 = _mm256_hadd_ps(lanes[0], lanes[1]),
               s23 = _mm256_hadd_ps(lanes[2], lanes[3]);
  const __m256 s45 = _mm256_hadd_ps(lanes[4], lanes[5]),
               s67 = _mm256_hadd_ps(lanes[6], lanes[7]);
  const __m256 s0123 = _mm256_hadd_ps(s01, s23),
               s4567 = _mm256_hadd_ps(s45, s67);
  // s0123 lanes: [r0 r1 r2 r3 | r0 r1 r2 r3] (low and high halves of each
  // row's sum).
  const __m256 lo = _mm256_permute2f128_ps(s0123, s4567, 0x20);
  const __m256 hi = _mm256_permute2f128_ps(s0123, s4567, 0x31);
  _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
}

// Eight bf16 values as f32, exactly (a bf16 is an f32's top half).
inline __m256 Widen8(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(
      _mm256_cvtepu16_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
      16));
}

// Eight f32 values from f32 or bf16 storage.
inline __m256 Load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 Load8(const uint16_t* p) { return Widen8(p); }

// The eight lanes of sum_i a[i] * b[i] over i < n - n % 8 (b f32 or bf16),
// before their horizontal sum. Four accumulators hide the FMA latency; b is
// read once, front to back.
template <typename T>
inline __m256 DotLanes(const float* a, const T* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), Load8(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), Load8(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), Load8(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), Load8(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), Load8(b + i), s0);
  }
  return _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
}

}  // namespace internal

// sum_i a[i] * b[i] over bfloat16 b (a query against a bf16 KV cache's key,
// a bf16 Sparse FF row), widened in registers as it is read: widening a run
// into an f32 buffer first and then reading that took as long as an f32 cache
// of twice the bytes. 8 lanes in both builds: 16 measured no faster on
// attention's bf16 rows.
inline float Dot(const float* a, const uint16_t* b, int64_t n) {
  float sum = internal::HorizontalSum(internal::DotLanes(a, b, n));
  for (int64_t i = n - n % 8; i < n; ++i) sum += a[i] * Bf16ToFloat(b[i]);
  return sum;
}

// y[i] += alpha * x[i] over bfloat16 x.
inline void Axpy(float alpha, const uint16_t* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, internal::Widen8(x + i),
                                            _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += alpha * Bf16ToFloat(x[i]);
}
#endif

#if defined(__AVX512F__)

// sum_i a[i] * b[i]
inline float Dot(const float* a, const float* b, int64_t n) {
  // Four accumulators hide the FMA latency; rows are read once, in order.
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16),
                         _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32),
                         _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48),
                         _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  }
  // Halved with __builtin_shufflevector, not _mm512_reduce_add_ps or the
  // _mm512 cast and shuffle intrinsics: GCC 12 warns inside each of those
  // (maybe-uninitialized, from their _mm*_undefined_*), which -Werror turns
  // into a build failure.
  const __m512 s = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
  float sum = internal::HorizontalSum(_mm256_add_ps(
      __builtin_shufflevector(s, s, 0, 1, 2, 3, 4, 5, 6, 7),
      __builtin_shufflevector(s, s, 8, 9, 10, 11, 12, 13, 14, 15)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y[i] += alpha * x[i]
inline void Axpy(float alpha, const float* x, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i),
                                            _mm512_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += alpha * x[i];
}

#elif defined(__AVX2__) && defined(__FMA__)

inline float Dot(const float* a, const float* b, int64_t n) {
  float sum = internal::HorizontalSum(internal::DotLanes(a, b, n));
  for (int64_t i = n - n % 8; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

inline void Axpy(float alpha, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
                                            _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += alpha * x[i];
}

// out[0] = a . b0, out[1] = a . b1 (f32 or bf16 rows): two rows read side by
// side, two memory streams at once (Sparse FF's chosen rows, each a short
// stream the hardware prefetcher finds late).
template <typename T>
inline void Dot2(const float* a, const T* b0, const T* b1, int64_t n,
                 float* out) {
  using internal::Load8;
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a0 = _mm256_loadu_ps(a + i), a1 = _mm256_loadu_ps(a + i + 8);
    s0 = _mm256_fmadd_ps(a0, Load8(b0 + i), s0);
    t0 = _mm256_fmadd_ps(a0, Load8(b1 + i), t0);
    s1 = _mm256_fmadd_ps(a1, Load8(b0 + i + 8), s1);
    t1 = _mm256_fmadd_ps(a1, Load8(b1 + i + 8), t1);
  }
  float u0 = internal::HorizontalSum(_mm256_add_ps(s0, s1));
  float u1 = internal::HorizontalSum(_mm256_add_ps(t0, t1));
  for (; i < n; ++i) {
    u0 += a[i] * internal::ToFloat(b0[i]);
    u1 += a[i] * internal::ToFloat(b1[i]);
  }
  out[0] = u0;
  out[1] = u1;
}

// y[i] += h0 * x0[i] + h1 * x1[i] (f32 or bf16 rows): two rows side by side,
// y loaded and stored once for both.
template <typename T>
inline void Axpy2(float h0, const T* x0, float h1, const T* x1, float* y,
                  int64_t n) {
  using internal::Load8;
  const __m256 v0 = _mm256_set1_ps(h0), v1 = _mm256_set1_ps(h1);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 acc = _mm256_fmadd_ps(v0, Load8(x0 + i), _mm256_loadu_ps(y + i));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(v1, Load8(x1 + i), acc));
  }
  for (; i < n; ++i) {
    y[i] += h0 * internal::ToFloat(x0[i]) + h1 * internal::ToFloat(x1[i]);
  }
}

#else

inline float Dot(const float* a, const float* b, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

inline void Axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

inline float Dot(const float* a, const uint16_t* b, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * Bf16ToFloat(b[i]);
  return sum;
}

inline void Axpy(float alpha, const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * Bf16ToFloat(x[i]);
}

#endif

#if defined(__AVX512F__) || !(defined(__AVX2__) && defined(__FMA__))
// The pair as two single-row calls where only those are vectorised.
template <typename T>
inline void Dot2(const float* a, const T* b0, const T* b1, int64_t n,
                 float* out) {
  out[0] = Dot(a, b0, n);
  out[1] = Dot(a, b1, n);
}

template <typename T>
inline void Axpy2(float h0, const T* x0, float h1, const T* x1, float* y,
                  int64_t n) {
  Axpy(h0, x0, y, n);
  Axpy(h1, x1, y, n);
}
#endif

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_VECTOR_OPS_H_
