#include "engine/kernels/vector_ops.h"

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
