#include "engine/layers/attention_sublayer.h"

#include <algorithm>
#include <cstring>

#include "engine/base/status_macros.h"
#include "engine/kernels/cpu_kernels.h"

namespace terraserve::engine {
namespace {

// The encoder's keys and values for one sequence, as a single "block" as long
// as the sequence in scratch memory, so the paged attention kernel reads them.
constexpr int32_t kOnlyBlock = 0;
KvView ScratchView(float* kv, int T, int d, int head_dim) {
  return {kv, &kOnlyBlock, T, d, 2LL * T * d, int64_t(T) * d, head_dim};
}

}  // namespace

absl::StatusOr<std::unique_ptr<AttentionSublayer>>
AttentionSublayer::LoadEncoder(WeightSource& loader, const std::string& prefix,
                               const ModelConfig& config) {
  auto layer = std::make_unique<AttentionSublayer>();
  layer->config_ = config;
  layer->config_.attention = AttentionKind::kDense;
  layer->encoder_ = true;
  const int d = config.d_model;
  TS_ASSIGN_OR_RETURN(layer->ln_scale_, loader.Take(prefix + ".ln.scale", {d}));
  TS_ASSIGN_OR_RETURN(layer->ln_bias_, loader.Take(prefix + ".ln.bias", {d}));
  TS_RETURN_IF_ERROR(layer->LoadProjections(loader, prefix + "."));
  return layer;
}

absl::StatusOr<std::unique_ptr<AttentionSublayer>> AttentionSublayer::Load(
    WeightSource& loader, const std::string& prefix, const ModelConfig& config,
    int index) {
  auto layer = std::make_unique<AttentionSublayer>();
  layer->config_ = config;
  layer->index_ = index;
  const int d = config.d_model;
  TS_ASSIGN_OR_RETURN(layer->ln_scale_, loader.Take(prefix + ".ln.scale", {d}));
  TS_ASSIGN_OR_RETURN(layer->ln_bias_, loader.Take(prefix + ".ln.bias", {d}));
  const std::string a = prefix + ".attn.";
  if (config.attention == AttentionKind::kDense) {
    TS_RETURN_IF_ERROR(layer->LoadProjections(loader, a));
    return layer;
  }
  const int S = config.qkv_modules, M = d / S, kL = config.conv_length_kernel;
  TS_ASSIGN_OR_RETURN(layer->fd_, FactoredDense::Load(loader, a + "fd", S, d, d,
                                                      config.dense_kernel));
  const char* names[3] = {"conv_q", "conv_k", "conv_v"};
  for (int c = 0; c < 3; ++c) {
    const int kS = c == 2 ? 1 : 3;
    TS_ASSIGN_OR_RETURN(auto w,
                        loader.Take(a + names[c] + ".weight", {kL, kS, M, M}));
    layer->conv_w_[c] = kernels::PackConvWeight(w, kL, kS, M);
    TS_ASSIGN_OR_RETURN(layer->conv_b_[c],
                        loader.Take(a + names[c] + ".bias", {M}));
  }
  return layer;
}

absl::Status AttentionSublayer::LoadProjections(WeightSource& loader,
                                                const std::string& prefix) {
  const int d = config_.d_model;
  std::unique_ptr<Linear>* layers[4] = {&q_, &k_, &v_, &o_};
  const char* names[4] = {"q", "k", "v", "o"};
  for (int i = 0; i < 4; ++i) {
    TS_ASSIGN_OR_RETURN(*layers[i], LoadLinear(loader, prefix + names[i], d, d,
                                               config_.dense_kernel));
  }
  return absl::OkStatus();
}

absl::Status AttentionSublayer::ProjectDense(const float* h, int64_t rows,
                                             const Buffers& b) {
  TS_RETURN_IF_ERROR(q_->Forward(h, rows, b.q));
  TS_RETURN_IF_ERROR(k_->Forward(h, rows, b.k));
  return v_->Forward(h, rows, b.v);
}

absl::Status AttentionSublayer::ProjectSparse(const float* h,
                                              const BatchContext& batch,
                                              Scratch* scratch,
                                              const Buffers& b) {
  const int d = config_.d_model, S = config_.qkv_modules, M = d / S;
  const int kL = config_.conv_length_kernel;
  float* projected = scratch->Floats(Scratch::kProjected, batch.rows * d);
  TS_RETURN_IF_ERROR(fd_->Forward(h, batch.rows, scratch, projected));
  float* outs[3] = {b.q, b.k, b.v};
  conv_jobs_.clear();
  for (const SeqSlice& s : batch.seqs) {
    const float* hist = s.state->conv_history[index_].data();
    for (int c = 0; c < 3; ++c) {
      conv_jobs_.push_back({hist, projected + s.row * d, s.T, c == 2 ? 1 : 3,
                            conv_w_[c].data(), conv_b_[c].data(),
                            outs[c] + s.row * d});
    }
  }
  kernels::CausalConv(conv_jobs_.data(), static_cast<int>(conv_jobs_.size()), S,
                      M, kL);
  for (const SeqSlice& s : batch.seqs) {
    std::vector<float>& hist = s.state->conv_history[index_];
    const float* y = projected + s.row * d;
    // Keep the last kL-1 inputs of [history; y] for the next step, in place.
    const int keep = kL - 1;
    if (s.T >= keep) {
      std::copy(y + int64_t(s.T - keep) * d, y + int64_t(s.T) * d,
                hist.begin());
    } else if (keep > 0) {
      std::copy(hist.begin() + int64_t(s.T) * d, hist.end(), hist.begin());
      std::copy(y, y + int64_t(s.T) * d, hist.end() - int64_t(s.T) * d);
    }
  }
  return absl::OkStatus();
}

absl::Status AttentionSublayer::Forward(const float* x,
                                        const BatchContext& batch,
                                        Scratch* scratch, float* out) {
  const int d = config_.d_model;
  const int64_t n = batch.rows * d;
  const bool dense = config_.attention == AttentionKind::kDense;
  float* h = scratch->Floats(Scratch::kNormed, n);
  // Sparse QKV has no output projection: attention writes `out` directly.
  const Buffers b{scratch->Floats(Scratch::kQuery, n),
                  scratch->Floats(Scratch::kKey, n),
                  scratch->Floats(Scratch::kValue, n),
                  dense ? scratch->Floats(Scratch::kAttended, n) : out};
  kernels::LayerNorm(x, batch.rows, d, ln_scale_.data(), ln_bias_.data(),
                     config_.center_layernorm, h);
  if (dense) {
    TS_RETURN_IF_ERROR(ProjectDense(h, batch.rows, b));
  } else {
    TS_RETURN_IF_ERROR(ProjectSparse(h, batch, scratch, b));
  }
  const int head_dim = d / config_.n_heads;
  float* encoder_kv =
      encoder_ ? scratch->Floats(Scratch::kEncoderKeysValues, 2 * n) : nullptr;
  jobs_.clear();
  for (const SeqSlice& s : batch.seqs) {
    KvView kv = encoder_
                    ? ScratchView(encoder_kv + 2 * s.row * d, s.T, d, head_dim)
                    : batch.kv->View(index_, s.state->kv.blocks(), head_dim);
    for (int t = 0; t < s.T; ++t) {
      kv.Store(s.start + t, b.k + (s.row + t) * d, b.v + (s.row + t) * d);
    }
    jobs_.push_back({b.q + s.row * d, s.T, s.start, kv, b.attended + s.row * d,
                     /*causal=*/!encoder_});
  }
  kernels::Attention(jobs_.data(), static_cast<int>(jobs_.size()),
                     config_.n_heads);
  if (dense) TS_RETURN_IF_ERROR(o_->Forward(b.attended, batch.rows, out));
  return absl::OkStatus();
}

std::string AttentionSublayer::kind() const {
  if (encoder_) return "encoder attention";
  return config_.attention == AttentionKind::kDense ? "attention (dense)"
                                                    : "attention (sparse QKV)";
}

int64_t AttentionSublayer::decode_bytes_per_token() const {
  int64_t bytes = int64_t(ln_scale_.size() + ln_bias_.size()) * 4;
  if (config_.attention == AttentionKind::kDense) {
    for (const auto* l : {&q_, &k_, &v_, &o_}) bytes += (*l)->weight_bytes();
    return bytes;
  }
  bytes += fd_->weight_bytes();
  for (int c = 0; c < 3; ++c)
    bytes += int64_t(conv_w_[c].size() + conv_b_[c].size()) * 4;
  return bytes;
}

int64_t AttentionSublayer::decode_macs_per_token(int64_t context) const {
  const int64_t d = config_.d_model;
  const int64_t core = 2 * context * d;
  if (config_.attention == AttentionKind::kDense) return 4 * d * d + core;
  const int64_t M = d / config_.qkv_modules;
  return fd_->macs_per_row() + 7 * config_.conv_length_kernel * d * M + core;
}

}  // namespace terraserve::engine
