#include "server/scheduler/sequence.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace terraserve::server {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kEosToken:
      return "eos_token";
    case FinishReason::kStopSequence:
      return "stop_sequence";
    case FinishReason::kStopToken:
      return "stop_token";
  }
  return "unknown";
}

Sequence::Sequence(engine::SequenceId id,
                   std::unique_ptr<GenerationRequest> request,
                   std::shared_ptr<ResponseSink> sink,
                   const engine::Tokenizer* tokenizer, int32_t eos_id)
    : id_(id),
      request_(std::move(request)),
      sink_(std::move(sink)),
      tokenizer_(tokenizer),
      eos_id_(eos_id),
      sampler_(request_->sampling, request_->prompt),
      detok_(tokenizer, !request_->skip_special_tokens),
      stops_(request_->stop_sequences, request_->include_stop_sequence) {}

std::vector<int32_t> Sequence::NextInput(int max_tokens) {
  if (prefilling()) {
    const int n = std::min(max_tokens, remaining_prompt());
    std::vector<int32_t> chunk(request_->prompt.begin() + prefilled_,
                               request_->prompt.begin() + prefilled_ + n);
    prefilled_ += n;
    return chunk;
  }
  return {generated_.back()};
}

std::vector<int32_t> Sequence::BannedTokens() const {
  // EOS and stop tokens may not end generation before min_new_tokens: make them
  // impossible instead of ignoring them after the fact (the vLLM min_tokens
  // rule).
  if (generated() >= request_->min_new_tokens) return {};
  std::vector<int32_t> banned = request_->stop_token_ids;
  if (eos_id_ >= 0) banned.push_back(eos_id_);
  return banned;
}

GenerationUpdate Sequence::Advance(const float* logits, int vocab_size,
                                   absl::Time now) {
  GenerationUpdate update;
  engine::SampledToken s = sampler_.Sample(logits, vocab_size, BannedTokens());
  generated_.push_back(s.id);
  if (!first_token_) {
    first_token_ = now;
    update.first = true;
    update.prompt_tokens = static_cast<int>(request_->prompt.size());
  }
  last_token_ = now;

  TokenEvent ev;
  ev.id = s.id;
  ev.special = tokenizer_->IsSpecial(s.id);
  ev.text = engine::SanitizeUtf8(ev.special ? tokenizer_->Piece(s.id)
                                            : tokenizer_->TokenBytes(s.id));
  if (request_->logprobs) {
    ev.logprob = s.logprob;
    ev.top = std::move(s.top);
  }
  update.tokens.push_back(std::move(ev));

  const bool may_stop = generated() >= request_->min_new_tokens;
  const bool is_eos = s.id == eos_id_ && !request_->ignore_eos;
  const bool is_stop_token = std::find(request_->stop_token_ids.begin(),
                                       request_->stop_token_ids.end(),
                                       s.id) != request_->stop_token_ids.end();
  if (may_stop && (is_eos || is_stop_token)) {
    if (is_stop_token && !is_eos) final_.emplace().matched_stop_token = s.id;
    Finish(is_eos ? FinishReason::kEosToken : FinishReason::kStopToken, now,
           update);
    return update;
  }
  StopMatcher::Result r = stops_.Add(detok_.Add(s.id));
  update.text = std::move(r.text);
  if (r.matched && may_stop) {
    final_.emplace().matched_stop_sequence = *r.matched;
    Finish(FinishReason::kStopSequence, now, update);
    return update;
  }
  if (r.matched) update.text += *r.matched;  // too early to stop: release it
  if (generated() >= request_->max_new_tokens)
    Finish(FinishReason::kLength, now, update);
  return update;
}

void Sequence::Finish(FinishReason reason, absl::Time now,
                      GenerationUpdate& update) {
  if (reason != FinishReason::kStopSequence) {
    update.text += stops_.Add(detok_.Flush()).text;
    update.text += stops_.Flush();
  }
  FinalInfo& f = final_ ? *final_ : final_.emplace();
  f.reason = reason;
  f.prompt_tokens = static_cast<int>(request_->prompt.size());
  f.completion_tokens = generated();
  f.seed = request_->sampling.seed;
  f.queue_time = admitted_ - request_->arrival;
  f.time_to_first_token = *first_token_ - request_->arrival;
  f.decode_time = now - *first_token_;
  f.total_time = now - request_->arrival;
  update.final = f;
}

}  // namespace terraserve::server
