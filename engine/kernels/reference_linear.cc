#include <utility>

#include "engine/kernels/linear.h"

namespace terraserve::engine {
namespace {

class ReferenceLinear final : public Linear {
 public:
  ReferenceLinear(std::vector<float> w, std::vector<float> b, int64_t k,
                  int64_t n)
      : w_(std::move(w)), b_(std::move(b)), k_(k), n_(n) {}
  int64_t in_features() const override { return k_; }
  int64_t out_features() const override { return n_; }
  int64_t weight_bytes() const override {
    return static_cast<int64_t>((w_.size() + b_.size()) * sizeof(float));
  }
  absl::Status Forward(const float* x, int64_t m, float* y) override {
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t j = 0; j < n_; ++j) {
        double acc = b_.empty() ? 0.0 : b_[j];
        for (int64_t i = 0; i < k_; ++i)
          acc += double(x[r * k_ + i]) * w_[i * n_ + j];
        y[r * n_ + j] = static_cast<float>(acc);
      }
    }
    return absl::OkStatus();
  }

 private:
  std::vector<float> w_, b_;
  int64_t k_, n_;
};

}  // namespace

std::unique_ptr<Linear> MakeReferenceLinear(std::vector<float> weight,
                                            std::vector<float> bias, int64_t k,
                                            int64_t n) {
  return std::make_unique<ReferenceLinear>(std::move(weight), std::move(bias),
                                           k, n);
}

}  // namespace terraserve::engine
