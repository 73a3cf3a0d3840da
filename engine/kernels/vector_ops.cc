#include "engine/kernels/vector_ops.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "engine/kernels/bf16.h"
#include "engine/kernels/simd.h"

namespace terraserve::engine {
namespace {

// The index of the largest of x[0:n] by the scalar rule (ArgmaxFirst).
int64_t ArgmaxScalar(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

// Scalar GEMV for columns [from, n) of f32 or bf16 weights, weight row c
// multiplied by scale[c] where scale is given: the tail of the vector paths.
template <typename T>
void GemvTail(const float* x, const T* w, int64_t k, int64_t n, int64_t ldw,
              int64_t from, float* y, const float* scale = nullptr) {
  for (int64_t j = from; j < n; ++j) {
    float acc = y[j];
    for (int64_t c = 0; c < k; ++c) {
      const float wc = internal::ToFloat(w[c * ldw + j]);
      acc += x[c] * (scale != nullptr ? wc * scale[c] : wc);
    }
    y[j] = acc;
  }
}

}  // namespace

#if defined(__AVX2__) && defined(__FMA__)

namespace {

// exp(x) lane by lane, Cephes' method: x = n ln2 + r with |r| <= ln2 / 2,
// exp(r) by a degree-6 polynomial, times 2^n built in the exponent bits.
__m256 Exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.3762626647f);
  // max / min return their second operand for a NaN, so NaN passes through.
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln2 in two parts, so n * ln2 is subtracted exactly.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r),
                      _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // n = 128 (x near the top) does not fit the exponent: 2^127 * 2 p instead.
  const __m256i e = _mm256_cvtps_epi32(n);
  const __m256i top = _mm256_cmpeq_epi32(e, _mm256_set1_epi32(128));
  const __m256i biased = _mm256_slli_epi32(
      _mm256_add_epi32(
          _mm256_sub_epi32(e, _mm256_and_si256(top, _mm256_set1_epi32(1))),
          _mm256_set1_epi32(127)),
      23);
  p = _mm256_blendv_ps(p, _mm256_add_ps(p, p), _mm256_castsi256_ps(top));
  return _mm256_andnot_ps(underflow,
                          _mm256_mul_ps(p, _mm256_castsi256_ps(biased)));
}

}  // namespace

float ExpShifted(float* x, int64_t n, float shift) {
  const __m256 vs = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = Exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  if (i < n) {
    // The tail through the same code, so a value's exp does not depend on
    // where it sits.
    alignas(32) float tail[8];
    const int64_t rest = n - i;
    for (int j = 0; j < 8; ++j) tail[j] = j < rest ? x[i + j] - shift : 0.0f;
    _mm256_store_ps(tail, Exp8(_mm256_load_ps(tail)));
    for (int64_t j = 0; j < rest; ++j) total += (x[i + j] = tail[j]);
  }
  return total;
}

namespace {

// y[0 : 8V] += x[0:k] @ w[:, 0 : 8V] (f32 or bf16 weights), the V vectors of
// outputs in registers across k.
template <int V, typename T>
void GemvColumns(const float* x, const T* w, int64_t k, int64_t ldw, float* y) {
  __m256 acc[V];
#pragma GCC unroll 8
  for (int h = 0; h < V; ++h) acc[h] = _mm256_loadu_ps(y + 8 * h);
  for (int64_t c = 0; c < k; ++c) {
    const __m256 xc = _mm256_set1_ps(x[c]);
    const T* wr = w + c * ldw;
#pragma GCC unroll 8
    for (int h = 0; h < V; ++h)
      acc[h] = _mm256_fmadd_ps(xc, internal::Load8(wr + 8 * h), acc[h]);
  }
#pragma GCC unroll 8
  for (int h = 0; h < V; ++h) _mm256_storeu_ps(y + 8 * h, acc[h]);
}

// GemvAccumulate in 256-bit vectors, f32 or bf16 weights. 64 columns at once
// first: a 64-float row (an attention head's cached value) is read whole, in
// address order, rather than in two strided passes of 32 (13.5 -> 16 GB/s per
// thread from memory); then 32 (a bf16 weight panel), 8 and the rest.
template <typename T>
void Gemv256(const float* x, const T* w, int64_t k, int64_t n, int64_t ldw,
             float* y) {
  int64_t j = 0;
  for (; j + 64 <= n; j += 64) GemvColumns<8>(x, w + j, k, ldw, y + j);
  for (; j + 32 <= n; j += 32) GemvColumns<4>(x, w + j, k, ldw, y + j);
  for (; j + 8 <= n; j += 8) GemvColumns<1>(x, w + j, k, ldw, y + j);
  GemvTail(x, w, k, n, ldw, j, y);
}

}  // namespace

