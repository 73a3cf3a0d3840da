#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/server_builder.h>
#include <prometheus/exposer.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/logging.h"
#include "engine/base/status_macros.h"
#include "server/grpc/generation_service.h"
#include "server/grpc/security.h"
#include "server/metrics/rpc_metrics_interceptor.h"

namespace terraserve::server {
namespace {

constexpr char kServiceName[] = "terraserve.v1.TextGeneration";

std::string JoinHostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos)
    return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::Status WritePortFile(const std::string& path, int port,
                           int metrics_port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << port << " " << metrics_port << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  // rename is atomic, so a reader never sees a half-written file.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Server> server(new Server());
  server->options_ = options;
  server->service_ = std::make_unique<GenerationService>();
  server->metrics_ = std::make_unique<ServerMetrics>(options.log_requests);

  if (options.metrics_port >= 0) {
    std::string addr = JoinHostPort(options.host, options.metrics_port);
    try {
      server->exposer_ = std::make_unique<prometheus::Exposer>(addr);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", addr, ": ", e.what()));
    }
    server->metrics_->RegisterWith(*server->exposer_);
    auto ports = server->exposer_->GetListeningPorts();
    server->metrics_port_ =
        ports.empty() ? options.metrics_port : ports.front();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  TS_ASSIGN_OR_RETURN(auto credentials,
                      MakeServerCredentials(options.security));
  TS_ASSIGN_OR_RETURN(std::string token, LoadAuthToken(options.security));
  server->service_->SetAuthToken(std::move(token));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(JoinHostPort(options.host, options.port),
                           credentials, &server->grpc_port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  grpc::ResourceQuota quota("terraserve");
  quota.SetMaxThreads(options.max_grpc_threads);
  builder.SetResourceQuota(quota);
  // Long unary calls and idle streams: let clients ping every 10 s, even
  // between calls (what load balancers and vLLM's clients expect), and ping
  // idle clients ourselves.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder.RegisterService(server->service_.get());
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      MakeRpcMetricsInterceptorFactory(server->metrics_.get()));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->grpc_port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ",
                     JoinHostPort(options.host, options.port)));
  }
  auto* health = server->grpc_server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  // The model service stays NOT_SERVING until a model is loaded and warmed up.
  health->SetServingStatus(kServiceName, false);

  TS_LOG(Info) << "gRPC listening on "
               << JoinHostPort(options.host, server->grpc_port_)
               << "; metrics on "
               << (server->metrics_port_ >= 0
                       ? JoinHostPort(options.host, server->metrics_port_) +
                             "/metrics"
                       : std::string("(off)"));
  return server;
}

absl::Status Server::LoadModel() {
  const absl::Time start = absl::Now();
  // Loading and warm-up run on a thread of their own, whose worker threads
  // (its ThreadTeam's, and OpenMP's where oneDNN ran) exit with it. OpenMP
  // workers left alive beside the scheduler thread's make libgomp manage more
  // threads than there are CPUs, and it then cuts its spin-wait to a hundred
  // turns (GOMP_SPINCOUNT in its manual): every OpenMP region slept on a futex
  // and woke late (one stream's tokens came 1.5x slower than the engine alone,
  // measured when every kernel ran on OpenMP).
  absl::Status loaded;
  std::thread([&] {
    auto engine = engine::LoadEngine(options_.model_dir, options_.engine);
    if (!engine.ok()) {
      loaded = engine.status();
      return;
    }
    engine_ = std::move(*engine);
    loaded = WarmUp();
  }).join();
  TS_RETURN_IF_ERROR(loaded);
  TS_ASSIGN_OR_RETURN(
      scheduler_,
      Scheduler::Create(engine_.get(), options_.scheduler, metrics_.get()));
  scheduler_->Start();
  const engine::ModelInfo& info = engine_->model_info();
  RequestLimits limits;
  limits.vocab_size = info.config.vocab_size;
  limits.max_total_tokens =
      options_.max_total_tokens > 0
          ? std::min(options_.max_total_tokens, info.max_context)
          : info.max_context;
  limits.max_input_tokens =
      options_.max_input_tokens > 0
          ? std::min(options_.max_input_tokens, limits.max_total_tokens - 1)
          : limits.max_total_tokens - 1;
  limits.default_max_new_tokens = options_.default_max_new_tokens;
  limits.max_top_logprobs = options_.max_top_logprobs;
  limits.encoder_decoder = info.config.architecture == "encoder_decoder";
  service_->Attach(scheduler_.get(), limits);
  metrics_->SetModelInfo(info.model_id, info.dtype, info.kv_block_size);
  grpc_server_->GetHealthCheckService()->SetServingStatus(kServiceName, true);
  if (!options_.port_file.empty()) {
    TS_RETURN_IF_ERROR(
        WritePortFile(options_.port_file, grpc_port_, metrics_port_));
  }
  TS_LOG(Info) << "model " << info.model_id << " loaded and warmed up in "
               << absl::FormatDuration(absl::Now() - start) << ": "
               << info.parameters << " parameters (" << info.dtype
               << "), KV cache " << info.kv_total_blocks << " blocks of "
               << info.kv_block_size << " positions ("
               << (info.kv_cache_bytes >> 20) << " MiB, held from startup)";
  return absl::OkStatus();
}

absl::Status Server::WarmUp() {
  // A prefill and a decode step build every oneDNN primitive and touch every
  // weight before the server reports ready (first use costs milliseconds per
  // primitive). It runs on the engine directly, before the scheduler exists, so
  // no metric counts it.
  constexpr engine::SequenceId kWarmUpId = -1;
  const int vocab = engine_->model_info().config.vocab_size;
  std::vector<int32_t> prompt;
  for (int i = 0; i < 8; ++i) prompt.push_back((i * 7 + 3) % vocab);
  TS_RETURN_IF_ERROR(engine_->AddSequence(kWarmUpId, 16));
  engine::StepInput prefill, decode;
  prefill.items.push_back({kWarmUpId, prompt, true});
  decode.items.push_back({kWarmUpId, {prompt[0]}, true});
  absl::Status s;
  if (engine_->model_info().config.architecture == "encoder_decoder")
    s = engine_->Encode(kWarmUpId, prompt);
  if (s.ok()) s = engine_->Step(prefill).status();
  if (s.ok()) s = engine_->Step(decode).status();
  engine_->RemoveSequence(kWarmUpId);
  if (!s.ok())
    return absl::InternalError(absl::StrCat("warm-up failed: ", s.message()));
  return absl::OkStatus();
}

void Server::Shutdown(absl::Duration grace) {
  if (grpc_server_ == nullptr) return;
  const absl::Time deadline = absl::Now() + grace;
  // Draining first, so that once health reports NOT_SERVING every new call
  // is refused with UNAVAILABLE: a client that checks health never races it.
  service_->StartDraining();  // new calls: UNAVAILABLE
  grpc_server_->GetHealthCheckService()
      ->Shutdown();                            // every service NOT_SERVING
  if (scheduler_) scheduler_->Stop(deadline);  // in-flight requests finish
  // Finished requests may still have their last messages in flight to slow
  // clients: give the transport the rest of the grace period, and at least a
  // few seconds.
  grpc_server_->Shutdown(
      absl::ToChronoTime(std::max(deadline, absl::Now() + absl::Seconds(5))));
  grpc_server_->Wait();
  grpc_server_.reset();
  scheduler_.reset();
  engine_.reset();
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

}  // namespace terraserve::server
