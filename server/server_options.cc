#include "server/server_options.h"

#include "absl/strings/str_cat.h"

namespace terraserve::server {

absl::Status ServerOptions::Validate() const {
  if (host.empty())
    return absl::InvalidArgumentError("--host must not be empty");
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--port must be in [0, 65535], got ", port));
  }
  if (metrics_port < -1 || metrics_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_port must be in [0, 65535] or -1 (off), got ",
                     metrics_port));
  }
  if (port != 0 && port == metrics_port) {
    return absl::InvalidArgumentError(
        absl::StrCat("--port and --metrics_port are both ", port));
  }
  if (!(shutdown_grace_seconds >= 0 && shutdown_grace_seconds <= 3600)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--shutdown_grace must be in [0, 3600] seconds, got ",
                     shutdown_grace_seconds));
  }
  if (max_receive_message_bytes < 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_receive_message_bytes must be at least 1024, got ",
                     max_receive_message_bytes));
  }
  if (max_input_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_input_tokens must be >= 0, got ", max_input_tokens));
  }
  if (max_total_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_total_tokens must be >= 0, got ", max_total_tokens));
  }
  if (max_input_tokens > 0 && max_total_tokens > 0 &&
      max_input_tokens >= max_total_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_input_tokens (", max_input_tokens,
        ") must be below --max_total_tokens (", max_total_tokens, ")"));
  }
  if (default_max_new_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--default_max_new_tokens must be >= 1, got ", default_max_new_tokens));
  }
  if (max_top_logprobs < 0 || max_top_logprobs > 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_top_logprobs must be in [0, 100], got ", max_top_logprobs));
  }
  if (engine.kv_cache_tokens < 0 || engine.kv_cache_bytes < 0) {
    return absl::InvalidArgumentError(
        "--kv_cache_tokens and --kv_cache_bytes must be >= 0");
  }
  if (engine.kv_block_size < 1 || engine.kv_block_size > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--kv_block_size must be in [1, 1024], got ", engine.kv_block_size));
  }
  if (engine.num_threads < 0 || engine.num_threads > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("--engine_threads must be in [0, 1024], got ",
                                                   engine.num_threads));
  }
  if (max_grpc_threads < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_grpc_threads must be >= 2, got ", max_grpc_threads));
  }
  return scheduler.Validate();
}

}  // namespace terraserve::server
