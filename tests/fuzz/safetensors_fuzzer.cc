// libFuzzer target: the safetensors reader and the weight loader must reject
// any bytes cleanly (never read out of bounds, never crash).
#include <cstddef>
#include <cstdint>

#include "engine/model/terraformer_model.h"
#include "engine/weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = terraserve::engine::SafetensorsFile::FromBuffer(data, size);
  if (!file.ok()) return 0;
  for (const auto& [name, view] : (*file)->tensors()) {
    if (view.num_bytes < (1 << 20))
      (void)terraserve::engine::SafetensorsFile::ToFloat(view);
  }
  // Try to build a small model from whatever tensors parsed.
  terraserve::engine::ModelConfig c;
  c.vocab_size = 8;
  c.d_model = 4;
  c.n_heads = 1;
  c.n_layers = 1;
  c.max_len = 4;
  c.d_ff = 4;
  terraserve::engine::WeightLoader loader(file->get());
  (void)terraserve::engine::TerraformerModel::Load(c, loader);
  return 0;
}
