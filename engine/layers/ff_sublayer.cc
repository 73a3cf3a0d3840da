#include "engine/layers/ff_sublayer.h"

#include <algorithm>

#include "engine/base/status_macros.h"
#include "engine/kernels/cpu_kernels.h"

namespace terraserve::engine {

absl::StatusOr<std::unique_ptr<FfSublayer>> FfSublayer::Load(
    WeightSource& loader, const std::string& prefix, const ModelConfig& c,
    int index) {
  auto l = std::make_unique<FfSublayer>();
  l->d_ = c.d_model;
  l->d_ff_ = c.d_ff;
  l->index_ = index;
  l->center_ = c.center_layernorm;
  TS_ASSIGN_OR_RETURN(l->ln_scale_,
                      loader.Take(prefix + ".ln.scale", {c.d_model}));
  TS_ASSIGN_OR_RETURN(l->ln_bias_,
                      loader.Take(prefix + ".ln.bias", {c.d_model}));
  if (c.ff == FfKind::kSparse) {
    TS_ASSIGN_OR_RETURN(l->sparse_, SparseFf::Load(loader, prefix + ".ff", c));
  } else {
    TS_ASSIGN_OR_RETURN(auto w1,
                        loader.Take(prefix + ".ff.w1", {c.d_model, c.d_ff}));
    TS_ASSIGN_OR_RETURN(auto b1, loader.Take(prefix + ".ff.b1", {c.d_ff}));
    TS_ASSIGN_OR_RETURN(auto w2,
                        loader.Take(prefix + ".ff.w2", {c.d_ff, c.d_model}));
    TS_ASSIGN_OR_RETURN(auto b2, loader.Take(prefix + ".ff.b2", {c.d_model}));
    TS_ASSIGN_OR_RETURN(l->w1_,
                        MakeLinear(w1, b1, c.d_model, c.d_ff, c.dense_kernel));
    TS_ASSIGN_OR_RETURN(l->w2_,
                        MakeLinear(w2, b2, c.d_ff, c.d_model, c.dense_kernel));
  }
  if (c.sru_width > 0) {
    TS_ASSIGN_OR_RETURN(l->sru_, SruBranch::Load(loader, prefix + ".sru", c));
  }
  return l;
}

absl::Status FfSublayer::Forward(const float* x, const BatchContext& batch,
                                 Scratch* scratch, float* out) {
  const int64_t rows = batch.rows;
  float* h = scratch->Floats(Scratch::kNormed, rows * d_);
  kernels::LayerNorm(x, rows, d_, ln_scale_.data(), ln_bias_.data(), center_,
                     h);
  if (sparse_ != nullptr) {
    TS_RETURN_IF_ERROR(sparse_->Forward(h, rows, scratch, out, sparse_path_));
  } else {
    const int64_t n = rows * d_ff_;
    float* hidden = scratch->Floats(Scratch::kHidden, n);
    TS_RETURN_IF_ERROR(w1_->Forward(h, rows, hidden));
    for (int64_t i = 0; i < n; ++i) hidden[i] = std::max(hidden[i], 0.0f);
    TS_RETURN_IF_ERROR(w2_->Forward(hidden, rows, out));
  }
  if (sru_ != nullptr)
    TS_RETURN_IF_ERROR(sru_->AddTo(x, batch, index_, scratch, out));
  return absl::OkStatus();
}

std::string FfSublayer::kind() const {
  std::string k = sparse_ ? "feed-forward (sparse)" : "feed-forward (dense)";
  return sru_ ? k + " + SRU" : k;
}

int64_t FfSublayer::decode_bytes_per_token() const {
  int64_t b = int64_t(ln_scale_.size() + ln_bias_.size()) * 4;
  b += sparse_ ? sparse_->decode_bytes_per_token()
               : w1_->weight_bytes() + w2_->weight_bytes();
  if (sru_) b += sru_->weight_bytes();
  return b;
}

int64_t FfSublayer::decode_macs_per_token(int64_t) const {
  int64_t m =
      sparse_ ? sparse_->decode_macs_per_token() : 2 * int64_t(d_) * d_ff_;
  if (sru_) m += sru_->weight_bytes() / 4;
  return m;
}

}  // namespace terraserve::engine
