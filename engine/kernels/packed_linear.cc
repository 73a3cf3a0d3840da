#include "engine/kernels/packed_linear.h"

#include <immintrin.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace terraserve::engine {
namespace {

constexpr int kPanel = 16;  // output columns per panel
constexpr int kRows = 6;    // rows per register block

#if defined(__AVX2__) && defined(__FMA__)

// y[r, 0:16] = init[0:16] + x[r, :] @ panel for r < R; init is the bias or 0.
// Unrolled so the 2R accumulators stay in registers (GCC at -O2 does not unroll
// these loops by itself and would spill them).
template <int R>
void Block(const float* x, int64_t k, const float* panel, const float* init,
           float* y, int64_t ldy) {
  __m256 acc[R][2];
  const __m256 i0 = _mm256_loadu_ps(init), i1 = _mm256_loadu_ps(init + 8);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    acc[r][0] = i0;
    acc[r][1] = i1;
  }
  for (int64_t c = 0; c < k; ++c) {
    const __m256 b0 = _mm256_loadu_ps(panel + c * kPanel);
    const __m256 b1 = _mm256_loadu_ps(panel + c * kPanel + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * k + c);
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

#else

template <int R>
void Block(const float* x, int64_t k, const float* panel, const float* init,
           float* y, int64_t ldy) {
  for (int r = 0; r < R; ++r) {
    float acc[kPanel];
    std::copy(init, init + kPanel, acc);
    for (int64_t c = 0; c < k; ++c) {
      for (int j = 0; j < kPanel; ++j)
        acc[j] += x[r * k + c] * panel[c * kPanel + j];
    }
    std::copy(acc, acc + kPanel, y + r * ldy);
  }
}

#endif

void Rows(const float* x, int64_t m, int64_t k, const float* panel,
          const float* init, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + kRows <= m; r += kRows)
    Block<kRows>(x + r * k, k, panel, init, y + r * ldy, ldy);
  const float* xr = x + r * k;
  float* yr = y + r * ldy;
  switch (m - r) {
    case 1:
      Block<1>(xr, k, panel, init, yr, ldy);
      break;
    case 2:
      Block<2>(xr, k, panel, init, yr, ldy);
      break;
    case 3:
      Block<3>(xr, k, panel, init, yr, ldy);
      break;
    case 4:
      Block<4>(xr, k, panel, init, yr, ldy);
      break;
    case 5:
      Block<5>(xr, k, panel, init, yr, ldy);
      break;
    default:
      break;
  }
}

class PackedLinear final : public Linear {
 public:
  PackedLinear(const std::vector<float>& w, const std::vector<float>& bias,
               int64_t k, int64_t n)
      : k_(k), n_(n), panels_(n / kPanel), tail_(n % kPanel) {
    packed_.resize(panels_ * k * kPanel);
    for (int64_t p = 0; p < panels_; ++p) {
      for (int64_t c = 0; c < k; ++c) {
        std::copy_n(w.data() + c * n + p * kPanel, kPanel,
                    packed_.data() + (p * k + c) * kPanel);
      }
    }
    tail_w_.resize(k * tail_);
    for (int64_t c = 0; c < k; ++c) {
      std::copy_n(w.data() + c * n + panels_ * kPanel, tail_,
                  tail_w_.data() + c * tail_);
    }
    bias_ = bias.empty() ? std::vector<float>(n, 0.0f) : bias;
  }

  int64_t in_features() const override { return k_; }
  int64_t out_features() const override { return n_; }
  int64_t weight_bytes() const override {
    return int64_t(packed_.size() + tail_w_.size() + n_) * 4;
  }

  absl::Status Forward(const float* x, int64_t m, float* y) override {
    // Below ~64k multiply-adds the fork/join (about a microsecond) costs more
    // than a second thread gains.
    const bool parallel = m * k_ * n_ >= (int64_t(1) << 16);
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t p = 0; p < panels_; ++p) {
      Rows(x, m, k_, packed_.data() + p * k_ * kPanel,
           bias_.data() + p * kPanel, y + p * kPanel, n_);
    }
    if (tail_ > 0) Tail(x, m, y);
    return absl::OkStatus();
  }

 private:
  void Tail(const float* x, int64_t m, float* y) const {
    const int64_t j0 = panels_ * kPanel;
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t j = 0; j < tail_; ++j) {
        float acc = bias_[j0 + j];
        for (int64_t c = 0; c < k_; ++c)
          acc += x[r * k_ + c] * tail_w_[c * tail_ + j];
        y[r * n_ + j0 + j] = acc;
      }
    }
  }

  int64_t k_, n_, panels_, tail_;
  std::vector<float> packed_, tail_w_, bias_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Linear>> MakePackedLinear(
    const std::vector<float>& weight, const std::vector<float>& bias, int64_t k,
    int64_t n) {
  if (k <= 0 || n <= 0 || weight.size() != static_cast<size_t>(k * n) ||
      (!bias.empty() && bias.size() != static_cast<size_t>(n))) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad linear shape ", k, "x", n));
  }
  return std::unique_ptr<Linear>(new PackedLinear(weight, bias, k, n));
}

}  // namespace terraserve::engine
