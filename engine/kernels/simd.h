// The vector type the project's register-tiled kernels are written over
// (engine/kernels layer, included by kernel sources only): one 512-bit
// register of 16 floats with AVX-512, one 256-bit register of 8 with AVX2.
// The packed GEMM (vector_ops.cc) and the pair-order bf16 kernels
// (bf16_pairs.cc) share it. Stateless; thread-safe.
#ifndef TERRASERVE_ENGINE_KERNELS_SIMD_H_
#define TERRASERVE_ENGINE_KERNELS_SIMD_H_

#include <immintrin.h>

#include <cstdint>

#include "engine/kernels/vector_ops.h"

#if defined(__AVX2__) && defined(__FMA__)

namespace terraserve::engine::internal {

// kRowTile: rows of the GEMM's register tile (kGemmRowTile). 32 registers
// with AVX-512 hold up to 12 rows by two panels (24 accumulators, each weight
// load feeding twelve FMAs); 16 with AVX2, six rows by one panel, or three by
// two.
//
// LoadWords / Even / Odd: 2 kLanes bf16 values loaded as kLanes 32-bit words,
// each holding an even-indexed value in its low half and the next, odd one in
// its high half; a shift makes the even ones f32, a mask the odd ones
// (bf16_pairs.h).
#if defined(__AVX512F__)
struct Simd {
  using V = __m512;
  using W = __m512i;
  static constexpr int kLanes = 16;
  static constexpr int kRowTile = static_cast<int>(kGemmRowTile);
  static V Load(const float* p) { return _mm512_loadu_ps(p); }
  // The maskz forms, with every lane kept: GCC 12 warns of an uninitialised
  // variable inside the plain ones' inline definitions.
  static V Load(const uint16_t* p) {
    const __m512i wide = _mm512_maskz_cvtepu16_epi32(
        0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, wide, 16));
  }
  static W LoadWords(const uint16_t* p) { return _mm512_loadu_si512(p); }
  static V Even(W w) {
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xFFFF, w, 16));
  }
  static V Odd(W w) {
    return _mm512_castsi512_ps(_mm512_maskz_and_epi32(
        0xFFFF, w, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
  }
  static void Store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V Broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static V Zero() { return _mm512_setzero_ps(); }
  static V Add(V a, V b) { return _mm512_add_ps(a, b); }
  static V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V Fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  // The two halves added: eight lanes, for SumEach8 / HorizontalSum.
  static __m256 ToEight(V v) {
    return _mm256_add_ps(
        __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7),
        __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15));
  }
};
#else
struct Simd {
  using V = __m256;
  using W = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kRowTile = static_cast<int>(kGemmRowTile);
  static V Load(const float* p) { return _mm256_loadu_ps(p); }
  static V Load(const uint16_t* p) { return Widen8(p); }
  static W LoadWords(const uint16_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static V Even(W w) { return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)); }
  static V Odd(W w) {
    return _mm256_castsi256_ps(
        _mm256_and_si256(w, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
  }
  static void Store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V Broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V Zero() { return _mm256_setzero_ps(); }
  static V Add(V a, V b) { return _mm256_add_ps(a, b); }
  static V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static __m256 ToEight(V v) { return v; }
};
#endif

}  // namespace terraserve::engine::internal

#endif  // __AVX2__ && __FMA__

#endif  // TERRASERVE_ENGINE_KERNELS_SIMD_H_
