#include "engine/layers/sparse_ff.h"

#include <algorithm>
#include <atomic>

#include "engine/base/status_macros.h"
#include "engine/base/thread_team.h"
#include "engine/kernels/cpu_kernels.h"
#include "engine/kernels/packed_linear.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine {

absl::StatusOr<std::unique_ptr<SparseFf>> SparseFf::Load(
    WeightSource& loader, const std::string& prefix, const ModelConfig& c) {
  auto l = std::make_unique<SparseFf>();
  const int d = c.d_model, N = c.ff_block_size, d1 = c.d_ff / N,
            r = c.ff_lowrank;
  l->d_ = d;
  l->n_blocks_ = d1;
  l->block_ = N;
  l->lowrank_ = r;
  l->multiply_ = c.multiply_by_controller_output;
  l->dense_kernel_ = c.dense_kernel;
  TS_ASSIGN_OR_RETURN(auto m1, loader.Take(prefix + ".m1", {d, r}));
  TS_ASSIGN_OR_RETURN(auto m2, loader.Take(prefix + ".m2", {r, d1, N}));
  TS_ASSIGN_OR_RETURN(auto mb, loader.Take(prefix + ".mb", {d1, N}));
  TS_ASSIGN_OR_RETURN(auto w1, loader.Take(prefix + ".w1", {d, d1, N}));
  TS_ASSIGN_OR_RETURN(auto w2, loader.Take(prefix + ".w2", {N, d1, d}));
  TS_ASSIGN_OR_RETURN(l->b2_, loader.Take(prefix + ".b2", {d}));
  // Unit b*N+e is column b*N+e of the [d, f] views of w1, m2 and mb.
  if (c.bf16_sparse_controller) {
    TS_ASSIGN_OR_RETURN(l->m1_, MakePackedBf16Linear(m1, {}, d, r));
    TS_ASSIGN_OR_RETURN(l->m2_, MakePackedBf16Linear(m2, mb, r, c.d_ff));
  } else {
    TS_ASSIGN_OR_RETURN(l->m1_, MakeLinear(m1, {}, d, r, c.dense_kernel));
    TS_ASSIGN_OR_RETURN(l->m2_, MakeLinear(m2, mb, r, c.d_ff, c.dense_kernel));
  }
  const int64_t group = l->m2_->column_group();
  l->one_region_row_ =
      l->m1_->column_group() > 0 && group > 0 && N % group == 0;
  l->w2_rows_.assign(w2.begin(), w2.end());
  l->w1t_.resize(w1.size());
  for (int i = 0; i < d; ++i) {
    for (int u = 0; u < c.d_ff; ++u)
      l->w1t_[int64_t(u) * d + i] = w1[int64_t(i) * c.d_ff + u];
  }
  l->gather_ = {l->w1t_.data(),
                l->w2_rows_.data(),
                nullptr,
                nullptr,
                l->b2_.data(),
                d,
                d1,
                N};
  if (c.bf16_sparse_ff_rows) {
    // Rounded once; the GEMM path, if built later, widens them back, so both
    // paths multiply the same values.
    auto narrow = [](HugePageVector<float>& from,
                     HugePageVector<uint16_t>& to) {
      to.resize(from.size());
      std::transform(from.begin(), from.end(), to.begin(), FloatToBf16);
      HugePageVector<float>().swap(from);
    };
    narrow(l->w1t_, l->w1t_bf16_);
    narrow(l->w2_rows_, l->w2_bf16_);
    l->gather_.w1t = l->gather_.w2 = nullptr;
    l->gather_.w1t_bf16 = l->w1t_bf16_.data();
    l->gather_.w2_bf16 = l->w2_bf16_.data();
  }
  // The masked GEMM's copy of the FF weights (as large again as the gather's)
  // only where kAuto can choose it; a caller forcing it gets it built then.
  if (N < kGatherMinBlock) TS_RETURN_IF_ERROR(l->BuildGemmWeights());
  return l;
}

