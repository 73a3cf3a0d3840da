// Sparse feed-forward layer, trax SparseFF (spec section 1) (engine/layers
// layer).
//
// A low-rank controller (x m1, then m2 + mb) picks one unit per block (argmax,
// first on ties); only those units are computed. Two paths give the same
// result:
//  - gather: per row, dot the chosen W1 rows and axpy the chosen W2 rows in
//    place (kernels::SparseFfRows), reading f/N of the FF weights;
//  - masked GEMM (many rows, small blocks): full W1 GEMM, keep only the chosen
//    units, full W2 GEMM; N times the multiply-adds at GEMM efficiency.
// The path is chosen per call by the row count and block size (kAuto).
// Thread-compatible.
#ifndef TERRASERVE_ENGINE_LAYERS_SPARSE_FF_H_
#define TERRASERVE_ENGINE_LAYERS_SPARSE_FF_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/base/huge_page_allocator.h"
#include "engine/kernels/kernel_types.h"
#include "engine/kernels/linear.h"
#include "engine/layers/scratch.h"
#include "engine/model/model_config.h"
#include "engine/model/weight_loader.h"

namespace terraserve::engine {

class SparseFf {
 public:
  enum class Path { kAuto, kGather, kMaskedGemm };

  // Loads `<prefix>.{m1,m2,mb,w1,w2,b2}` in the stored shapes of spec 1.1.
  static absl::StatusOr<std::unique_ptr<SparseFf>> Load(
      WeightSource& loader, const std::string& prefix,
      const ModelConfig& config);
  // x: [rows, d] (already normalised) -> y: [rows, d]. Uses the kLowRank,
  // kLogits, kHidden and kPermuted slots of `scratch`. A gathered single row
  // (a batch-1 decode step) runs in one parallel region of the thread team.
  absl::Status Forward(const float* x, int64_t rows, Scratch* scratch, float* y,
                       Path path = Path::kAuto);

  // kAuto gathers up to kGatherMaxRows rows, and at any row count when blocks
  // hold at least kGatherMinBlock units. Gathering reads 2 d f/N floats per
  // row; the masked GEMM does N times the gather's multiply-adds. Its better
  // arithmetic (under 8x the gather's rate per multiply-add here) wins only for
  // small blocks at prefill-sized row counts: at N 64 gathering prefilled the
  // medium shape 2.3x faster.
  static constexpr int64_t kGatherMaxRows = 32;
  static constexpr int kGatherMinBlock = 16;

  int64_t decode_bytes_per_token() const;
  int64_t decode_macs_per_token() const;

 private:
  // One row with the gather, in a single parallel region (see the .cc).
  void ForwardOneRow(const float* x, Scratch* scratch, float* y);
  // Fills idx_ (and probs_) with each row's chosen unit of every block.
  absl::Status Controller(const float* x, int64_t rows, Scratch* scratch);
  absl::Status MaskedGemm(const float* x, int64_t rows, Scratch* scratch,
                          float* y);
  // w1_ and w2_ from the gather layout.
  absl::Status BuildGemmWeights();

  int d_ = 0, n_blocks_ = 0, block_ = 0, lowrank_ = 0;
  bool multiply_ = false;
  DenseKernel dense_kernel_ = DenseKernel::kAuto;
  std::unique_ptr<Linear> m1_, m2_;  // controller; m2 carries the bias mb
  // Whether ForwardOneRow can split m1 (by columns and inputs) and m2 (by
  // columns, each block's logits whole in one thread's share).
  bool one_region_row_ = false;
  // For the masked GEMM (w2 rows in e-major order); null until it may run.
  std::unique_ptr<Linear> w1_, w2_;
  // For the gather path, on huge pages: each token reads 2 f/N scattered rows.
  // f32, or bf16 (ModelConfig::bf16_sparse_ff_rows) with the f32 pair empty.
  HugePageVector<float> w1t_, w2_rows_;
  HugePageVector<uint16_t> w1t_bf16_, w2_bf16_;
  std::vector<float> b2_;
  SparseFfWeights gather_;
  // [rows, f / N] each: the controller's choice, small enough to keep.
  std::vector<float> probs_;
  std::vector<int32_t> idx_;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_LAYERS_SPARSE_FF_H_
