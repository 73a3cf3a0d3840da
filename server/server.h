// A running terraserve process: gRPC server (TextGeneration, health,
// reflection) and the Prometheus exposer (server layer).
//
// Thread-safety: Start, Drain and Shutdown are called from one thread (main).
#ifndef TERRASERVE_SERVER_SERVER_H_
#define TERRASERVE_SERVER_SERVER_H_

#include <grpcpp/server.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "server/metrics/server_metrics.h"
#include "server/scheduler/scheduler.h"
#include "server/server_options.h"

namespace prometheus {
class Exposer;
}

namespace terraserve::server {

class GenerationService;

class Server {
 public:
  // Validates options, binds both ports and starts serving health (the model
  // service NOT_SERVING until LoadModel). INVALID_ARGUMENT for bad options,
  // UNAVAILABLE when a port cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options);
  ~Server();

  // Loads options.model_dir, warms every kernel up with a short generation,
  // starts the scheduler and marks the model service SERVING. Errors name the
  // bad file or field.
  absl::Status LoadModel();

  int grpc_port() const { return grpc_port_; }
  // -1 when metrics are off.
  int metrics_port() const { return metrics_port_; }

  // Flips health to NOT_SERVING and makes new calls fail with UNAVAILABLE, then
  // waits up to `grace` for in-flight calls and shuts the listeners down.
  void Shutdown(absl::Duration grace);

 private:
  Server() = default;

  absl::Status WarmUp();

  ServerOptions options_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<GenerationService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int grpc_port_ = 0;
  int metrics_port_ = -1;
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_SERVER_H_
