// The Terraformer model (engine/model layer): embeddings and learned positions,
// decoder blocks of attention and FF sublayers (plain pre-LN residual, or
// reversible with two streams and swaps), final LayerNorm, output layer (dense,
// tied to the embedding, or factored = the sparse loss). Encoder-decoder models
// add a reversible encoder of bidirectional attention and FF sublayers whose
// output the decoder runs over as a prefix (spec 4.1; no cross-attention).
//
// Thread-compatible: one caller (the engine thread); scratch is owned here.
#ifndef TERRASERVE_ENGINE_MODEL_TERRAFORMER_MODEL_H_
#define TERRASERVE_ENGINE_MODEL_TERRAFORMER_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/linear.h"
#include "engine/layers/factored_dense.h"
#include "engine/layers/scratch.h"
#include "engine/layers/sublayer.h"
#include "engine/model/model_config.h"
#include "engine/model/weight_loader.h"

namespace terraserve::engine {

class FfSublayer;

class TerraformerModel {
 public:
  // Builds every layer from `weights`, checking each tensor against `config`
  // (INVALID_ARGUMENT naming the tensor) and that no tensor is left unused.
  static absl::StatusOr<std::unique_ptr<TerraformerModel>> Load(
      const ModelConfig& config, WeightSource& weights);

  // One forward pass over a ragged batch. ids/positions: [batch.rows]. For each
  // entry r of `logit_rows`, writes the logits of batch row r to logits[i *
  // vocab_size].
  absl::Status Forward(const std::vector<int32_t>& ids,
                       const std::vector<int32_t>& positions,
                       const BatchContext& batch,
                       const std::vector<int64_t>& logit_rows, float* logits);

  // encoder_decoder: runs the encoder over `source` and makes its output the
  // decoder inputs of the sequence's first source.size() positions (the
  // prefix, state->prefix*); Forward then reads those rows instead of token
  // embeddings. Ids must be valid and source no longer than the encoder's
  // positions (the caller checks).
  absl::Status Encode(const std::vector<int32_t>& source, SequenceState* state);

  // A fresh per-sequence state with zeroed convolution history and SRU carries.
  SequenceState NewSequenceState() const;

  const ModelConfig& config() const { return config_; }
  int64_t parameter_count() const { return parameter_count_; }
  int64_t decode_bytes_per_token() const;
  int64_t decode_macs_per_token(int64_t context) const;
  // What one decode token costs in each part of the decoder, in order: the
  // embedding, every sublayer, the output layer. The totals are the two
  // functions above.
  struct LayerCost {
    std::string kind;
    int64_t weight_bytes = 0;
    int64_t macs = 0;
  };
  std::vector<LayerCost> DecodeCosts(int64_t context) const;
  // Bytes held in the layers' shared working buffers: what the largest step so
  // far needed of each kind.
  int64_t scratch_bytes() const { return scratch_.bytes(); }

  // For tests: forces the sparse FF path in every FF sublayer.
  void SetSparseFfPath(int path);

 private:
  absl::Status Output(const float* h, int64_t rows, float* logits);
  // Applies `sublayers` to the streams (x1, x2) in place: reversible
  // half-residuals and swaps, or plain residuals on x1. branch: scratch.
  absl::Status RunStack(const std::vector<std::unique_ptr<Sublayer>>& sublayers,
                        bool reversible, const BatchContext& batch, int d,
                        std::vector<float>* x1, std::vector<float>* x2,
                        std::vector<float>* branch);
  // Overwrites the rows of prefix positions with the encoder's streams.
  void PlacePrefixRows(const BatchContext& batch);

  ModelConfig config_;
  int64_t parameter_count_ = 0;
  std::vector<float> embed_, pos_, final_scale_, final_bias_;
  std::vector<float> enc_pos_;  // encoder positions (learned), may be empty
  std::vector<std::unique_ptr<Sublayer>> sublayers_;
  std::vector<std::unique_ptr<Sublayer>> encoder_;  // attention, FF, ...
  std::vector<FfSublayer*> ff_sublayers_;           // views into sublayers_
  std::unique_ptr<Linear> out_linear_;              // dense or tied
  std::unique_ptr<FactoredDense> out_fd_;           // factored
  std::vector<float> x1_, x2_, branch_, picked_, normed_;
  Scratch scratch_;  // the layers' working buffers
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_MODEL_TERRAFORMER_MODEL_H_
