// The unit the model is built from: a residual branch F applied to a ragged
// batch (engine/layers layer). Attention and feed-forward sublayers implement
// it.
//
// A batch is a list of sequence slices; each owns `T` consecutive rows of the
// [rows, d] activations and continues its sequence after `start` cached
// positions. Per-sequence incremental state (KV blocks, convolution history,
// SRU carries) lives in SequenceState, owned by the engine.
//
// Thread-compatible: one caller (the engine thread).
#ifndef TERRASERVE_ENGINE_LAYERS_SUBLAYER_H_
#define TERRASERVE_ENGINE_LAYERS_SUBLAYER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/kv_cache/kv_block_pool.h"
#include "engine/layers/scratch.h"

namespace terraserve::engine {

struct SequenceState {
  KvLease kv;
  int64_t kv_len = 0;  // positions held in the KV cache
  // Encoder-decoder models: the encoder's two output streams, [prefix_len, d]
  // each, which are the decoder's inputs at its first prefix_len positions
  // (spec 4.1, the concatenation). Dropped once those positions are cached.
  int64_t prefix_len = 0;
  std::vector<float> prefix1, prefix2;
  // Last kL-1 inputs of each Sparse QKV sublayer's convolutions, [kL-1, d]
  // each.
  std::vector<std::vector<float>> conv_history;
  // SRU carries of each FF sublayer, [sru_layers * sru_width] each.
  std::vector<std::vector<float>> sru_carry;
};

struct SeqSlice {
  int64_t row = 0;    // first row of this sequence in the batch
  int T = 0;          // rows (prompt chunk length, or 1 when decoding)
  int64_t start = 0;  // cached positions before these rows
  SequenceState* state = nullptr;
};

struct BatchContext {
  std::vector<SeqSlice> seqs;
  int64_t rows = 0;
  KvBlockPool* kv = nullptr;
};

class Sublayer {
 public:
  virtual ~Sublayer() = default;
  // x: [batch.rows, d], the stream this branch reads; out: [batch.rows, d],
  // F(x). Updates each sequence's state for the new rows. `scratch` holds the
  // working buffers, which the model's layers share.
  virtual absl::Status Forward(const float* x, const BatchContext& batch,
                               Scratch* scratch, float* out) = 0;
  // What this sublayer is, e.g. "attention (sparse QKV)", for cost reports.
  virtual std::string kind() const = 0;
  // Weight bytes one decode token reads (what bounds batch-1 decode speed).
  virtual int64_t decode_bytes_per_token() const = 0;
  // Multiply-adds for one decode token at `context` cached positions.
  virtual int64_t decode_macs_per_token(int64_t context) const = 0;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_LAYERS_SUBLAYER_H_
