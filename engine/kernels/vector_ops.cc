#include "engine/kernels/vector_ops.h"

#include <algorithm>

namespace terraserve::engine {
namespace {

// Scalar GEMV for columns [from, n): the tail of the vector paths.
void GemvTail(const float* x, const float* w, int64_t k, int64_t n, int64_t ldw,
              int64_t from, float* y) {
  for (int64_t j = from; j < n; ++j) {
    float acc = y[j];
    for (int64_t c = 0; c < k; ++c) acc += x[c] * w[c * ldw + j];
    y[j] = acc;
  }
}

}  // namespace

#if defined(__AVX2__) && defined(__FMA__)

void Dot8(const float* a, const float* rows, int64_t ld, int64_t n,
          float* out) {
  if (n % 8 != 0) {
    for (int r = 0; r < 8; ++r) out[r] = Dot(a, rows + r * ld, n);
    return;
  }
  __m256 acc[8];
  for (int r = 0; r < 8; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 av = _mm256_loadu_ps(a + i);
    for (int r = 0; r < 8; ++r) {
      acc[r] = _mm256_fmadd_ps(av, _mm256_loadu_ps(rows + r * ld + i), acc[r]);
    }
  }
  // Reduce the eight accumulators at once: pairwise hadds, then fold the
  // 128-bit halves.
  const __m256 s01 = _mm256_hadd_ps(acc[0], acc[1]),
               s23 = _mm256_hadd_ps(acc[2], acc[3]);
  const __m256 s45 = _mm256_hadd_ps(acc[4], acc[5]),
               s67 = _mm256_hadd_ps(acc[6], acc[7]);
  const __m256 s0123 = _mm256_hadd_ps(s01, s23),
               s4567 = _mm256_hadd_ps(s45, s67);
  // s0123 lanes: [r0 r1 r2 r3 | r0 r1 r2 r3] (low and high halves of each row's
  // sum).
  const __m256 lo = _mm256_permute2f128_ps(s0123, s4567, 0x20);
  const __m256 hi = _mm256_permute2f128_ps(s0123, s4567, 0x31);
  _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
}

#else

void Dot8(const float* a, const float* rows, int64_t ld, int64_t n,
          float* out) {
  for (int r = 0; r < 8; ++r) out[r] = Dot(a, rows + r * ld, n);
}

#endif

#if defined(__AVX2__) && defined(__FMA__)

namespace {

// y[r, 0:16] += x[r, :] @ w[:, 0:16] for r < R, unrolled so the 2R
// accumulators stay in registers.
template <int R>
void Gemm16(const float* x, int64_t ldx, const float* w, int64_t ldw, int64_t k,
            float* y, int64_t ldy) {
  __m256 acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    acc[r][0] = _mm256_loadu_ps(y + r * ldy);
    acc[r][1] = _mm256_loadu_ps(y + r * ldy + 8);
  }
  for (int64_t c = 0; c < k; ++c) {
    const __m256 b0 = _mm256_loadu_ps(w + c * ldw);
    const __m256 b1 = _mm256_loadu_ps(w + c * ldw + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * ldx + c);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(y + r * ldy, acc[r][0]);
    _mm256_storeu_ps(y + r * ldy + 8, acc[r][1]);
  }
}

}  // namespace

void GemmAccumulate(const float* x, int64_t ldx, const float* w, int64_t ldw,
                    int64_t k, int64_t n, float* y, int64_t ldy, int64_t rows) {
  using Fn = void (*)(const float*, int64_t, const float*, int64_t, int64_t,
                      float*, int64_t);
  static constexpr Fn kRows[7] = {nullptr,   Gemm16<1>, Gemm16<2>, Gemm16<3>,
                                  Gemm16<4>, Gemm16<5>, Gemm16<6>};
  const int64_t n16 = n - n % 16;
  for (int64_t r = 0; r < rows; r += 6) {
    const int64_t R = std::min<int64_t>(6, rows - r);
    for (int64_t j = 0; j < n16; j += 16)
      kRows[R](x + r * ldx, ldx, w + j, ldw, k, y + r * ldy + j, ldy);
  }
  if (n16 < n) {
    for (int64_t r = 0; r < rows; ++r)
      GemvTail(x + r * ldx, w, k, n, ldw, n16, y + r * ldy);
  }
}