void GemvAccumulateBf16(const float* x, const uint16_t* w, int64_t k, int64_t n,
                        int64_t ldw, float* y) {
  Gemv256(x, w, k, n, ldw, y);
}

void Dot8(const float* a, const float* rows, int64_t ld, int64_t n,
          float* out) {
  if (n % 8 != 0) {
    for (int r = 0; r < 8; ++r) out[r] = Dot(a, rows + r * ld, n);
    return;
  }
  // Row after row, each read front to back, so the rows (cached keys, from
  // memory) stream in address order: stepping all eight rows together at each
  // i read them at 10 GB/s per thread against 16 GB/s in order.
  __m256 acc[8];
  for (int r = 0; r < 8; ++r) acc[r] = internal::DotLanes(a, rows + r * ld, n);
  internal::SumEach8(acc, out);
}

float MaxOf(const float* x, int64_t n) {
  // Two vectors of running maxima, so no step waits on the one before. maxps
  // returns its second operand where either is NaN, so a NaN never wins.
  __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
    m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_max_ps(m0, m1));
  float best = -INFINITY;
  for (float v : lanes) best = v > best ? v : best;
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  return best;
}

int64_t ArgmaxFirst(const float* x, int64_t n) {
  const int64_t n8 = n - n % 8;
  if (n8 == 0) return ArgmaxScalar(x, n);
  // One pass for the maximum (and whether any lane is NaN), one for the first
  // lane equal to it: about 20 instructions for a block of 64, against 64
  // compare-and-branch steps whose branches the random logits defeat.
  __m256 mx = _mm256_loadu_ps(x), nan = _mm256_cmp_ps(mx, mx, _CMP_UNORD_Q);
  for (int64_t i = 8; i < n8; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    mx = _mm256_max_ps(mx, v);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  if (_mm256_movemask_ps(nan) != 0) return ArgmaxScalar(x, n);
  __m128 m4 =
      _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
  const float vmax = _mm_cvtss_f32(m4);
  // A tail element above every lane wins (the first such largest); otherwise
  // the first lane equal to the maximum does, as it comes before the tail.
  int64_t tail = -1;
  for (int64_t i = n8; i < n; ++i) {
    if (x[i] > (tail < 0 ? vmax : x[tail])) tail = i;
  }
  if (tail >= 0) return tail;
  const __m256 target = _mm256_set1_ps(vmax);
  for (int64_t i = 0; i < n8; i += 8) {
    const int mask = _mm256_movemask_ps(
        _mm256_cmp_ps(_mm256_loadu_ps(x + i), target, _CMP_EQ_OQ));
    if (mask != 0) return i + __builtin_ctz(mask);
  }
  return 0;  // unreachable: the maximum is one of the lanes
}

#else

int64_t ArgmaxFirst(const float* x, int64_t n) { return ArgmaxScalar(x, n); }

float MaxOf(const float* x, int64_t n) {
  float best = -INFINITY;
  for (int64_t i = 0; i < n; ++i) best = x[i] > best ? x[i] : best;
  return best;
}

float ExpShifted(float* x, int64_t n, float shift) {
  float total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] - shift;
    total += (x[i] = v < -87.0f ? 0.0f : std::exp(v));
  }
  return total;
}

void GemvAccumulateBf16(const float* x, const uint16_t* w, int64_t k, int64_t n,
                        int64_t ldw, float* y) {
  GemvTail(x, w, k, n, ldw, 0, y);
}

