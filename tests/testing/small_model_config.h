// A tiny model shape with every sparse layer (Sparse FF, Sparse QKV, factored
// output) for engine tests that need a real model but not a trained one; fill
// it with RandomWeights or a SafetensorsBuilder.
#ifndef TERRASERVE_TESTS_TESTING_SMALL_MODEL_CONFIG_H_
#define TERRASERVE_TESTS_TESTING_SMALL_MODEL_CONFIG_H_

#include "engine/model/model_config.h"

namespace terraserve::testing {

inline engine::ModelConfig SmallModelConfig() {
  engine::ModelConfig c;
  c.vocab_size = 32;
  c.d_model = 16;
  c.n_heads = 2;
  c.n_layers = 1;
  c.max_len = 16;
  c.d_ff = 32;
  c.ff = engine::FfKind::kSparse;
  c.ff_block_size = 4;
  c.ff_lowrank = 4;
  c.attention = engine::AttentionKind::kSparseQkv;
  c.qkv_modules = 4;
  c.output = engine::OutputKind::kFactored;
  c.loss_modules = 4;
  return c;
}

}  // namespace terraserve::testing

#endif  // TERRASERVE_TESTS_TESTING_SMALL_MODEL_CONFIG_H_
