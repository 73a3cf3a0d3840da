#include "absl/strings/str_cat.h"
#include "engine/base/logging.h"
#include "engine/kernels/onednn_linear.h"
#include "engine/kernels/packed_linear.h"

namespace terraserve::engine {

absl::Status CheckLinearShape(const std::vector<float>& weight,
                              const std::vector<float>& bias, int64_t k,
                              int64_t n) {
  if (k <= 0 || n <= 0 || weight.size() != static_cast<size_t>(k * n) ||
      (!bias.empty() && bias.size() != static_cast<size_t>(n))) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad linear shape ", k, "x", n));
  }
  return absl::OkStatus();
}

void Linear::ForwardColumnsScaled(const float*, int64_t, const float*, int64_t,
                                  int64_t, int64_t, float*) const {
  TS_CHECK(false) << "ForwardColumns on a Linear whose column_group() is 0";
}

void Linear::ForwardColumnsOfInputs(const float*, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, float*) const {
  TS_CHECK(false) << "ForwardColumnsOfInputs on a Linear whose column_group() "
                     "is 0";
}

absl::StatusOr<std::unique_ptr<Linear>> MakeLinear(
    const std::vector<float>& weight, const std::vector<float>& bias, int64_t k,
    int64_t n, DenseKernel kernel) {
  if (kernel == DenseKernel::kAuto) {
    kernel = OnednnMatmulKeepsWeightsPlain() ? DenseKernel::kPacked
                                             : DenseKernel::kOnednn;
  }
  return kernel == DenseKernel::kPacked ? MakePackedLinear(weight, bias, k, n)
                                        : MakeOnednnLinear(weight, bias, k, n);
}

}  // namespace terraserve::engine
