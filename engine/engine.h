// The engine contract the scheduler depends on (engine layer, public header).
//
// An Engine runs one forward pass per Step over a ragged batch: each item is
// one sequence contributing either a chunk of prompt tokens (prefill) or one
// new token (decode). It owns the model, the KV-cache pool and every sequence's
// incremental state. It knows nothing of gRPC, protobuf or Prometheus.
//
// Thread-compatible: exactly one thread (the scheduler's) calls it.
#ifndef TERRASERVE_ENGINE_ENGINE_H_
#define TERRASERVE_ENGINE_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/model/model_config.h"
#include "engine/tokenizer/tokenizer.h"

namespace terraserve::engine {

using SequenceId = int64_t;

struct ModelInfo {
  std::string model_id;  // directory name
  ModelConfig config;
  int64_t parameters = 0;
  // How weights are held in memory: "f32", or e.g.
  // "f32+bf16:sparse_controller,output_layer" (EngineOptions' bf16 options).
  std::string dtype = "f32";
  int max_context = 0;    // positions one sequence may hold
  int kv_block_size = 0;  // positions per KV block
  int kv_total_blocks = 0;
  int64_t kv_cache_bytes = 0;  // the pool's memory, all of it held from startup
};

struct StepItem {
  SequenceId id = 0;
  std::vector<int32_t> tokens;  // prefill chunk, or the one token to decode
  bool need_logits = false;     // logits of the last token are wanted
};

struct StepInput {
  std::vector<StepItem> items;
};

struct StepStats {
  int sequences = 0;
  int prefill_tokens = 0;  // tokens of items with more than one token
  int decode_tokens = 0;
  absl::Duration duration;
};

struct StepOutput {
  // [logit_items.size(), vocab_size]: row i belongs to items[logit_items[i]].
  std::vector<float> logits;
  std::vector<int> logit_items;
  StepStats stats;
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const ModelInfo& model_info() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;

  // Starts sequence `id`, reserving KV blocks for `max_tokens` positions up
  // front so it can never run out later. RESOURCE_EXHAUSTED when too few blocks
  // are free, INVALID_ARGUMENT when max_tokens exceeds max_context,
  // ALREADY_EXISTS for a live id.
  virtual absl::Status AddSequence(SequenceId id, int64_t max_tokens) = 0;
  // Ends a sequence and returns its blocks at once. Unknown ids are ignored.
  virtual void RemoveSequence(SequenceId id) = 0;
  // Encoder-decoder models, before the sequence's first Step: runs the encoder
  // over `source` (its tokens, as the model's vocabulary ids) at once and makes
  // its output the sequence's first source.size() positions. The sequence's
  // Step items then start with those positions, whose tokens are the source's
  // again, prefilled like any prompt, followed by the decoder start token 0
  // and the decoder's tokens. FAILED_PRECONDITION for a decoder-only model or a
  // sequence already stepped or encoded, INVALID_ARGUMENT for an unknown id,
  // an empty source, ids outside the vocabulary, or a source longer than the
  // encoder's positions or the sequence's reserved positions.
  virtual absl::Status Encode(SequenceId id,
                              const std::vector<int32_t>& source) = 0;

  // One forward pass. INVALID_ARGUMENT for unknown sequences, duplicate ids,
  // empty items, token ids outside the vocabulary or more tokens than reserved;
  // INTERNAL if a kernel fails (the batch's sequences should then be dropped).
  virtual absl::StatusOr<StepOutput> Step(const StepInput& input) = 0;

  virtual int free_kv_blocks() const = 0;
  // Blocks AddSequence would take for `tokens` positions.
  virtual int64_t BlocksFor(int64_t tokens) const = 0;
  // Weight bytes and multiply-adds one decode token costs at `context`
  // positions.
  virtual int64_t decode_bytes_per_token() const = 0;
  virtual int64_t decode_macs_per_token(int64_t context) const = 0;
};

struct EngineOptions {
  // KV-cache capacity: in positions (tokens) if > 0, else in bytes if > 0, else
  // 16 full-length sequences.
  int64_t kv_cache_tokens = 0;
  int64_t kv_cache_bytes = 0;
  int kv_block_size = 16;  // positions per block
  // Hold cached keys and values in bfloat16: half the KV bytes, which decode
  // attention streams every step (most of a sparse model's bytes at long
  // contexts or large batches), and twice the positions in the same memory.
  // Changes logits slightly, so off by default.
  bool bf16_kv_cache = false;
  // Hold the Sparse FF controller weights (m1, m2) in bfloat16 and multiply
  // them with the packed kernel (packed_linear.h) in f32 arithmetic: half the
  // bytes of the part of a sparse layer that every token reads in full.
  // Changes logits slightly (argmax ties may flip), so off by default.
  bool bf16_sparse_controller = false;
  // Hold the Sparse FF layers' W1 and W2 rows, of which a token reads one
  // chosen unit's pair per block, in bfloat16: half those bytes. Changes
  // logits slightly, so off by default.
  bool bf16_sparse_ff_rows = false;
  // Hold the output layer's weights (the dense projection, the tied
  // embedding's transpose, or a factored layer's E) in bfloat16, multiplied
  // by the packed kernel (packed_linear.h) with f32 arithmetic: half the bytes
  // of the largest single weight every decode step reads (a quarter of the
  // medium sparse model's bytes per token with the other bf16 options).
  // Changes logits slightly, so off by default.
  bool bf16_output_layer = false;
  // Threads each Step may use (the engine's kernels through ThreadTeam, and
  // oneDNN through OpenMP); 0 = OpenMP's default (OMP_NUM_THREADS, else one
  // per core in the affinity mask). On small machines shared with gRPC threads,
  // 1 avoids stalls when a team member is descheduled; large models on many
  // cores want more.
  int num_threads = 0;
  // Which kernel runs the dense matmuls (linear.h): by default oneDNN where it
  // has a blocked f32 kernel for this CPU, else the project's packed kernel.
  DenseKernel dense_kernel = DenseKernel::kAuto;
  // Ignore model.safetensors and give every weight seeded random values of the
  // shapes config.json implies: for load tests and benchmarks of shapes nobody
  // has trained (the text generated is noise), as vLLM's --load-format dummy.
  bool dummy_weights = false;
};

// Loads config.json, model.safetensors (unless options.dummy_weights) and
// tokenizer.model from `model_dir`.
// Every problem is a clear error: NOT_FOUND for a missing file,
// INVALID_ARGUMENT naming the file, field or tensor otherwise.
absl::StatusOr<std::unique_ptr<Engine>> LoadEngine(
    const std::string& model_dir, const EngineOptions& options);

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_ENGINE_H_
