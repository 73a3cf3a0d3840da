// Working buffers of one model's layers, shared by all of them
// (engine/layers).
//
// A layer needs its buffers only while its Forward runs, and the model runs
// its layers one after another, so one set serves every layer: the model holds
// the largest of each kind of buffer once, instead of one per layer. With
// per-layer buffers a server of the 24-layer medium-sparse shape grew by 690
// MB at its first 256-token prefill chunk; shared, a 512-row step of that shape
// needs 24 MB (terraserve-bench prints it), 19 MB at the dense shape.
//
// Each slot is one kind of buffer. Two buffers that are alive at the same time
// must use different slots, including a layer's and those of the layers it
// calls (FactoredDense inside attention, SparseFf inside the feed-forward).
// Thread-compatible: used by the thread stepping the model.
#ifndef TERRASERVE_ENGINE_LAYERS_SCRATCH_H_
#define TERRASERVE_ENGINE_LAYERS_SCRATCH_H_

#include <cstdint>
#include <vector>

namespace terraserve::engine {

class Scratch {
 public:
  enum Slot {
    kNormed,     // a sublayer's LayerNorm output
    kProjected,  // Sparse QKV: the factored dense output
    kQuery,
    kKey,
    kValue,
    kAttended,           // dense attention, before the output projection
    kEncoderKeysValues,  // [rows, 2, d]: an encoder layer's keys and values
    kModuleRows,         // FactoredDense: the input scaled once per module
    kLowRank,            // Sparse FF controller
    kLogits,             // Sparse FF controller, one per unit
    kHidden,             // the FF's d_ff units
    kPermuted,  // Sparse FF masked GEMM: the chosen units in w2's order
    kSruNormed,
    kSruGates,
    kSruCells,
    kSruOut,
    kSlotCount
  };

  // `n` floats of `slot`, valid until the slot is asked for again. What they
  // hold is whatever the slot's last user left there.
  float* Floats(Slot slot, int64_t n) {
    std::vector<float>& v = slots_[slot];
    // Growing drops the old contents rather than copying them.
    if (v.size() < static_cast<size_t>(n))
      std::vector<float>(static_cast<size_t>(n)).swap(v);
    return v.data();
  }

  // Bytes held in all slots.
  int64_t bytes() const {
    int64_t b = 0;
    for (const auto& v : slots_) b += static_cast<int64_t>(v.size()) * 4;
    return b;
  }

 private:
  std::vector<float> slots_[kSlotCount];
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_LAYERS_SCRATCH_H_
