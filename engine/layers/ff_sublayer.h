// Feed-forward sublayer, trax FeedForwardWithOptions (engine/layers layer):
// FF(LN_f(x)), dense (Dense_f, ReLU, Dense_d with biases) or sparse (SparseFf),
// plus the optional SRU branch. Thread-compatible.
#ifndef TERRASERVE_ENGINE_LAYERS_FF_SUBLAYER_H_
#define TERRASERVE_ENGINE_LAYERS_FF_SUBLAYER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/linear.h"
#include "engine/layers/sparse_ff.h"
#include "engine/layers/sru_branch.h"
#include "engine/layers/sublayer.h"
#include "engine/model/model_config.h"
#include "engine/model/weight_loader.h"

namespace terraserve::engine {

class FfSublayer final : public Sublayer {
 public:
  // Loads `<prefix>.ln.*`, `<prefix>.ff.*` and, with SRU, `<prefix>.sru.*`;
  // `index` selects this sublayer's SRU carries.
  static absl::StatusOr<std::unique_ptr<FfSublayer>> Load(
      WeightSource& loader, const std::string& prefix,
      const ModelConfig& config, int index);
  absl::Status Forward(const float* x, const BatchContext& batch,
                       Scratch* scratch, float* out) override;
  std::string kind() const override;
  int64_t decode_bytes_per_token() const override;
  int64_t decode_macs_per_token(int64_t context) const override;

  // For tests: forces the sparse FF path.
  void set_sparse_path(SparseFf::Path path) { sparse_path_ = path; }

 private:
  int d_ = 0, d_ff_ = 0, index_ = 0;
  bool center_ = true;
  std::vector<float> ln_scale_, ln_bias_;
  std::unique_ptr<Linear> w1_, w2_;  // dense FF
  std::unique_ptr<SparseFf> sparse_;
  std::unique_ptr<SruBranch> sru_;
  SparseFf::Path sparse_path_ = SparseFf::Path::kAuto;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_LAYERS_FF_SUBLAYER_H_
