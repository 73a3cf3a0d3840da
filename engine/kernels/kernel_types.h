// Plain views shared by the CPU kernels and their references (engine/kernels
// layer).
#ifndef TERRASERVE_ENGINE_KERNELS_KERNEL_TYPES_H_
#define TERRASERVE_ENGINE_KERNELS_KERNEL_TYPES_H_

#include <cstdint>
#include <cstring>

#include "engine/kernels/bf16.h"

namespace terraserve::engine {

// One sequence's keys and values for one attention sublayer in the paged KV
// pool: block blocks[p / block_size] holds position p, its values v_offset
// floats after its keys. Within a block, keys (and values) are stored
// head-major: [head][position] [head_dim]. One head's keys for consecutive
// positions are then contiguous, so decode attention streams them; a
// position-major layout would put each position's slice of a head on its own 4
// KiB page (d 1024), defeating the hardware prefetcher.
//
// With bf16 set, the pool holds bfloat16 (uint16_t) elements instead of f32
// and offsets count those: half the bytes for attention to stream, at bf16
// precision for the cached keys and values.
struct KvView {
  void* pool = nullptr;
  const int32_t* blocks = nullptr;
  int block_size = 0;
  int d = 0;
  int64_t block_stride = 0;  // elements
  int64_t v_offset = 0;      // elements
  int head_dim = 0;
  bool bf16 = false;

  // Element offset of position p's key for head h.
  int64_t offset(int64_t p, int h) const {
    return blocks[p / block_size] * block_stride +
           (int64_t(h) * block_size + p % block_size) * head_dim;
  }
  // f32 caches only.
  float* key(int64_t p, int h) const {
    return static_cast<float*>(pool) + offset(p, h);
  }
  float* value(int64_t p, int h) const { return key(p, h) + v_offset; }
  // bf16 caches only.
  uint16_t* key16(int64_t p, int h) const {
    return static_cast<uint16_t*>(pool) + offset(p, h);
  }
  uint16_t* value16(int64_t p, int h) const { return key16(p, h) + v_offset; }
  // Element i of position p's key / value for head h, either precision.
  float KeyAt(int64_t p, int h, int i) const {
    return bf16 ? Bf16ToFloat(key16(p, h)[i]) : key(p, h)[i];
  }
  float ValueAt(int64_t p, int h, int i) const {
    return bf16 ? Bf16ToFloat(value16(p, h)[i]) : value(p, h)[i];
  }
  // Stores position p's key and value rows (d floats each, heads side by side).
  void Store(int64_t p, const float* k_row, const float* v_row) const {
    for (int h = 0; h * head_dim < d; ++h) {
      const float* k = k_row + h * head_dim;
      const float* v = v_row + h * head_dim;
      if (bf16) {
        uint16_t *kd = key16(p, h), *vd = value16(p, h);
        for (int i = 0; i < head_dim; ++i) {
          kd[i] = FloatToBf16(k[i]);
          vd[i] = FloatToBf16(v[i]);
        }
      } else {
        std::memcpy(key(p, h), k, sizeof(float) * head_dim);
        std::memcpy(value(p, h), v, sizeof(float) * head_dim);
      }
    }
  }
};

// One sequence's share of a batched attention call: T queries at positions
// start .. start+T-1 over its cached keys/values 0 .. start+T-1. Causal: query
// t sees positions 0 .. start+t; otherwise (the encoder) every query sees all
// of them. q, out: [T, n_heads * head_dim].
struct AttentionJob {
  const float* q = nullptr;
  int T = 0;
  int64_t start = 0;
  KvView kv;
  float* out = nullptr;
  bool causal = true;
};

// Sparse FF weights laid out for the gather kernel: unit u = b * N + e of block
// b, element e. w1t row u (d floats) is w1[:, b, e]; w2 row e * n_blocks + b (d
// floats) is w2[e, b, :], exactly the stored layout, so both rows are read in
// place. The rows are f32 (w1t, w2) or bfloat16 (w1t_bf16, w2_bf16, the same
// layout), whichever pair is set.
struct SparseFfWeights {
  const float* w1t = nullptr;  // [n_blocks * block, d]
  const float* w2 = nullptr;   // [block, n_blocks, d]
  const uint16_t* w1t_bf16 = nullptr;
  const uint16_t* w2_bf16 = nullptr;
  const float* b2 = nullptr;  // [d]
  int d = 0;
  int n_blocks = 0;
  int block = 0;
};

// One sequence's causal convolution (kernels::CausalConv): input rows are
// history (kL-1 rows) followed by T new rows y, each [S * M]; weight
// [kL, kS, M, M] (HWIO) packed by kernels::PackConvWeight, bias [M];
// out [T, S * M].
struct CausalConvJob {
  const float* history = nullptr;
  const float* y = nullptr;
  int T = 0;
  int kS = 0;
  const float* weight = nullptr;
  const float* bias = nullptr;
  float* out = nullptr;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_KERNEL_TYPES_H_
