// Plain views shared by the CPU kernels and their references (engine/kernels
// layer).
#ifndef TERRASERVE_ENGINE_KERNELS_KERNEL_TYPES_H_
#define TERRASERVE_ENGINE_KERNELS_KERNEL_TYPES_H_

#include <cstdint>

namespace terraserve::engine {

// One sequence's keys and values for one attention sublayer in the paged KV
// pool. Position p's key is at pool + blocks[p / block_size] * block_stride +
// (p % block_size) * d, and its value v_offset floats after that.
struct KvView {
  float* pool = nullptr;
  const int32_t* blocks = nullptr;
  int block_size = 0;
  int d = 0;
  int64_t block_stride = 0;
  int64_t v_offset = 0;

  float* key(int64_t p) const {
    return pool + blocks[p / block_size] * block_stride + (p % block_size) * d;
  }
  float* value(int64_t p) const { return key(p) + v_offset; }
};

// Sparse FF weights laid out for the gather kernel: unit u = b * N + e of block
// b, element e. w1t row u (d floats) is w1[:, b, e]; w2 row e * n_blocks + b (d
// floats) is w2[e, b, :], exactly the stored layout, so both rows are read in
// place.
struct SparseFfWeights {
  const float* w1t = nullptr;  // [n_blocks * block, d]
  const float* w2 = nullptr;   // [block, n_blocks, d]
  const float* b2 = nullptr;   // [d]
  int d = 0;
  int n_blocks = 0;
  int block = 0;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_KERNEL_TYPES_H_