#else

void GemmAccumulate(const float* x, int64_t ldx, const float* w, int64_t ldw,
                    int64_t k, int64_t n, float* y, int64_t ldy, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    GemvTail(x + r * ldx, w, k, n, ldw, 0, y + r * ldy);
}

#endif

#if defined(__AVX512F__)

const char* VectorIsa() { return "avx512"; }

void GemvAccumulate(const float* x, const float* w, int64_t k, int64_t n,
                    int64_t ldw, float* y) {
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) {
    __m512 a0 = _mm512_loadu_ps(y + j), a1 = _mm512_loadu_ps(y + j + 16);
    __m512 a2 = _mm512_loadu_ps(y + j + 32), a3 = _mm512_loadu_ps(y + j + 48);
    for (int64_t c = 0; c < k; ++c) {
      const __m512 xc = _mm512_set1_ps(x[c]);
      const float* wr = w + c * ldw + j;
      a0 = _mm512_fmadd_ps(xc, _mm512_loadu_ps(wr), a0);
      a1 = _mm512_fmadd_ps(xc, _mm512_loadu_ps(wr + 16), a1);
      a2 = _mm512_fmadd_ps(xc, _mm512_loadu_ps(wr + 32), a2);
      a3 = _mm512_fmadd_ps(xc, _mm512_loadu_ps(wr + 48), a3);
    }
    _mm512_storeu_ps(y + j, a0);
    _mm512_storeu_ps(y + j + 16, a1);
    _mm512_storeu_ps(y + j + 32, a2);
    _mm512_storeu_ps(y + j + 48, a3);
  }
  for (; j + 16 <= n; j += 16) {
    __m512 a0 = _mm512_loadu_ps(y + j);
    for (int64_t c = 0; c < k; ++c) {
      a0 = _mm512_fmadd_ps(_mm512_set1_ps(x[c]),
                           _mm512_loadu_ps(w + c * ldw + j), a0);
    }
    _mm512_storeu_ps(y + j, a0);
  }
  GemvTail(x, w, k, n, ldw, j, y);
}

#elif defined(__AVX2__) && defined(__FMA__)

const char* VectorIsa() { return "avx2"; }

void GemvAccumulate(const float* x, const float* w, int64_t k, int64_t n,
                    int64_t ldw, float* y) {
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    __m256 a0 = _mm256_loadu_ps(y + j), a1 = _mm256_loadu_ps(y + j + 8);
    __m256 a2 = _mm256_loadu_ps(y + j + 16), a3 = _mm256_loadu_ps(y + j + 24);
    for (int64_t c = 0; c < k; ++c) {
      const __m256 xc = _mm256_set1_ps(x[c]);
      const float* wr = w + c * ldw + j;
      a0 = _mm256_fmadd_ps(xc, _mm256_loadu_ps(wr), a0);
      a1 = _mm256_fmadd_ps(xc, _mm256_loadu_ps(wr + 8), a1);
      a2 = _mm256_fmadd_ps(xc, _mm256_loadu_ps(wr + 16), a2);
      a3 = _mm256_fmadd_ps(xc, _mm256_loadu_ps(wr + 24), a3);
    }
    _mm256_storeu_ps(y + j, a0);
    _mm256_storeu_ps(y + j + 8, a1);
    _mm256_storeu_ps(y + j + 16, a2);
    _mm256_storeu_ps(y + j + 24, a3);
  }
  for (; j + 8 <= n; j += 8) {
    __m256 a0 = _mm256_loadu_ps(y + j);
    for (int64_t c = 0; c < k; ++c) {
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(x[c]),
                           _mm256_loadu_ps(w + c * ldw + j), a0);
    }
    _mm256_storeu_ps(y + j, a0);
  }
  GemvTail(x, w, k, n, ldw, j, y);
}

#else

const char* VectorIsa() { return "scalar"; }

void GemvAccumulate(const float* x, const float* w, int64_t k, int64_t n,
                    int64_t ldw, float* y) {
  GemvTail(x, w, k, n, ldw, 0, y);
}

#endif

}  // namespace terraserve::engine
