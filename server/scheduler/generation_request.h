// Plain request and result types shared by the scheduler and the gRPC layer
// (server/scheduler layer). No protobuf here: request_validation.cc converts at
// the edge.
#ifndef TERRASERVE_SERVER_SCHEDULER_GENERATION_REQUEST_H_
#define TERRASERVE_SERVER_SCHEDULER_GENERATION_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/sampler/sampler.h"

namespace terraserve::server {

enum class FinishReason { kLength, kEosToken, kStopSequence, kStopToken };
const char* FinishReasonName(
    FinishReason reason);  // "length", "eos_token", ...

struct GenerationRequest {
  std::string request_id;
  std::vector<int32_t> prompt;
  // Encoder-decoder models: prompt[0, source_tokens) is the encoder's input
  // and the rest the decoder's start; 0 for decoder-only models.
  int source_tokens = 0;
  engine::SamplingParams sampling;  // seed already chosen
  int max_new_tokens = 0;           // > 0, already capped by the limits
  int min_new_tokens = 0;
  std::vector<std::string> stop_sequences;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool include_stop_sequence = false;
  bool logprobs = false;
  bool skip_special_tokens = true;
  absl::Time deadline = absl::InfiniteFuture();
  absl::Time arrival = absl::Now();
};

struct TokenEvent {
  int32_t id = 0;
  std::string text;  // this token's own text (valid UTF-8)
  float logprob = 0;
  bool special = false;
  std::vector<std::pair<int32_t, float>> top;  // alternatives (id, logprob)
};

struct FinalInfo {
  FinishReason reason = FinishReason::kLength;
  std::optional<std::string> matched_stop_sequence;
  std::optional<int32_t> matched_stop_token;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  uint64_t seed = 0;
  absl::Duration queue_time, time_to_first_token, decode_time, total_time;
};

// One message to the client: new tokens, the text that became safe to show, and
// on the last message `final`. A non-OK `error` ends the stream instead.
struct GenerationUpdate {
  std::vector<TokenEvent> tokens;
  std::string text;
  bool first = false;
  int prompt_tokens = 0;
  std::optional<FinalInfo> final;
  absl::Status error;
};

// Where the scheduler delivers updates for one request. Implemented by the gRPC
// layer. Thread-safety: Push is called only from the scheduler thread and must
// not block; closed() may be read from it at any time.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void Push(GenerationUpdate update) = 0;
  // True once the client is gone; the scheduler then drops the request.
  virtual bool closed() const = 0;
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_SCHEDULER_GENERATION_REQUEST_H_
