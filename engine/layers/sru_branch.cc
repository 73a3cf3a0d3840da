#include "engine/layers/sru_branch.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/kernels/cpu_kernels.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine {
namespace {

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

absl::StatusOr<std::unique_ptr<SruBranch>> SruBranch::Load(
    WeightSource& loader, const std::string& prefix, const ModelConfig& c) {
  auto l = std::make_unique<SruBranch>();
  l->d_ = c.d_model;
  l->u_ = c.sru_width;
  l->center_ = c.center_layernorm;
  TS_ASSIGN_OR_RETURN(l->ln_scale_,
                      loader.Take(prefix + ".ln.scale", {c.d_model}));
  TS_ASSIGN_OR_RETURN(l->ln_bias_,
                      loader.Take(prefix + ".ln.bias", {c.d_model}));
  TS_ASSIGN_OR_RETURN(l->in_, LoadLinear(loader, prefix + ".inp", c.d_model,
                                         c.sru_width, c.dense_kernel));
  for (int n = 0; n < c.sru_layers; ++n) {
    TS_ASSIGN_OR_RETURN(
        auto cell, LoadLinear(loader, absl::StrCat(prefix, ".cells.", n),
                              c.sru_width, 3 * c.sru_width, c.dense_kernel));
    l->cells_.push_back(std::move(cell));
  }
  TS_ASSIGN_OR_RETURN(l->out_, LoadLinear(loader, prefix + ".out", c.sru_width,
                                          c.d_model, c.dense_kernel));
  return l;
}

absl::Status SruBranch::AddTo(const float* x, const BatchContext& batch,
                              int ff_index, Scratch* scratch, float* y) {
  const int64_t rows = batch.rows;
  float* h = scratch->Floats(Scratch::kSruNormed, rows * d_);
  float* g_rows = scratch->Floats(Scratch::kSruGates, rows * u_);
  float* rfy_rows = scratch->Floats(Scratch::kSruCells, rows * 3 * u_);
  float* o = scratch->Floats(Scratch::kSruOut, rows * d_);
  kernels::LayerNorm(x, rows, d_, ln_scale_.data(), ln_bias_.data(), center_,
                     h);
  TS_RETURN_IF_ERROR(in_->Forward(h, rows, g_rows));
  const float sqrt3 = std::sqrt(3.0f);
  for (size_t n = 0; n < cells_.size(); ++n) {
    TS_RETURN_IF_ERROR(cells_[n]->Forward(g_rows, rows, rfy_rows));
    for (const SeqSlice& s : batch.seqs) {
      float* c = s.state->sru_carry[ff_index].data() + n * u_;
      for (int t = 0; t < s.T; ++t) {
        const int64_t row = s.row + t;
        const float* rfy = rfy_rows + row * 3 * u_;
        float* g = g_rows + row * u_;
        for (int i = 0; i < u_; ++i) {
          const float r = Sigmoid(rfy[i]), f = Sigmoid(rfy[u_ + i]);
          c[i] = f * c[i] + (1 - f) * rfy[2 * u_ + i];
          g[i] = c[i] * r + g[i] * (1 - r) * sqrt3;
        }
      }
    }
  }
  TS_RETURN_IF_ERROR(out_->Forward(g_rows, rows, o));
  Axpy(1.0f, o, y, rows * d_);
  return absl::OkStatus();
}

int64_t SruBranch::weight_bytes() const {
  int64_t b = in_->weight_bytes() + out_->weight_bytes() + 2 * int64_t(d_) * 4;
  for (const auto& c : cells_) b += c->weight_bytes();
  return b;
}

}  // namespace terraserve::engine