namespace {

// The gather's [f, d] rows (f32 or bf16) as an f32 [d, f] matrix.
template <typename T>
std::vector<float> TransposedF32(const T* rows, int64_t f, int d) {
  std::vector<float> out(f * d);
  for (int64_t u = 0; u < f; ++u) {
    for (int i = 0; i < d; ++i)
      out[i * f + u] = internal::ToFloat(rows[u * d + i]);
  }
  return out;
}

// n values (f32 or bf16) as f32.
template <typename T>
std::vector<float> AsF32(const T* p, int64_t n) {
  std::vector<float> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = internal::ToFloat(p[i]);
  return out;
}

}  // namespace

absl::Status SparseFf::BuildGemmWeights() {
  // The gather holds f32 or bf16 rows, never both.
  const bool f32 = !w1t_.empty();
  const int64_t f = int64_t(n_blocks_) * block_;
  const std::vector<float> w1 = f32 ? TransposedF32(w1t_.data(), f, d_)
                                    : TransposedF32(w1t_bf16_.data(), f, d_);
  TS_ASSIGN_OR_RETURN(w1_, MakeLinear(w1, {}, d_, f, dense_kernel_));
  // The GEMM path multiplies hidden units permuted to w2's stored (e, b) row
  // order, which is the gather's row order too.
  const std::vector<float> w2 =
      f32 ? AsF32(w2_rows_.data(), f * d_) : AsF32(w2_bf16_.data(), f * d_);
  TS_ASSIGN_OR_RETURN(w2_, MakeLinear(w2, b2_, f, d_, dense_kernel_));
  return absl::OkStatus();
}

absl::Status SparseFf::Controller(const float* x, int64_t rows,
                                  Scratch* scratch) {
  const int64_t f = int64_t(n_blocks_) * block_;
  float* low = scratch->Floats(Scratch::kLowRank, rows * lowrank_);
  float* logits = scratch->Floats(Scratch::kLogits, rows * f);
  idx_.resize(rows * n_blocks_);
  probs_.resize(rows * n_blocks_);
  TS_RETURN_IF_ERROR(m1_->Forward(x, rows, low));
  TS_RETURN_IF_ERROR(m2_->Forward(low, rows, logits));
  kernels::BlockArgmax(logits, rows, n_blocks_, block_, idx_.data(),
                       multiply_ ? probs_.data() : nullptr);
  return absl::OkStatus();
}

void SparseFf::ForwardOneRow(const float* x, Scratch* scratch, float* y) {
  // A region for each of m1, m2 and the rows would be three forks and joins
  // of a few microseconds' work each, with the argmax on the calling thread
  // alone between them. Here m1 is split, then after a barrier each thread
  // computes the logits of each chunk of blocks it takes, so it can take
  // their argmax and their rows at once.
  const int64_t f = int64_t(n_blocks_) * block_;
  const int max_team = TeamSize();
  float* shares = scratch->Floats(Scratch::kLowRank, 2 * max_team * lowrank_);
  float* logits = scratch->Floats(Scratch::kLogits, f);
  float* h = scratch->Floats(Scratch::kHidden, n_blocks_);
  float* partials = scratch->Floats(Scratch::kPermuted, max_team * d_);
  idx_.resize(n_blocks_);
  probs_.resize(n_blocks_);
  int32_t* idx = idx_.data();
  float* probs = multiply_ ? probs_.data() : nullptr;
  const int64_t g1 = m1_->column_group();
  const int64_t groups1 = (lowrank_ + g1 - 1) / g1;
  std::atomic<int64_t> next{0};
  ParallelRegion(kernels::SparseFfRowIsParallel(gather_), [&](int t, int team) {
    // m1 is a few panels (three of bf16 weights at the medium shape). Split
    // by panels alone, one thread read twice the other's share and the other
    // waited for it at the barrier, so unless the panels divide evenly each
    // is split by inputs too, one share per thread, and every thread adds
    // the shares itself.
    const int64_t splits = groups1 % team == 0 ? 1 : team;
    auto cut = [&](int64_t s) { return s == splits ? d_ : s * d_ / splits; };
    RegionFor(nullptr, groups1 * splits, Schedule::kStatic, t, team,
              [&](int64_t i0, int64_t i1) {
                if (splits == 1) {
                  // The thread's panels in one call, so it pairs them.
                  m1_->ForwardColumns(x, 1, i0 * g1,
                                      std::min<int64_t>(lowrank_, i1 * g1),
                                      shares);
                  return;
                }
                for (int64_t i = i0; i < i1; ++i) {
                  const int64_t g = i / splits, s = i % splits;
                  m1_->ForwardColumnsOfInputs(
                      x, 1, cut(s), cut(s + 1), g * g1,
                      std::min<int64_t>(lowrank_, (g + 1) * g1),
                      shares + s * lowrank_);
                }
              });
    TeamBarrier();
    float* low = shares;
    if (splits > 1) {
      low = shares + (max_team + t) * lowrank_;
      std::copy_n(shares, lowrank_, low);
      for (int64_t s = 1; s < splits; ++s)
        Axpy(1.0f, shares + s * lowrank_, low, lowrank_);
    }
    kernels::SparseFfRowPhase(
        x, idx, probs, gather_,
        [&](int b0, int b1) {
          m2_->ForwardColumns(low, 1, int64_t(b0) * block_,
                              int64_t(b1) * block_, logits);
          kernels::BlockArgmax(logits + int64_t(b0) * block_, 1, b1 - b0,
                               block_, idx + b0,
                               probs != nullptr ? probs + b0 : nullptr);
        },
        &next, t, team, h, partials, y);
  });
}

