// terraserve: gRPC text-generation server for sparse Terraformer models.
//
//   terraserve --model_dir=models/terraformer-tiny --port=50051
//   --metrics_port=9464
//
// Every flag can also be set by an environment variable TERRASERVE_<FLAG>
// (upper case); a flag on the command line wins. SIGTERM or SIGINT drains and
// exits 0.
#include <signal.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/base/logging.h"
#include "server/server.h"

ABSL_FLAG(std::string, model_dir, "models/terraformer-tiny",
          "Model directory holding config.json, model.safetensors and "
          "tokenizer.model.");
ABSL_FLAG(std::string, host, "127.0.0.1",
          "Address to bind gRPC and metrics to; 0.0.0.0 for every interface.");
ABSL_FLAG(int, port, 50051, "gRPC port; 0 picks a free one.");
ABSL_FLAG(int, metrics_port, 9464,
          "Prometheus /metrics port; 0 picks a free one, -1 is off.");
ABSL_FLAG(std::string, port_file, "",
          "If set, write '<grpc port> <metrics port>' to this file once ready "
          "to serve.");
ABSL_FLAG(double, shutdown_grace, 20,
          "Seconds in-flight requests may take to finish after SIGTERM.");
ABSL_FLAG(int, max_receive_message_bytes, 4 << 20,
          "Largest gRPC request accepted, bytes.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(bool, log_requests, true,
          "Log one line per request (id, tokens, finish reason, timings; never "
          "the text).");
ABSL_FLAG(int, max_input_tokens, 0,
          "Longest prompt in tokens; 0 = model context - 1.");
ABSL_FLAG(int, max_total_tokens, 0,
          "Prompt + generated tokens; 0 = model context.");
ABSL_FLAG(int, default_max_new_tokens, 256,
          "max_new_tokens for requests that leave it 0.");
ABSL_FLAG(int, max_top_logprobs, 20, "Cap on output.top_logprobs.");
ABSL_FLAG(
    int, max_queued_requests, 256,
    "Requests waiting for admission; beyond it calls get RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_running_sequences, 64,
          "Sequences decoding or prefilling at once.");
ABSL_FLAG(int, max_batch_tokens, 512, "Tokens one engine step may process.");
ABSL_FLAG(int, prefill_chunk_tokens, 256,
          "Largest prompt chunk one sequence prefills per step.");
ABSL_FLAG(int64_t, kv_cache_tokens, 0,
          "KV cache capacity in positions; 0 = use --kv_cache_bytes, or 16 "
          "full contexts.");
ABSL_FLAG(int64_t, kv_cache_bytes, 0,
          "KV cache capacity in bytes (when --kv_cache_tokens is 0).");
ABSL_FLAG(int, kv_block_size, 16, "Positions per KV-cache block.");
ABSL_FLAG(std::string, kv_cache_dtype, "f32",
          "Precision of cached keys and values: f32, or bf16 for half the "
          "bytes per position (faster decode at long contexts and large "
          "batches, slightly different logits).");
ABSL_FLAG(bool, bf16_sparse_controller, false,
          "Hold each Sparse FF controller's weights in bfloat16: half the "
          "bytes every decode step reads of them (faster sparse decode, "
          "slightly different logits; no effect on a dense FF).");
ABSL_FLAG(bool, bf16_sparse_ff_rows, false,
          "Hold each Sparse FF layer's W1 and W2 rows in bfloat16: half the "
          "bytes of the rows a decode step gathers (faster sparse decode, "
          "slightly different logits; no effect on a dense FF).");
ABSL_FLAG(bool, bf16_output_layer, false,
          "Hold the output layer's weights in bfloat16: half the bytes of the "
          "largest weight each decode step reads (faster decode, slightly "
          "different logits).");
ABSL_FLAG(
    int, engine_threads, 1,
    "Threads per engine step (oneDNN + kernels); 0 = one per core in the "
    "affinity mask. Set it to the cores the server may use (a container's "
    "CPU quota does not show in the mask).");
ABSL_FLAG(
    bool, dummy_weights, false,
    "Serve seeded random weights of config.json's shapes instead of "
    "model.safetensors: for load tests and benchmarks (output is noise).");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain; enables TLS with --tls_key.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; clients must present a cert it signed (mTLS).");
ABSL_FLAG(
    std::string, auth_token_file, "",
    "File whose first line is a bearer token every non-health call must send.");
ABSL_FLAG(int, max_grpc_threads, 64, "Upper bound on gRPC callback threads.");

