// Dense linear layer y[m, n] = x[m, k] @ W[k, n] (+ bias[n]) (engine/kernels
// layer).
//
// Implementations: the oneDNN one (onednn_linear.h), used by the model, and the
// naive reference (MakeReferenceLinear) that tests compare it against.
// Thread-safety: Forward is const but implementations may keep per-call
// scratch; call from one thread at a time (the engine's thread).
#ifndef TERRASERVE_ENGINE_KERNELS_LINEAR_H_
#define TERRASERVE_ENGINE_KERNELS_LINEAR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"

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
};

// Naive triple loop with double accumulation. `weight` is [k, n] row-major;
// `bias` is empty or [n].
std::unique_ptr<Linear> MakeReferenceLinear(std::vector<float> weight,
                                            std::vector<float> bias, int64_t k,
                                            int64_t n);

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_LINEAR_H_
