// Attention sublayer: LayerNorm, then causal self-attention over the KV cache,
// dense (trax CausalAttention: Q, K, V, O with biases) or Sparse QKV (trax
// MultiplicativeConvCausalAttention: one FactoredDense shared by Q, K, V, 3x3
// causal convolutions for Q and K, kL x 1 for V, no output projection)
// (engine/layers).
//
// New keys and values are written into the sequence's KV blocks at positions
// start .. start+T-1 before attending, so a prefill chunk attends to itself
// causally. The Terraformer encoder's attention (LoadEncoder) is dense and
// bidirectional over each whole sequence of the batch, and caches nothing.
// Thread-compatible.
#ifndef TERRASERVE_ENGINE_LAYERS_ATTENTION_SUBLAYER_H_
#define TERRASERVE_ENGINE_LAYERS_ATTENTION_SUBLAYER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/linear.h"
#include "engine/layers/factored_dense.h"
#include "engine/layers/sublayer.h"
#include "engine/model/model_config.h"
#include "engine/model/weight_loader.h"

namespace terraserve::engine {

class AttentionSublayer final : public Sublayer {
 public:
  // Loads `<prefix>.ln.*` and `<prefix>.attn.*`; `index` selects this
  // sublayer's KV and convolution state.
  static absl::StatusOr<std::unique_ptr<AttentionSublayer>> Load(
      WeightSource& loader, const std::string& prefix,
      const ModelConfig& config, int index);
  // Loads `<prefix>.ln.*` and `<prefix>.{q,k,v,o}.*` of an encoder attention
  // sublayer (trax tl.Attention): every batch sequence is a whole source.
  static absl::StatusOr<std::unique_ptr<AttentionSublayer>> LoadEncoder(
      WeightSource& loader, const std::string& prefix,
      const ModelConfig& config);
  absl::Status Forward(const float* x, const BatchContext& batch,
                       Scratch* scratch, float* out) override;
  std::string kind() const override;
  int64_t decode_bytes_per_token() const override;
  int64_t decode_macs_per_token(int64_t context) const override;

 private:
  // Dense q, k, v, o from `<prefix>{q,k,v,o}.{weight,bias}`.
  absl::Status LoadProjections(WeightSource& loader, const std::string& prefix);
  // Where Forward's q, k, v and attention output rows go, [rows, d] each.
  struct Buffers {
    float *q, *k, *v, *attended;
  };
  absl::Status ProjectDense(const float* h, int64_t rows, const Buffers& b);
  absl::Status ProjectSparse(const float* h, const BatchContext& batch,
                             Scratch* scratch, const Buffers& b);

  ModelConfig config_;
  int index_ = 0;
  bool encoder_ = false;
  std::vector<float> ln_scale_, ln_bias_;
  // Dense attention.
  std::unique_ptr<Linear> q_, k_, v_, o_;
  // Sparse QKV.
  std::unique_ptr<FactoredDense> fd_;
  std::vector<float> conv_w_[3], conv_b_[3];  // q, k, v
  std::vector<AttentionJob> jobs_;
  std::vector<CausalConvJob> conv_jobs_;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_LAYERS_ATTENTION_SUBLAYER_H_
