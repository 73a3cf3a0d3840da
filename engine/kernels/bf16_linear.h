// Linear layer with bfloat16 weights and f32 activations, y = x @ W (+ b), by
// the project's own GEMV kernel (engine/kernels layer). oneDNN 2.6 has no f32 x
// bf16 matmul, and for one row the cost is reading W, so halving its bytes
// halves the time. Used for the Sparse FF controller, whose weights dominate a
// sparse layer's traffic (EngineOptions::bf16_sparse_controller). Weights are
// rounded to nearest even once.
#ifndef TERRASERVE_ENGINE_KERNELS_BF16_LINEAR_H_
#define TERRASERVE_ENGINE_KERNELS_BF16_LINEAR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/kernels/bf16.h"
#include "engine/kernels/linear.h"

namespace terraserve::engine {

// `weight` is [k, n] f32 row-major (rounded to bf16 here), `bias` empty or [n]
// (kept f32).
std::unique_ptr<Linear> MakeBf16Linear(const std::vector<float>& weight,
                                       const std::vector<float>& bias,
                                       int64_t k, int64_t n);

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_BF16_LINEAR_H_
