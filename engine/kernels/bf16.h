// bfloat16 <-> f32 conversion (engine/kernels layer): bf16 is the top half of
// an f32, so widening is exact and narrowing rounds to nearest even. Pure
// functions; thread-safe.
#ifndef TERRASERVE_ENGINE_KERNELS_BF16_H_
#define TERRASERVE_ENGINE_KERNELS_BF16_H_

#include <cstdint>
#include <cstring>

namespace terraserve::engine {

inline uint16_t FloatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float Bf16ToFloat(uint16_t b) {
  const uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_KERNELS_BF16_H_
