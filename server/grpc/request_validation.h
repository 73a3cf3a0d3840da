// Converts and validates API messages at the edge (server/grpc layer): protobuf
// in, plain scheduler types out. Every problem is INVALID_ARGUMENT naming the
// field and its allowed range.
#ifndef TERRASERVE_SERVER_GRPC_REQUEST_VALIDATION_H_
#define TERRASERVE_SERVER_GRPC_REQUEST_VALIDATION_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/scheduler/generation_request.h"
#include "terraserve/v1/generation.pb.h"

namespace terraserve::server {

struct RequestLimits {
  int vocab_size = 0;
  int max_input_tokens = 0;  // longest prompt
  int max_total_tokens = 0;  // prompt + generated
  int default_max_new_tokens = 256;
  int max_stop_sequences = 8;
  int max_stop_sequence_bytes = 256;
  int max_stop_token_ids = 64;
  int max_top_logprobs = 20;
  int max_request_id_bytes = 128;
  // The model is an encoder-decoder: the prompt is the encoder's input and the
  // decoder starts from token 0 (spec 4.1).
  bool encoder_decoder = false;
};

// Builds the scheduler's request. `seed` is used when the request sets none;
// `deadline` comes from the gRPC call.
absl::StatusOr<std::unique_ptr<GenerationRequest>> ToGenerationRequest(
    const v1::GenerateRequest& request, const engine::Tokenizer& tokenizer,
    const RequestLimits& limits, absl::Time deadline, uint64_t seed);

// INVALID_ARGUMENT naming `field` unless `s` is valid UTF-8 (protobuf strings
// must be).
absl::Status ValidUtf8(const std::string& s, const std::string& field);

// Checks Detokenize ids against the vocabulary.
absl::Status ValidateTokenIds(
    const google::protobuf::RepeatedField<uint32_t>& ids, int vocab_size,
    const char* field);

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_GRPC_REQUEST_VALIDATION_H_
