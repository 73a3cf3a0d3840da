#include "engine/layers/factored_dense.h"

#include <algorithm>

#include "engine/base/status_macros.h"
#include "engine/base/thread_team.h"
#include "engine/kernels/packed_linear.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine {

absl::StatusOr<std::unique_ptr<FactoredDense>> FactoredDense::Load(
    WeightSource& loader, const std::string& prefix, int modules, int d_in,
    int d_out, DenseKernel kernel, bool bf16_e) {
  auto layer = std::make_unique<FactoredDense>();
  layer->S_ = modules;
  layer->d_in_ = d_in;
  layer->d_out_ = d_out;
  const int mo = d_out / modules;
  TS_ASSIGN_OR_RETURN(layer->D_, loader.Take(prefix + ".D", {modules, d_in}));
  TS_ASSIGN_OR_RETURN(auto e, loader.Take(prefix + ".E", {d_in, mo}));
  TS_ASSIGN_OR_RETURN(layer->bias_, loader.Take(prefix + ".bias", {d_out}));
  TS_ASSIGN_OR_RETURN(layer->E_, bf16_e ? MakePackedBf16Linear(e, {}, d_in, mo)
                                        : MakeLinear(e, {}, d_in, mo, kernel));
  return layer;
}

absl::Status FactoredDense::Forward(const float* x, int64_t rows,
                                    Scratch* scratch, float* y) {
  // Rows a chunk at a time, so the chunk's inputs, and any scaled copies of
  // them (S per row), are read from cache.
  const int64_t chunk =
      std::max<int64_t>(1, kChunkBytes / (int64_t(S_) * d_in_ * 4));
  const int64_t mo = d_out_ / S_, group = E_->column_group();
  // D's rows times E with E's row i scaled by each input's x_i as it is
  // loaded (Linear::ForwardColumnsScaled), where E is narrow against D: that
  // costs a multiply per vector of E loaded, per input and row tile, against
  // S * d_in products per input for building the scaled rows, a phase of its
  // own that read D from memory and left half the rows in the other core's
  // cache. Paired in one process (batch 1, from memory): Sparse QKV's
  // 16 x 1024 x 64 took 8.9 instead of 17.3 us; the factored output layer's
  // 4 x 1024 x 8000 (bf16) 249 instead of 231 us, so it keeps the scaled rows.
  const bool fused = group > 0 && mo <= 16 * int64_t(S_);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0), pairs = n * S_;
    const float* xc = x + r0 * d_in_;
    float* yc = y + r0 * d_out_;
    const float* scaled = fused ? nullptr : ScaleRows(xc, n, scratch);
    // The bias of columns [c0, c1) of each module, added where they were just
    // computed (they are the chunk's [pairs, mo] rows of E's output).
    auto add_bias = [&](int64_t c0, int64_t c1) {
      for (int64_t p = 0; p < pairs; ++p)
        Axpy(1.0f, bias_.data() + (p % S_) * mo + c0, yc + p * mo + c0,
             c1 - c0);
    };
    if (group == 0) {
      TS_RETURN_IF_ERROR(E_->Forward(scaled, pairs, yc));
      add_bias(0, mo);
      continue;
    }
    // E's columns in static shares: each thread reads one contiguous run of
    // E's panels in one call, with two-panel tiles (guided chunks split it
    // into several calls of one panel: Sparse QKV's 16 x 1024 x 64 took 20.4
    // instead of 16.8 us, the output layer's 348-360 instead of 266-328 us).
    const int64_t groups = (mo + group - 1) / group;
    ParallelFor(groups, Schedule::kStatic,
                pairs * d_in_ * mo >= (int64_t(1) << 16),
                [&](int64_t g0, int64_t g1) {
                  const int64_t c0 = g0 * group, c1 = std::min(mo, g1 * group);
                  if (fused) {
                    E_->ForwardColumnsScaled(D_.data(), S_, xc, n, c0, c1, yc);
                  } else {
                    E_->ForwardColumns(scaled, pairs, c0, c1, yc);
                  }
                  add_bias(c0, c1);
                });
  }
  return absl::OkStatus();
}

const float* FactoredDense::ScaleRows(const float* x, int64_t n,
                                      Scratch* scratch) const {
  const int64_t pairs = n * S_;
  float* scaled = scratch->Floats(Scratch::kModuleRows, pairs * d_in_);
  // On the team once there is more than a fork's worth of it (16 rows of the
  // medium shape took 8% of a prompt's time on one thread).
  ParallelFor(pairs, Schedule::kStatic, pairs * d_in_ >= (int64_t(1) << 16),
              [&](int64_t p0, int64_t p1) {
                // Row p / S scaled by module p % S.
                for (int64_t p = p0; p < p1; ++p) {
                  const float* xr = x + (p / S_) * d_in_;
                  const float* ds = D_.data() + (p % S_) * d_in_;
                  float* out = scaled + p * d_in_;
                  for (int i = 0; i < d_in_; ++i) out[i] = xr[i] * ds[i];
                }
              });
  return scaled;
}

int64_t FactoredDense::weight_bytes() const {
  return E_->weight_bytes() + int64_t(D_.size() + bias_.size()) * 4;
}

}  // namespace terraserve::engine
