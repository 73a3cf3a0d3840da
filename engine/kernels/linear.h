// Dense linear layer y[m, n] = x[m, k] @ W[k, n] (+ bias[n]) (engine/kernels
// layer).
//
// Implementations: oneDNN's (onednn_linear.h), the project's packed AVX2 kernel
// (packed_linear.h) and the naive reference (MakeReferenceLinear) that tests
// compare both against. The model makes its layers with MakeLinear.
// Thread-safety: Forward is const but implementations may keep per-call
// scratch; call from one thread at a time (the engine's thread).
#ifndef TERRASERVE_ENGINE_KERNELS_LINEAR_H_
#define TERRASERVE_ENGINE_KERNELS_LINEAR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace terraserve::engine {

class Linear {
 public:
  virtual ~Linear() = default;
  virtual int64_t in_features() const = 0;
  virtual int64_t out_features() const = 0;
  // x: [m, in_features] row-major; y: [m, out_features]. m may be any value
  // >= 1. INTERNAL if the backend fails (never throws).
  virtual absl::Status Forward(const float* x, int64_t m, float* y) = 0;
  // Bytes of weights held (for the benchmark's bytes-per-token figures).
  virtual int64_t weight_bytes() const = 0;

  // For a caller that splits one layer's columns over a parallel region of
  // its own (and so saves a fork and a join between layers): the width its
  // column ranges must be multiples of, or 0 where ForwardColumns is not
  // implemented (oneDNN, the reference).
  virtual int64_t column_group() const { return 0; }
  // Columns [j0, j1) of Forward's y for m rows, on the calling thread alone.
  // j0 and j1 are multiples of column_group(), or j1 == out_features(). Only
  // where column_group() > 0. Calls on disjoint ranges may run concurrently.
  void ForwardColumns(const float* x, int64_t m, int64_t j0, int64_t j1,
                      float* y) const {
    ForwardColumnsScaled(x, m, /*scales=*/nullptr, 1, j0, j1, y);
  }
  // The same for n_scales inputs at once, input s being x's m rows each
  // multiplied elementwise by scales[s * in_features() : (s + 1) *
  // in_features()], its output rows at y + s * m * out_features(); scales null:
  // x as it is (n_scales 1). Each weight panel is read once for all of them
  // and no scaled row is written (the factored dense layer: x its D, the
  // scales its input rows). Where column_group() > 0.
  virtual void ForwardColumnsScaled(const float* x, int64_t m,
                                    const float* scales, int64_t n_scales,
                                    int64_t j0, int64_t j1, float* y) const;
  // One share of columns [j0, j1) of Forward's y for m rows, over inputs
  // [i0, i1) alone: y = x[:, i0:i1] @ W[i0:i1, j0:j1], plus the bias where
  // i0 == 0. For a layer too narrow to split evenly over a team by columns
  // alone (a few panels); the caller adds the shares of a split of [0,
  // in_features()). Ranges as ForwardColumns; 0 <= i0 < i1 <= in_features().
  virtual void ForwardColumnsOfInputs(const float* x, int64_t m, int64_t i0,
                                      int64_t i1, int64_t j0, int64_t j1,
                                      float* y) const;
};

// INVALID_ARGUMENT unless k, n > 0, weight has k * n values and bias none or n.
absl::Status CheckLinearShape(const std::vector<float>& weight,
                              const std::vector<float>& bias, int64_t k,
                              int64_t n);

// Which implementation MakeLinear builds. kAuto: oneDNN where it has a blocked
// f32 matmul kernel for this CPU (AVX-512), the packed kernel where it would
// fall back to its plain-weights GEMM (AVX2), which is 2-2.6x slower for
// decode-sized batches there.
enum class DenseKernel { kAuto, kOnednn, kPacked };

// `weight` is [k, n] row-major, `bias` empty or [n]. The data is copied.
absl::StatusOr<std::unique_ptr<Linear>> MakeLinear(
    const std::vector<float>& weight, const std::vector<float>& bias, int64_t k,
    int64_t n, DenseKernel kernel);

// Naive triple loop with double accumulation. `weight` is [k, n] row-major;
// `bias` is empty or [n].
std::unique_ptr<Linear> MakeReferenceLinear(std::vector<float> weight,
                                            std::vector<float> bias, int64_t k,
                                            int64_t n);

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_LINEAR_H_
