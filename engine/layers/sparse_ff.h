// Sparse feed-forward layer, trax SparseFF (spec section 1) (engine/layers
// layer).
//
// A low-rank controller (x m1, then m2 + mb) picks one unit per block (argmax,
// first on ties); only those units are computed. Two paths give the same
// result:
//  - gather (decode, few rows): per row, dot the chosen W1 rows and axpy the
//  chosen W2
//    rows in place (kernels::SparseFfRow), reading f/N of the FF weights;
//  - masked GEMM (prefill, many rows): full W1 GEMM, keep only the chosen
//  units, full
//    W2 GEMM — more multiply-adds but GEMM efficiency.
// The path is chosen per call by the row count (gather_max_rows).
// Thread-compatible.
#ifndef TERRASERVE_ENGINE_LAYERS_SPARSE_FF_H_
#define TERRASERVE_ENGINE_LAYERS_SPARSE_FF_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/kernel_types.h"
#include "engine/kernels/linear.h"
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
  // x: [rows, d] (already normalised) -> y: [rows, d].
  absl::Status Forward(const float* x, int64_t rows, float* y,
                       Path path = Path::kAuto);

  // Rows up to which kAuto gathers. Gathering reads 2 d f/N floats per row, the
  // masked GEMM 2 d f once; below about N/2 rows gathering reads less, and the
  // GEMM's better arithmetic only pays off for prefill-sized row counts.
  static constexpr int64_t kGatherMaxRows = 32;

  int64_t decode_bytes_per_token() const;
  int64_t decode_macs_per_token() const;

 private:
  absl::Status Controller(const float* x, int64_t rows);
  absl::Status MaskedGemm(const float* x, int64_t rows, float* y);

  int d_ = 0, n_blocks_ = 0, block_ = 0, lowrank_ = 0;
  bool multiply_ = false;
  std::unique_ptr<Linear> m1_, m2_;  // controller; m2 carries the bias mb
  std::unique_ptr<Linear> w1_,
      w2_;  // for the masked GEMM (w2 rows in e-major order)
  std::vector<float> w1t_, w2_rows_, b2_;  // for the gather path
  SparseFfWeights gather_;
  std::vector<float> low_, logits_, probs_, hidden_, permuted_;
  std::vector<int32_t> idx_;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_LAYERS_SPARSE_FF_H_
