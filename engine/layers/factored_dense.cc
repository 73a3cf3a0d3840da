#include "engine/layers/factored_dense.h"

#include <algorithm>
#include <atomic>

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
  // Rows a chunk at a time, so the scaled copies (S per row) are read by the
  // GEMM from cache rather than written to memory and read back.
  const int64_t chunk =
      std::max<int64_t>(1, kChunkBytes / (int64_t(S_) * d_in_ * 4));
  float* scaled =
      scratch->Floats(Scratch::kModuleRows, std::min(rows, chunk) * S_ * d_in_);
  const int64_t mo = d_out_ / S_, group = E_->column_group();
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0), pairs = n * S_;
    // Row r0 + p / S scaled by module p % S, for pairs [p0, p1).
    auto scale = [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const float* xr = x + (r0 + p / S_) * d_in_;
        const float* ds = D_.data() + (p % S_) * d_in_;
        float* out = scaled + p * d_in_;
        for (int i = 0; i < d_in_; ++i) out[i] = xr[i] * ds[i];
      }
    };
    float* yc = y + r0 * d_out_;
    // The bias of columns [c0, c1) of each module, added where they were just
    // computed (they are the chunk's [pairs, mo] rows of E's output).
    auto add_bias = [&](int64_t c0, int64_t c1) {
      for (int64_t p = 0; p < pairs; ++p)
        Axpy(1.0f, bias_.data() + (p % S_) * mo + c0, yc + p * mo + c0,
             c1 - c0);
    };
    if (group == 0) {
      // On the team once there is more than a fork's worth of it (16 rows
      // of the medium shape took 8% of a prompt's time on one thread).
      ParallelFor(pairs, Schedule::kStatic, pairs * d_in_ >= (int64_t(1) << 16),
                  scale);
      TS_RETURN_IF_ERROR(E_->Forward(scaled, pairs, yc));
      add_bias(0, mo);
      continue;
    }
    // Both in one region, the GEMM's (a decode row's scaling alone, 16 x 1024
    // products, was a few microseconds on the calling thread while the team
    // waited): the scaled rows by pairs, guided, then after a barrier E's
    // columns in static shares. Each thread then reads one contiguous run of
    // E's panels in one call, with two-panel tiles; guided chunks split it
    // into several calls of one panel. Paired timings in one process, from
    // memory: Sparse QKV's 16 x 1024 x 64 took 16.8 instead of 20.4 us a row,
    // the factored output layer's 4 x 1024 x 8000 (bf16) 266-328 instead of
    // 348-360 us.
    const int64_t groups = (mo + group - 1) / group;
    std::atomic<int64_t> next_pair{0}, next{0};
    ParallelRegion(pairs * d_in_ * mo >= (int64_t(1) << 16), [&](int t,
                                                                 int team) {
      RegionFor(&next_pair, pairs, Schedule::kGuided, t, team, scale);
      TeamBarrier();
      RegionFor(&next, groups, Schedule::kStatic, t, team,
                [&](int64_t g0, int64_t g1) {
                  const int64_t c0 = g0 * group, c1 = std::min(mo, g1 * group);
                  E_->ForwardColumns(scaled, pairs, c0, c1, yc);
                  add_bias(c0, c1);
                });
    });
  }
  return absl::OkStatus();
}

int64_t FactoredDense::weight_bytes() const {
  return E_->weight_bytes() + int64_t(D_.size() + bias_.size()) * 4;
}

}  // namespace terraserve::engine
