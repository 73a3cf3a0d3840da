// Options of a terraserve process, filled from flags in main.cc (server layer).
#ifndef TERRASERVE_SERVER_SERVER_OPTIONS_H_
#define TERRASERVE_SERVER_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "server/grpc/security.h"
#include "server/scheduler/scheduler.h"

namespace terraserve::server {

struct ServerOptions {
  // Model directory: config.json, model.safetensors, tokenizer.model.
  std::string model_dir;
  // Address the gRPC and metrics listeners bind to. Loopback by default;
  // 0.0.0.0 in containers.
  std::string host = "127.0.0.1";
  // gRPC port; 0 picks a free one (reported through port_file and the log).
  int port = 50051;
  // Prometheus /metrics port; 0 picks a free one; -1 disables metrics.
  int metrics_port = 9464;
  // If set, "<grpc port> <metrics port>" is written here once the model is
  // loaded and the server is ready (used by tests that start the server on port
  // 0).
  std::string port_file;
  // Seconds in-flight requests may take to finish after SIGTERM.
  double shutdown_grace_seconds = 20;
  // One structured log line per finished or failed request.
  bool log_requests = true;
  // Largest request accepted, bytes.
  int max_receive_message_bytes = 4 << 20;

  // Longest prompt in tokens; 0 = the model's context minus one.
  int max_input_tokens = 0;
  // Prompt + generated tokens; 0 = the model's context.
  int max_total_tokens = 0;
  // max_new_tokens when a request leaves it 0.
  int default_max_new_tokens = 256;
  // Cap on OutputOptions.top_logprobs.
  int max_top_logprobs = 20;

  SecurityOptions security;
  // gRPC threads for callbacks; bounds thread growth under load.
  int max_grpc_threads = 64;
  engine::EngineOptions engine;
  SchedulerOptions scheduler;

  // Returns INVALID_ARGUMENT naming the first bad field.
  absl::Status Validate() const;
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_SERVER_OPTIONS_H_
