// Vectorised dot product and axpy (engine/kernels layer): AVX-512 or AVX2+FMA when
// the build targets them, scalar otherwise. Pure functions; thread-safe.
#ifndef TERRASERVE_ENGINE_KERNELS_VECTOR_OPS_H_
#define TERRASERVE_ENGINE_KERNELS_VECTOR_OPS_H_

#include <cstdint>

namespace terraserve::engine {

// sum_i a[i] * b[i]
float Dot(const float* a, const float* b, int64_t n);
// y[i] += alpha * x[i]
void Axpy(float alpha, const float* x, float* y, int64_t n);
// Which instruction set Dot/Axpy were compiled for: "avx512", "avx2" or "scalar".
const char* VectorIsa();

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_VECTOR_OPS_H_