void Dot8(const float* a, const float* rows, int64_t ld, int64_t n,
          float* out) {
  for (int r = 0; r < 8; ++r) out[r] = Dot(a, rows + r * ld, n);
}

#endif

namespace {

// Where group g of 16 columns starts: groups come in pairs gstride apart, and
// the pairs pstride apart (2 * gstride for evenly spaced groups; for bf16
// panels a pair is one panel, the next panel k rows later).
constexpr int64_t GroupOffset(int64_t g, int64_t gstride, int64_t pstride) {
  return (g % 2) * gstride + (g / 2) * pstride;
}

}  // namespace

#if defined(__AVX2__) && defined(__FMA__)

namespace {

// The register tile's vector (simd.h): a panel row of 16 floats is one
// 512-bit register with AVX-512, two 256-bit ones with AVX2.
using internal::Simd;
constexpr int kPerPanel = 16 / Simd::kLanes;  // vectors per panel row
// Rows up to which a tile takes two panels: every tile's with AVX-512.
constexpr int kPairTile =
    static_cast<int>(std::min<int64_t>(Simd::kRowTile, kPanelPairRows));

// From four rows on, a tile reads one panel, a single memory stream per
// thread, and the hardware prefetcher alone keeps too few of its lines in
// flight: asking for the line kAhead weight rows ahead (2 KB in a packed f32
// panel) made 16 x 1024 x 4096 and 4 x 1024 x 8000 8-10% faster from memory
// (AVX2). Fewer rows read two panels at once instead, where it gained nothing.
// A bf16 panel row holds 32 columns in the same 64 bytes, and there 64 rows
// (4 KB) ahead read 4 x 1024 x 4096 15-20% faster than 32 (AVX-512). A bf16
// tile asks for its lines at every row count: on a Xeon (Ice Lake) the
// one-row GEMV over one bf16 panel, one stream, read 15-17% faster with it.
template <typename T>
constexpr int64_t kAhead = sizeof(T) == 4 ? 32 : 64;

// y[r, 16g : 16g+16] += x[r, :] @ W_g for rows r < R and column groups g < P,
// group g's k rows of 16 values (f32, or bf16 widened as loaded) starting at
// w + GroupOffset(g, gstride, pstride), ldw apart. Unrolled so the R * P *
// kPerPanel accumulators stay in registers; a bf16 load is widened once for all
// R rows. kScaled: weight row c multiplied by scale[c] as it is loaded, once
// for all R rows. kTiles: x is a tile of PackRowTiles, row r's value c at
// x[c * R + r] (ldx unused); else at x[r * ldx + c].
template <int R, int P, bool kScaled, typename T, bool kTiles>
void Gemm16(const float* x, int64_t ldx, const T* w, int64_t ldw,
            int64_t gstride, int64_t pstride, int64_t k, float* y, int64_t ldy,
            const float* scale) {
  constexpr int H = P * kPerPanel;
  auto group = [&](int g) { return GroupOffset(g, gstride, pstride); };
  typename Simd::V acc[R][H];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h)
      acc[r][h] = Simd::Load(y + r * ldy + Simd::kLanes * h);
  }
  // Unrolled over k as well: one loop's counter and branch per four steps
  // instead of per step took batch 16's GEMM from ~130 to ~160 GFLOP/s with
  // the weights in cache (AVX2), where it is bound by the core, not memory.
#pragma GCC unroll 4
  for (int64_t c = 0; c < k; ++c) {
    typename Simd::V b[H];
    if constexpr (R >= 4 || sizeof(T) == 2) {
      // A bf16 group pair shares its lines.
      for (int g = 0; g < P; g += sizeof(T) == 2 ? 2 : 1) {
        _mm_prefetch(
            reinterpret_cast<const char*>(w + group(g) + (c + kAhead<T>)*ldw),
            _MM_HINT_T0);
      }
    }
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h) {
      b[h] = Simd::Load(w + group(h / kPerPanel) + c * ldw +
                        Simd::kLanes * (h % kPerPanel));
    }
    if constexpr (kScaled) {
      const typename Simd::V s = Simd::Broadcast(scale + c);
#pragma GCC unroll 4
      for (int h = 0; h < H; ++h) b[h] = Simd::Mul(b[h], s);
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const typename Simd::V a =
          Simd::Broadcast(kTiles ? x + c * R + r : x + r * ldx + c);
#pragma GCC unroll 4
      for (int h = 0; h < H; ++h) acc[r][h] = Simd::Fma(a, b[h], acc[r][h]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int h = 0; h < H; ++h)
      Simd::Store(y + r * ldy + Simd::kLanes * h, acc[r][h]);
  }
}

