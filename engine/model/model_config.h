// Architecture of a Terraformer model, read from config.json (engine/model
// layer). The fields and their meaning match training/terraformer/config.py one
// to one.
#ifndef TERRASERVE_ENGINE_MODEL_MODEL_CONFIG_H_
#define TERRASERVE_ENGINE_MODEL_MODEL_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/kernels/linear.h"

namespace terraserve::engine {

enum class AttentionKind { kDense, kSparseQkv };
enum class FfKind { kDense, kSparse };
enum class OutputKind { kDense, kTied, kFactored };

struct ModelConfig {
  std::string architecture = "decoder_lm";  // or "encoder_decoder"
  int vocab_size = 256;
  int d_model = 64;
  int n_heads = 4;
  int n_layers = 2;
  int n_encoder_layers = 0;
  int max_len = 512;
  int attn_per_block = 1;
  AttentionKind attention = AttentionKind::kDense;
  int qkv_modules = 0;
  int conv_length_kernel = 3;
  FfKind ff = FfKind::kDense;
  int d_ff = 256;
  int ff_block_size = 0;
  int ff_lowrank = 0;
  bool multiply_by_controller_output = false;
  int sru_width = 0;
  int sru_layers = 1;
  OutputKind output = OutputKind::kDense;
  int loss_modules = 0;
  bool reversible = false;
  bool center_layernorm = true;
  bool learned_positions = true;  // pos_type "learned"; false for "none"
  int bos_id = 1;
  int eos_id = 2;
  int pad_id = 0;
  int unk_id = 3;
  // Not part of config.json: set from EngineOptions at load (see engine.h).
  bool bf16_sparse_controller = false;
  bool bf16_sparse_ff_rows = false;
  bool bf16_output_layer = false;
  DenseKernel dense_kernel = DenseKernel::kAuto;

  int head_dim() const { return d_model / n_heads; }
  // Sublayers per decoder block: attention sublayers then one FF sublayer.
  int sublayers_per_block() const { return attn_per_block + 1; }
  int n_attention_sublayers() const { return n_layers * attn_per_block; }

  // Parses and validates config.json text. INVALID_ARGUMENT naming the field
  // for unknown fields, wrong types and inconsistent sizes.
  static absl::StatusOr<ModelConfig> FromJson(const std::string& json_text);
  absl::Status Validate() const;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_MODEL_MODEL_CONFIG_H_
