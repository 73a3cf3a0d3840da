// SRU branch added to the feed-forward (trax ff_use_sru, spec 4.4)
// (engine/layers): Dense_d(SRU^n(Dense_u(LN(x)))). Each SRU cell: [r~, f~, y~]
// = h W + b; r, f = sigmoid; c = f c + (1 - f) y~; h = c r + h (1 - r) sqrt(3).
// The carry c of every cell is per-sequence state, so rows of one sequence are
// processed in order. Thread-compatible.
#ifndef TERRASERVE_ENGINE_LAYERS_SRU_BRANCH_H_
#define TERRASERVE_ENGINE_LAYERS_SRU_BRANCH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/linear.h"
#include "engine/layers/sublayer.h"
#include "engine/model/model_config.h"
#include "engine/model/weight_loader.h"

namespace terraserve::engine {

class SruBranch {
 public:
  static absl::StatusOr<std::unique_ptr<SruBranch>> Load(
      WeightSource& loader, const std::string& prefix,
      const ModelConfig& config);
  // Adds the branch output for x [rows, d] into y [rows, d]; `ff_index` picks
  // the carries in each sequence's state. Uses the kSru* slots of `scratch`.
  absl::Status AddTo(const float* x, const BatchContext& batch, int ff_index,
                     Scratch* scratch, float* y);
  int64_t weight_bytes() const;

 private:
  int d_ = 0, u_ = 0;
  bool center_ = true;
  std::vector<float> ln_scale_, ln_bias_;
  std::unique_ptr<Linear> in_, out_;
  std::vector<std::unique_ptr<Linear>> cells_;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_LAYERS_SRU_BRANCH_H_