// Gemm16<i + 1, P, kScaled, T, kTiles> at index i.
template <int P, bool kScaled, typename T, bool kTiles, int... R>
constexpr auto Gemm16Table(std::integer_sequence<int, R...>) {
  using Fn = void (*)(const float*, int64_t, const T*, int64_t, int64_t,
                      int64_t, int64_t, float*, int64_t, const float*);
  return std::array<Fn, sizeof...(R)>{Gemm16<R + 1, P, kScaled, T, kTiles>...};
}

// The kernels for a tile of up to kRowTile rows, by P, kScaled and kTiles
// (four groups, a bf16 panel pair: up to kBf16PanelPairRows). Tiles come
// unscaled over f32 weights only (PanelGemmAccumulateTiles).
template <int P, bool kScaled, typename T, bool kTiles>
constexpr auto kGemm16 = Gemm16Table<P, kScaled, T, kTiles>(
    std::make_integer_sequence<int, P == 1   ? Simd::kRowTile
                                    : P == 2 ? kPairTile
                                             : int{kBf16PanelPairRows}>());

// The table for a call's x layout and scale.
template <int P, typename T>
const auto& Gemm16For(const float* scale, bool tiles) {
  if constexpr (sizeof(T) == 4) {
    if (tiles) return kGemm16<P, false, T, true>;
  }
  return scale != nullptr ? kGemm16<P, true, T, false>
                          : kGemm16<P, false, T, false>;
}

// Every group of 16 columns (at GroupOffset), kRowTile rows at a time; up to
// kPairTile rows take two groups at once, two memory streams instead of one,
// which a one-row GEMV needs to reach the memory rate. A bf16 pair of groups
// is one line a row, one stream, so up to kBf16PanelPairRows rows take four
// (two panels): a one-row GEMV of 1024 x 4096 from memory on a Xeon (Ice
// Lake) read 28-30% faster than one panel at a time without the prefetch,
// 13-14% faster than with it. `tiles` (f32 weights only): x is PackRowTiles'
// layout, the tile from row r at x + r * k (ldx unused); then `scale` must be
// null.
template <typename T>
void Groups16(const float* x, int64_t ldx, bool tiles, const T* w, int64_t ldw,
              int64_t gstride, int64_t pstride, int64_t k, int64_t groups,
              float* y, int64_t ldy, int64_t rows, const float* scale) {
  const auto& kOne = Gemm16For<1, T>(scale, tiles);
  const auto& kTwo = Gemm16For<2, T>(scale, tiles);
  for (int64_t r = 0; r < rows; r += Simd::kRowTile) {
    const int64_t R = std::min<int64_t>(Simd::kRowTile, rows - r);
    auto run = [&](auto& kernels, int64_t g) {
      kernels[R - 1](x + r * (tiles ? k : ldx), ldx,
                     w + GroupOffset(g, gstride, pstride), ldw, gstride,
                     pstride, k, y + r * ldy + 16 * g, ldy, scale);
    };
    int64_t g = 0;
    if constexpr (sizeof(T) == 2 && kBf16PanelPairRows > 0) {
      const auto& kFour = Gemm16For<4, T>(scale, tiles);
      for (; R <= kBf16PanelPairRows && g + 4 <= groups; g += 4) run(kFour, g);
    }
    for (; R <= kPairTile && g + 2 <= groups; g += 2) run(kTwo, g);
    for (; g < groups; ++g) run(kOne, g);
  }
}

}  // namespace

#else

