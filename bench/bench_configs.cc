#include "bench/bench_configs.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace terraserve::bench {
namespace {

engine::ModelConfig Dense(int layers, int d, int heads, int f, int vocab) {
  engine::ModelConfig c;
  c.vocab_size = vocab;
  c.d_model = d;
  c.n_heads = heads;
  c.n_layers = layers;
  c.d_ff = f;
  c.max_len = 2048;
  return c;
}

engine::ModelConfig Sparse(engine::ModelConfig c, int f, int block,
                           int qkv_modules, int loss_modules) {
  c.ff = engine::FfKind::kSparse;
  c.d_ff = f;
  c.ff_block_size = block;
  c.ff_lowrank = f / block;  // trax: an int ff_sparsity gives r = f / N
  c.attention = engine::AttentionKind::kSparseQkv;
  c.qkv_modules = qkv_modules;
  c.output = engine::OutputKind::kFactored;
  c.loss_modules = loss_modules;
  return c;
}

}  // namespace

absl::StatusOr<engine::ModelConfig> BenchConfig(const std::string& name) {
  if (name == "medium-dense") return Dense(24, 1024, 16, 4096, 32000);
  if (name == "medium-sparse")
    return Sparse(Dense(24, 1024, 16, 4096, 32000), 6144, 64, 16, 4);
  if (name == "tiny-dense") return Dense(2, 128, 4, 512, 2048);
  if (name == "tiny-sparse")
    return Sparse(Dense(2, 128, 4, 512, 2048), 768, 16, 4, 4);
  std::ifstream in(name);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "unknown config '", name,
        "': not medium-dense, medium-sparse, tiny-dense, tiny-sparse "
        "or a readable config.json"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return engine::ModelConfig::FromJson(ss.str());
}

}  // namespace terraserve::bench
