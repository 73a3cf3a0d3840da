// Multiplicative ("factored") dense layer, trax FactoredDense(S, d_in, d_out)
// (engine/layers layer): y[s*Mo + m] = sum_i x_i D[s, i] E[i, m] + bias[s*Mo +
// m], Mo = d_out / S. Used by Sparse QKV and by the sparse loss.
//
// Computed as GEMMs over chunks of rows: rows x * D[s] for every s ([rows * S,
// d_in]) times E, whose output is already the s-major [rows, d_out] layout.
// Where E's kernel can (Linear::ForwardColumnsScaled) and E is narrow, that is
// D times E with E's rows scaled by x as they are loaded, and the scaled rows
// are never built. It reads d_in * (S + Mo) weights but does d_in * d_out
// multiply-adds. Thread-compatible.
#ifndef TERRASERVE_ENGINE_LAYERS_FACTORED_DENSE_H_
#define TERRASERVE_ENGINE_LAYERS_FACTORED_DENSE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/linear.h"
#include "engine/layers/scratch.h"
#include "engine/model/weight_loader.h"

namespace terraserve::engine {

class FactoredDense {
 public:
  // Loads `<prefix>.D` [S, d_in], `<prefix>.E` [d_in, d_out / S],
  // `<prefix>.bias` [d_out]. E is multiplied by `kernel`, or held in bf16
  // (MakePackedBf16Linear) if `bf16_e`.
  static absl::StatusOr<std::unique_ptr<FactoredDense>> Load(
      WeightSource& loader, const std::string& prefix, int modules, int d_in,
      int d_out, DenseKernel kernel, bool bf16_e = false);
  // x: [rows, d_in] -> y: [rows, d_out]. May use the kModuleRows slot.
  absl::Status Forward(const float* x, int64_t rows, Scratch* scratch,
                       float* y);

  int64_t weight_bytes() const;

  // Most bytes of scaled input rows (S per input row) a GEMM takes at once:
  // within L2 (1 MB per core here), and 16 rows at the medium shape, a decode
  // step's batch.
  static constexpr int64_t kChunkBytes = int64_t(1) << 20;
  int64_t macs_per_row() const { return int64_t(d_in_) * d_out_; }

 private:
  // Each of x's n rows times each of D's, [n * S, d_in], in the kModuleRows
  // slot.
  const float* ScaleRows(const float* x, int64_t n, Scratch* scratch) const;

  int S_ = 0, d_in_ = 0, d_out_ = 0;
  std::vector<float> D_, bias_;
  std::unique_ptr<Linear> E_;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_LAYERS_FACTORED_DENSE_H_