namespace {

// Copies TERRASERVE_<NAME> environment variables into argv as --name=value,
// placed before the real arguments so that the command line wins.
std::vector<std::string> ArgsWithEnvironment(int argc, char** argv) {
  std::vector<std::string> args = {argv[0]};
  for (const char* name : {"model_dir",
                           "host",
                           "port",
                           "metrics_port",
                           "port_file",
                           "shutdown_grace",
                           "max_receive_message_bytes",
                           "log_level",
                           "log_requests",
                           "max_input_tokens",
                           "max_total_tokens",
                           "default_max_new_tokens",
                           "max_top_logprobs",
                           "max_queued_requests",
                           "max_running_sequences",
                           "max_batch_tokens",
                           "prefill_chunk_tokens",
                           "kv_cache_tokens",
                           "kv_cache_bytes",
                           "kv_block_size",
                           "kv_cache_dtype",
                           "tls_cert",
                           "tls_key",
                           "tls_client_ca",
                           "auth_token_file",
                           "max_grpc_threads"}) {
    std::string env = absl::StrCat("TERRASERVE_", absl::AsciiStrToUpper(name));
    if (const char* value = std::getenv(env.c_str())) {
      args.push_back(absl::StrCat("--", name, "=", value));
    }
  }
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "gRPC text-generation server for sparse Terraformer models.\n"
      "Usage: terraserve [--model_dir=DIR] [--host=ADDR] [--port=N] "
      "[--metrics_port=N]");
  std::vector<std::string> args = ArgsWithEnvironment(argc, argv);
  std::vector<char*> arg_ptrs;
  for (auto& a : args) arg_ptrs.push_back(a.data());
  absl::ParseCommandLine(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());

  auto level = terraserve::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    TS_LOG(Error) << "--log_level: " << level.status().message();
    return 2;
  }
  terraserve::SetMinLogLevel(*level);
  const std::string kv_dtype = absl::GetFlag(FLAGS_kv_cache_dtype);
  if (kv_dtype != "f32" && kv_dtype != "bf16") {
    TS_LOG(Error) << "--kv_cache_dtype must be f32 or bf16, got \"" << kv_dtype
                  << "\"";
    return 2;
  }

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  terraserve::server::ServerOptions options;
  options.model_dir = absl::GetFlag(FLAGS_model_dir);
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.shutdown_grace_seconds = absl::GetFlag(FLAGS_shutdown_grace);
  options.max_receive_message_bytes =
      absl::GetFlag(FLAGS_max_receive_message_bytes);
  options.log_requests = absl::GetFlag(FLAGS_log_requests);
  options.max_input_tokens = absl::GetFlag(FLAGS_max_input_tokens);
  options.max_total_tokens = absl::GetFlag(FLAGS_max_total_tokens);
  options.default_max_new_tokens = absl::GetFlag(FLAGS_default_max_new_tokens);
  options.max_top_logprobs = absl::GetFlag(FLAGS_max_top_logprobs);
  options.scheduler.max_queued_requests =
      absl::GetFlag(FLAGS_max_queued_requests);
  options.scheduler.max_running_sequences =
      absl::GetFlag(FLAGS_max_running_sequences);
  options.scheduler.max_batch_tokens = absl::GetFlag(FLAGS_max_batch_tokens);
  options.scheduler.prefill_chunk_tokens =
      absl::GetFlag(FLAGS_prefill_chunk_tokens);
  options.engine.kv_cache_tokens = absl::GetFlag(FLAGS_kv_cache_tokens);
  options.engine.kv_cache_bytes = absl::GetFlag(FLAGS_kv_cache_bytes);
  options.engine.kv_block_size = absl::GetFlag(FLAGS_kv_block_size);
  options.engine.bf16_kv_cache = kv_dtype == "bf16";
  options.engine.bf16_sparse_controller =
      absl::GetFlag(FLAGS_bf16_sparse_controller);
  options.engine.bf16_sparse_ff_rows = absl::GetFlag(FLAGS_bf16_sparse_ff_rows);
  options.engine.bf16_output_layer = absl::GetFlag(FLAGS_bf16_output_layer);
  options.engine.num_threads = absl::GetFlag(FLAGS_engine_threads);
  options.engine.dummy_weights = absl::GetFlag(FLAGS_dummy_weights);
  options.security.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.security.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.security.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.security.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  options.max_grpc_threads = absl::GetFlag(FLAGS_max_grpc_threads);

  auto server = terraserve::server::Server::Start(options);
  if (!server.ok()) {
    TS_LOG(Error) << "terraserve failed to start: "
                  << server.status().message();
    return absl::IsInvalidArgument(server.status()) ? 2 : 1;
  }
  if (absl::Status s = (*server)->LoadModel(); !s.ok()) {
    TS_LOG(Error) << "terraserve cannot serve the model: " << s.message();
    (*server)->Shutdown(absl::ZeroDuration());
    return 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  TS_LOG(Info) << "received "
               << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
               << ", draining for up to " << options.shutdown_grace_seconds
               << " s";
  (*server)->Shutdown(absl::Seconds(options.shutdown_grace_seconds));
  TS_LOG(Info) << "terraserve stopped";
  return 0;
}
