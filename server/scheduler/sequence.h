// One admitted request's generation state (server/scheduler layer): prompt
// progress, sampler, incremental detokenizer, stop matching, timings. Owned and
// used only by the scheduler thread.
#ifndef TERRASERVE_SERVER_SCHEDULER_SEQUENCE_H_
#define TERRASERVE_SERVER_SCHEDULER_SEQUENCE_H_

#include <memory>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/sampler/sampler.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/scheduler/generation_request.h"
#include "server/scheduler/stop_matcher.h"

namespace terraserve::server {

class Sequence {
 public:
  Sequence(engine::SequenceId id, std::unique_ptr<GenerationRequest> request,
           std::shared_ptr<ResponseSink> sink,
           const engine::Tokenizer* tokenizer, int32_t eos_id);

  engine::SequenceId id() const { return id_; }
  const GenerationRequest& request() const { return *request_; }
  ResponseSink& sink() { return *sink_; }
  bool prefilling() const {
    return prefilled_ < static_cast<int>(request_->prompt.size());
  }
  int remaining_prompt() const {
    return static_cast<int>(request_->prompt.size()) - prefilled_;
  }
  int generated() const { return static_cast<int>(generated_.size()); }
  bool finished() const { return final_.has_value(); }
  // Ended with an error (cancelled, deadline, engine failure); to be retired.
  void MarkDropped() { dropped_ = true; }
  bool done() const { return finished() || dropped_; }

  // The tokens this sequence feeds the next step: a prompt chunk of at most
  // `max_tokens`, or the last sampled token. Advances the prompt position.
  std::vector<int32_t> NextInput(int max_tokens);
  bool ExpectsLogits() const { return !prefilling(); }

  // Samples from `logits` (already produced for this sequence's last input),
  // checks stop conditions and returns the update to send. Marks the sequence
  // finished when a stop condition holds.
  GenerationUpdate Advance(const float* logits, int vocab_size, absl::Time now);

  void MarkAdmitted(absl::Time now) { admitted_ = now; }
  absl::Time admitted() const { return admitted_; }
  const std::optional<FinalInfo>& final() const { return final_; }
  std::optional<absl::Time> last_token_time() const { return last_token_; }

 private:
  void Finish(FinishReason reason, absl::Time now, GenerationUpdate& update);
  // EOS and stop tokens while fewer than min_new_tokens were generated.
  std::vector<int32_t> BannedTokens() const;

  engine::SequenceId id_;
  std::unique_ptr<GenerationRequest> request_;
  std::shared_ptr<ResponseSink> sink_;
  const engine::Tokenizer* tokenizer_;
  int32_t eos_id_;
  engine::Sampler sampler_;
  engine::IncrementalDetokenizer detok_;
  StopMatcher stops_;
  int prefilled_ = 0;
  std::vector<int32_t> generated_;
  absl::Time admitted_;
  std::optional<absl::Time> first_token_, last_token_;
  std::optional<FinalInfo> final_;
  bool dropped_ = false;
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_SCHEDULER_SEQUENCE_H_
