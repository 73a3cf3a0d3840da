// Per-sequence token sampling (engine/sampler layer): penalties, temperature,
// top-k, top-p, min-p, a per-sequence seeded RNG, logprobs and top-n
// alternatives.
//
// Each sequence owns its Sampler, so its random stream depends only on its seed
// and its own logits, never on what else shares the batch. Thread-compatible.
#ifndef TERRASERVE_ENGINE_SAMPLER_SAMPLER_H_
#define TERRASERVE_ENGINE_SAMPLER_SAMPLER_H_

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace terraserve::engine {

struct SamplingParams {
  float temperature = 0;         // 0 = greedy
  int top_k = 0;                 // 0 = off
  float top_p = 1;               // 1 = off
  float min_p = 0;               // 0 = off
  float repetition_penalty = 1;  // 1 = off; applies to prompt and output tokens
  float frequency_penalty = 0;   // per occurrence in the output
  float presence_penalty = 0;    // once per distinct output token
  uint64_t seed = 0;
  int top_logprobs = 0;  // alternatives to report

  // INVALID_ARGUMENT naming the field (the API's field names) and its range.
  absl::Status Validate(int vocab_size) const;
};

struct SampledToken {
  int32_t id = 0;
  float logprob =
      0;  // log-probability under the penalised, tempered distribution
  std::vector<std::pair<int32_t, float>> top;  // most likely ids with logprobs
};

class Sampler {
 public:
  Sampler(const SamplingParams& params, const std::vector<int32_t>& prompt);
  // Picks the next token from `logits` [vocab_size] and records it for
  // penalties.
  // Ids in `banned` get probability 0 (e.g. EOS before min_new_tokens).
  SampledToken Sample(const float* logits, int vocab_size,
                      const std::vector<int32_t>& banned = {});

 private:
  void ApplyPenalties(std::vector<float>& l) const;
  // A token from logprobs, after top_k, min_p and top_p; probs are
  // exp(logprobs - their maximum).
  int32_t Draw(const std::vector<float>& logprobs,
               const std::vector<float>& probs);

  SamplingParams params_;
  std::mt19937_64 rng_;
  absl::flat_hash_map<int32_t, int> output_counts_;
  std::vector<int32_t>
      seen_;  // prompt and output tokens, for the repetition penalty
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_SAMPLER_SAMPLER_H_
