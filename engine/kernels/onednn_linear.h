// oneDNN matmul as a Linear (engine/kernels layer; the only kind of file that
// may include dnnl.hpp is onednn_*).
//
// One primitive per layer is built at creation with a runtime M dimension, so
// every batch shape reuses it (no per-step primitive creation); the weights are
// reordered once into the layout oneDNN prefers for that primitive. Exceptions
// from oneDNN are caught here and returned as INTERNAL / RESOURCE_EXHAUSTED.
#ifndef TERRASERVE_ENGINE_KERNELS_ONEDNN_LINEAR_H_
#define TERRASERVE_ENGINE_KERNELS_ONEDNN_LINEAR_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/linear.h"

namespace terraserve::engine {

// `weight` is [k, n] row-major, `bias` empty or [n]. The data is copied.
absl::StatusOr<std::unique_ptr<Linear>> MakeOnednnLinear(
    const std::vector<float>& weight, const std::vector<float>& bias, int64_t k,
    int64_t n);

// True when oneDNN's f32 matmul on this CPU keeps the weights plain (its
// generic GEMM: no blocked kernel, as on AVX2-only CPUs with oneDNN 2.6).
// Decided once per process.
bool OnednnMatmulKeepsWeightsPlain();

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_ONEDNN_LINEAR_H_