namespace {

// A tile of PackRowTiles is one plain row here (kGemmRowTile 1).
template <typename T>
void Groups16(const float* x, int64_t ldx, bool tiles, const T* w, int64_t ldw,
              int64_t gstride, int64_t pstride, int64_t k, int64_t groups,
              float* y, int64_t ldy, int64_t rows, const float* scale) {
  if (tiles) ldx = k;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t r = 0; r < rows; ++r) {
      GemvTail(x + r * ldx, w + GroupOffset(g, gstride, pstride), k, 16, ldw, 0,
               y + r * ldy + 16 * g, scale);
    }
  }
}

}  // namespace

#endif

namespace {

template <typename T>
void GemmAccumulateT(const float* x, int64_t ldx, const T* w, int64_t ldw,
                     int64_t k, int64_t n, float* y, int64_t ldy, int64_t rows,
                     const float* scale) {
  const int64_t n16 = n - n % 16;
  Groups16(x, ldx, /*tiles=*/false, w, ldw, /*gstride=*/16, /*pstride=*/32, k,
           n16 / 16, y, ldy, rows, scale);
  if (n16 < n) {
    for (int64_t r = 0; r < rows; ++r)
      GemvTail(x + r * ldx, w, k, n, ldw, n16, y + r * ldy, scale);
  }
}

}  // namespace

void GemmAccumulate(const float* x, int64_t ldx, const float* w, int64_t ldw,
                    int64_t k, int64_t n, float* y, int64_t ldy, int64_t rows,
                    const float* scale) {
  GemmAccumulateT(x, ldx, w, ldw, k, n, y, ldy, rows, scale);
}

void GemmAccumulate(const float* x, int64_t ldx, const uint16_t* w, int64_t ldw,
                    int64_t k, int64_t n, float* y, int64_t ldy, int64_t rows,
                    const float* scale) {
  GemmAccumulateT(x, ldx, w, ldw, k, n, y, ldy, rows, scale);
}

void PanelGemmAccumulate(const float* x, int64_t ldx, const float* panels,
                         int64_t k, int64_t n_panels, float* y, int64_t ldy,
                         int64_t rows, const float* scale) {
  Groups16(x, ldx, /*tiles=*/false, panels, /*ldw=*/16, /*gstride=*/16 * k,
           /*pstride=*/32 * k, k, n_panels, y, ldy, rows, scale);
}

void PanelGemmAccumulate(const float* x, int64_t ldx, const uint16_t* panels,
                         int64_t k, int64_t n_panels, float* y, int64_t ldy,
                         int64_t rows, const float* scale) {
  // A panel is a pair of groups, the next panel w * k values on.
  constexpr int64_t w = kBf16PanelColumns;
  Groups16(x, ldx, /*tiles=*/false, panels, /*ldw=*/w, /*gstride=*/16,
           /*pstride=*/w * k, k, n_panels * (w / 16), y, ldy, rows, scale);
}

void PanelGemmAccumulateTiles(const float* tiles, const float* panels,
                              int64_t k, int64_t n_panels, float* y,
                              int64_t ldy, int64_t rows) {
  Groups16(tiles, k, /*tiles=*/true, panels, /*ldw=*/16, /*gstride=*/16 * k,
           /*pstride=*/32 * k, k, n_panels, y, ldy, rows, /*scale=*/nullptr);
}

void PackRowTiles(const float* x, int64_t ldx, int64_t k, int64_t rows,
                  float* tiles) {
  for (int64_t t = 0; t < rows; t += kGemmRowTile) {
    const int64_t R = std::min(kGemmRowTile, rows - t);
    float* out = tiles + t * k;
    // Written in order; the R rows' current lines stay in L1 as they are
    // read across.
    const float* in = x + t * ldx;
    for (int64_t c = 0; c < k; ++c) {
      for (int64_t r = 0; r < R; ++r) out[c * R + r] = in[r * ldx + c];
    }
  }
}

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
  Gemv256(x, w, k, n, ldw, y);
}

#else

const char* VectorIsa() { return "scalar"; }

void GemvAccumulate(const float* x, const float* w, int64_t k, int64_t n,
                    int64_t ldw, float* y) {
  GemvTail(x, w, k, n, ldw, 0, y);
}

#endif

}  // namespace terraserve::engine
