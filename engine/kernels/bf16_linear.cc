#include "engine/kernels/bf16_linear.h"

#include <immintrin.h>

#include <algorithm>

#include "engine/base/thread_team.h"

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

// W is held as panels of kPanel columns, each its k rows contiguous, so every
// item of the team's loop reads one stream (a row-major slice would read a
// short run every n values).
constexpr int64_t kPanel = 32;

class Bf16Linear final : public Linear {
 public:
  Bf16Linear(const std::vector<float>& w, std::vector<float> b, int64_t k,
             int64_t n)
      : w_(w.size()), b_(std::move(b)), k_(k), n_(n) {
    for (int64_t lo = 0; lo < n; lo += kPanel) {
      const int64_t width = std::min(kPanel, n - lo);
      uint16_t* panel = w_.data() + lo * k;
      for (int64_t c = 0; c < k; ++c) {
        for (int64_t j = 0; j < width; ++j)
          panel[c * width + j] = FloatToBf16(w[c * n + lo + j]);
      }
    }
  }
  int64_t in_features() const override { return k_; }
  int64_t out_features() const override { return n_; }
  int64_t weight_bytes() const override {
    return int64_t(w_.size()) * 2 + int64_t(b_.size()) * 4;
  }
  absl::Status Forward(const float* x, int64_t m, float* y) override {
    const int64_t panels = (n_ + kPanel - 1) / kPanel;
    ParallelFor(panels, Schedule::kStatic, k_ * n_ >= (int64_t(1) << 16),
                [&](int64_t begin, int64_t end) {
                  ForwardColumns(x, m, begin * kPanel,
                                 std::min(n_, end * kPanel), y);
                });
    return absl::OkStatus();
  }

  int64_t column_group() const override { return kPanel; }

  void ForwardColumns(const float* x, int64_t m, int64_t j0, int64_t j1,
                      float* y) const override {
    for (int64_t r = 0; r < m; ++r) {
      float* yr = y + r * n_;
      if (b_.empty()) {
        std::fill(yr + j0, yr + j1, 0.0f);
      } else {
        std::copy(b_.data() + j0, b_.data() + j1, yr + j0);
      }
    }
    for (int64_t lo = j0; lo < j1; lo += kPanel) {
      const int64_t width = std::min(kPanel, n_ - lo);
      for (int64_t r = 0; r < m; ++r) {
        GemvAccumulateBf16Slice(x + r * k_, w_.data() + lo * k_, k_, width,
                                width, y + r * n_ + lo);
      }
    }
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
