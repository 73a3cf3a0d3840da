// The project's own dense Linear (engine/kernels layer) for CPUs where
// oneDNN 2.6 keeps the f32 matmul weights plain (AVX2 without AVX-512, and
// also the AVX-512 EPYC this project is measured on) and repacks them on
// every call: there, batches of 4-16 decode rows ran 1.4-2.6x slower than this
// kernel and a single row no faster (measured: docs/performance.md).
//
// The weights are packed once into panels of 16 output columns (32 for bf16
// weights: a cache line a row either way), each panel [k][16] contiguous, so
// every pass streams memory in order. Rows are done six at a time with their
// 6 x 16 outputs held in registers (AVX2), or twelve by two groups of 16
// (AVX-512); see PanelGemmAccumulate. Panels are shared over the thread team,
// f32 ones in pairs where the kernel reads two at once. Columns past the last
// full panel are a plain [k][n % panel] tail.
//
// Thread-compatible: one caller at a time (the engine thread).
#ifndef TERRASERVE_ENGINE_KERNELS_PACKED_LINEAR_H_
#define TERRASERVE_ENGINE_KERNELS_PACKED_LINEAR_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/kernels/linear.h"

namespace terraserve::engine {

// `weight` is [k, n] row-major, `bias` empty or [n]. The data is copied.
absl::StatusOr<std::unique_ptr<Linear>> MakePackedLinear(
    const std::vector<float>& weight, const std::vector<float>& bias, int64_t k,
    int64_t n);

// The same kernel over weights rounded to bfloat16 (nearest even) once, here;
// the bias and all arithmetic stay f32, each 16-value load widened in
// registers for every row it feeds. oneDNN 2.6 has no f32 x bf16 matmul, and
// for a few rows the cost is reading W, so halving its bytes nearly halves
// the time: the Sparse FF controller (EngineOptions::bf16_sparse_controller)
// and the output layer (EngineOptions::bf16_output_layer).
absl::StatusOr<std::unique_ptr<Linear>> MakePackedBf16Linear(
    const std::vector<float>& weight, const std::vector<float>& bias, int64_t k,
    int64_t n);

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_PACKED_LINEAR_H_
