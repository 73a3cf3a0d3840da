// libFuzzer target: request validation on arbitrary serialized GenerateRequest
// bytes. Either a clear error or a request within every limit.
#include <cstddef>
#include <cstdint>

#include "google/protobuf/stubs/logging.h"
#include "server/grpc/request_validation.h"

// Invalid UTF-8 in string fields makes protobuf log an error per input; the
// parse failure itself is what matters, so keep the fuzzer's output readable.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* tok =
      terraserve::engine::Tokenizer::Load(
          TERRASERVE_SOURCE_DIR "/models/terraformer-tiny/tokenizer.model")
          ->release();
  terraserve::v1::GenerateRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  terraserve::server::RequestLimits limits;
  limits.vocab_size = tok->vocab_size();
  limits.max_input_tokens = 511;
  limits.max_total_tokens = 512;
  auto r = terraserve::server::ToGenerationRequest(req, *tok, limits,
                                                   absl::InfiniteFuture(), 1);
  if (!r.ok()) {
    if (r.status().code() != absl::StatusCode::kInvalidArgument)
      __builtin_trap();
    return 0;
  }
  const auto& g = **r;
  if (g.prompt.empty() ||
      static_cast<int>(g.prompt.size()) > limits.max_input_tokens)
    __builtin_trap();
  if (g.max_new_tokens < 1 ||
      int(g.prompt.size()) + g.max_new_tokens > limits.max_total_tokens)
    __builtin_trap();
  if (g.min_new_tokens > g.max_new_tokens) __builtin_trap();
  for (int32_t id : g.prompt) {
    if (id < 0 || id >= limits.vocab_size) __builtin_trap();
  }
  return 0;
}
