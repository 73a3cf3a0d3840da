#include "engine/kernels/bf16_linear.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace terraserve::engine {

namespace {

// y[0:n] += x[0:k] @ w (bf16, k rows of n values, ldw apart).
void GemvAccumulateBf16Slice(const float* x, const uint16_t* w, int64_t k,
                             int64_t n, int64_t ldw, float* y) {
  int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  for (; j + 32 <= n; j += 32) {
    __m256 acc[4];
    for (int a = 0; a < 4; ++a) acc[a] = _mm256_loadu_ps(y + j + 8 * a);
    for (int64_t c = 0; c < k; ++c) {
      const __m256 xc = _mm256_set1_ps(x[c]);
      const uint16_t* wr = w + c * ldw + j;
      for (int a = 0; a < 4; ++a) {
        // bf16 -> f32: widen to 32 bits and shift into the high half.
        __m128i h =
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(wr + 8 * a));
        __m256 wf = _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        acc[a] = _mm256_fmadd_ps(xc, wf, acc[a]);
      }
    }
    for (int a = 0; a < 4; ++a) _mm256_storeu_ps(y + j + 8 * a, acc[a]);
  }
#endif
  for (; j < n; ++j) {
    float s = y[j];
    for (int64_t c = 0; c < k; ++c) s += x[c] * Bf16ToFloat(w[c * ldw + j]);
    y[j] = s;
  }
}

class Bf16Linear final : public Linear {
 public:
  Bf16Linear(const std::vector<float>& w, std::vector<float> b, int64_t k,
             int64_t n)
      : w_(w.size()), b_(std::move(b)), k_(k), n_(n) {
    for (size_t i = 0; i < w.size(); ++i) w_[i] = FloatToBf16(w[i]);
  }
  int64_t in_features() const override { return k_; }
  int64_t out_features() const override { return n_; }
  int64_t weight_bytes() const override {
    return int64_t(w_.size()) * 2 + int64_t(b_.size()) * 4;
  }
  absl::Status Forward(const float* x, int64_t m, float* y) override {
    for (int64_t r = 0; r < m; ++r) {
      float* yr = y + r * n_;
      if (b_.empty()) {
        std::memset(yr, 0, sizeof(float) * n_);
      } else {
        std::memcpy(yr, b_.data(), sizeof(float) * n_);
      }
      // Column slices of 256 over the OpenMP team: each thread streams its own
      // part of W.
      const int64_t slices = (n_ + 255) / 256;
#pragma omp parallel for schedule(static) if (k_ * n_ >= (int64_t(1) << 16))
      for (int64_t s = 0; s < slices; ++s) {
        const int64_t lo = s * 256, width = std::min<int64_t>(256, n_ - lo);
        GemvAccumulateBf16Slice(x + r * k_, w_.data() + lo, k_, width, n_,
                                yr + lo);
      }
    }
    return absl::OkStatus();
  }

 private:
  std::vector<uint16_t> w_;
  std::vector<float> b_;
  int64_t k_, n_;
};

}  // namespace

std::unique_ptr<Linear> MakeBf16Linear(const std::vector<float>& weight,
                                       const std::vector<float>& bias,
                                       int64_t k, int64_t n) {
  return std::make_unique<Bf16Linear>(weight, bias, k, n);
}

}  // namespace terraserve::engine