absl::Status SparseFf::MaskedGemm(const float* x, int64_t rows,
                                  Scratch* scratch, float* y) {
  if (w1_ == nullptr) TS_RETURN_IF_ERROR(BuildGemmWeights());
  const int64_t f = int64_t(n_blocks_) * block_;
  float* hidden = scratch->Floats(Scratch::kHidden, rows * f);
  float* permuted = scratch->Floats(Scratch::kPermuted, rows * f);
  std::fill_n(permuted, rows * f, 0.0f);
  TS_RETURN_IF_ERROR(w1_->Forward(x, rows, hidden));
  for (int64_t r = 0; r < rows; ++r) {
    for (int b = 0; b < n_blocks_; ++b) {
      const int e = idx_[r * n_blocks_ + b];
      float h = std::max(hidden[r * f + int64_t(b) * block_ + e], 0.0f);
      if (multiply_) h *= probs_[r * n_blocks_ + b];
      permuted[r * f + int64_t(e) * n_blocks_ + b] = h;
    }
  }
  return w2_->Forward(permuted, rows, y);
}

absl::Status SparseFf::Forward(const float* x, int64_t rows, Scratch* scratch,
                               float* y, Path path) {
  if (rows == 1 && path != Path::kMaskedGemm && one_region_row_) {
    ForwardOneRow(x, scratch, y);
    return absl::OkStatus();
  }
  TS_RETURN_IF_ERROR(Controller(x, rows, scratch));
  if (path == Path::kAuto)
    path = rows <= kGatherMaxRows || block_ >= kGatherMinBlock
               ? Path::kGather
               : Path::kMaskedGemm;
  if (path == Path::kMaskedGemm) return MaskedGemm(x, rows, scratch, y);
  kernels::SparseFfRows(x, rows, idx_.data(),
                        multiply_ ? probs_.data() : nullptr, gather_, y);
  return absl::OkStatus();
}

int64_t SparseFf::decode_bytes_per_token() const {
  const int64_t row_bytes = w1t_bf16_.empty() ? 4 : 2;
  return m1_->weight_bytes() + m2_->weight_bytes()  // controller, read in full
         + 2 * int64_t(n_blocks_) * d_ * row_bytes  // the chosen rows
         + d_ * 4;                                  // b2
}

int64_t SparseFf::decode_macs_per_token() const {
  const int64_t f = int64_t(n_blocks_) * block_;
  return int64_t(d_) * lowrank_ + int64_t(lowrank_) * f +
         2 * int64_t(n_blocks_) * d_;
}

}  // namespace terraserve::engine
