#include "engine/kernels/packed_linear.h"

#include <immintrin.h>

#include <algorithm>

namespace terraserve::engine {
namespace {

constexpr int kPanel = 16;  // output columns per panel
constexpr int kRows = 6;    // rows per register block

#if defined(__AVX2__) && defined(__FMA__)

// y[r, 16p : 16p+16] = init[16p : 16p+16] + x[r, :] @ panel p, for rows r < R
// and panels p < P (panel p at panel + p * k * 16); init is the bias or 0.
// Unrolled so the 2RP accumulators stay in registers (GCC at -O2 does not
// unroll these loops by itself and would spill them).
template <int R, int P>
void Block(const float* x, int64_t k, const float* panel, const float* init,
           float* y, int64_t ldy) {
  __m256 acc[R][2 * P];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int h = 0; h < 2 * P; ++h) acc[r][h] = _mm256_loadu_ps(init + 8 * h);
  }
  for (int64_t c = 0; c < k; ++c) {
    __m256 b[2 * P];
#pragma GCC unroll 4
    for (int h = 0; h < 2 * P; ++h) {
      b[h] = _mm256_loadu_ps(panel + (h / 2) * k * kPanel + c * kPanel +
                             8 * (h % 2));
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + r * k + c);
#pragma GCC unroll 4
      for (int h = 0; h < 2 * P; ++h)
        acc[r][h] = _mm256_fmadd_ps(a, b[h], acc[r][h]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int h = 0; h < 2 * P; ++h)
      _mm256_storeu_ps(y + r * ldy + 8 * h, acc[r][h]);
  }
}

#else

template <int R, int P>
void Block(const float* x, int64_t k, const float* panel, const float* init,
           float* y, int64_t ldy) {
  for (int p = 0; p < P; ++p) {
    const float* w = panel + p * k * kPanel;
    for (int r = 0; r < R; ++r) {
      float acc[kPanel];
      std::copy(init + p * kPanel, init + (p + 1) * kPanel, acc);
      for (int64_t c = 0; c < k; ++c) {
        for (int j = 0; j < kPanel; ++j)
          acc[j] += x[r * k + c] * w[c * kPanel + j];
      }
      std::copy(acc, acc + kPanel, y + r * ldy + p * kPanel);
    }
  }
}

#endif

// All m rows against P adjacent panels: blocks of six rows, then the rest.
template <int P>
void Rows(const float* x, int64_t m, int64_t k, const float* panel,
          const float* init, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + kRows <= m; r += kRows)
    Block<kRows, P>(x + r * k, k, panel, init, y + r * ldy, ldy);
  using BlockFn = void (*)(const float*, int64_t, const float*, const float*,
                           float*, int64_t);
  static constexpr BlockFn kRest[kRows] = {
      nullptr, Block<1, P>, Block<2, P>, Block<3, P>, Block<4, P>, Block<5, P>};
  if (m > r) kRest[m - r](x + r * k, k, panel, init, y + r * ldy, ldy);
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
    // Up to three rows, a block takes two panels: two memory streams per
    // thread instead of one, which the batch-1 GEMV needs to reach the
    // memory rate. More rows would not fit the 16 registers.
    const int64_t pairs = m <= 3 ? panels_ / 2 : 0;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t p = 0; p < panels_ - pairs; ++p) {
      const int64_t first = p < pairs ? 2 * p : p + pairs;
      const float* panel = packed_.data() + first * k_ * kPanel;
      const float* init = bias_.data() + first * kPanel;
      if (p < pairs) {
        Rows<2>(x, m, k_, panel, init, y + first * kPanel, n_);
      } else {
        Rows<1>(x, m, k_, panel, init, y + first * kPanel, n_);
      }
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
  if (absl::Status s = CheckLinearShape(weight, bias, k, n); !s.ok()) return s;
  return std::unique_ptr<Linear>(new PackedLinear(weight, bias, k, n));
}

}  // namespace terraserve::engine
