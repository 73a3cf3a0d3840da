#include "engine/kernels/bf16_linear.h"

#include <algorithm>

#include "engine/base/thread_team.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine {

namespace {

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
        GemvAccumulateBf16(x + r * k_, w_.data() + lo * k_, k_, width, width,
                           y + r * n_ + lo);
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
