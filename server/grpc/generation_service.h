// terraserve.v1.TextGeneration on the gRPC callback API (server/grpc layer).
//
// Handlers validate and convert the request, then hand it to the scheduler and
// return at once; they never block a gRPC thread. Before a model is attached,
// and while draining, every call fails with UNAVAILABLE.
//
// Thread-safety: all methods may be called concurrently; Attach happens-before
// serving (it is published through an atomic).
#ifndef TERRASERVE_SERVER_GRPC_GENERATION_SERVICE_H_
#define TERRASERVE_SERVER_GRPC_GENERATION_SERVICE_H_

#include <atomic>
#include <random>

#include "engine/base/mutex.h"
#include "server/grpc/delivery_thread.h"
#include "server/grpc/request_validation.h"
#include "server/scheduler/scheduler.h"
#include "terraserve/v1/generation.grpc.pb.h"

namespace terraserve::server {

class GenerationService final
    : public terraserve::v1::TextGeneration::CallbackService {
 public:
  GenerationService() = default;

  // Calls must carry this bearer token (empty = no auth). Call before serving.
  void SetAuthToken(std::string token) { auth_token_ = std::move(token); }
  // Starts serving with this scheduler (which must outlive the service's use).
  void Attach(Scheduler* scheduler, const RequestLimits& limits);
  // After this, every new call fails with UNAVAILABLE.
  void StartDraining() { draining_.store(true); }

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* context,
                                     const v1::GenerateRequest* request,
                                     v1::GenerateResponse* response) override;
  grpc::ServerWriteReactor<v1::GenerateStreamResponse>* GenerateStream(
      grpc::CallbackServerContext* context,
      const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(
      grpc::CallbackServerContext* context,
      const v1::DetokenizeRequest* request,
      v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

 private:
  // The scheduler if the call may proceed, else null with *status set
  // (UNAUTHENTICATED, or UNAVAILABLE while loading or draining).
  Scheduler* Ready(const grpc::CallbackServerContext& context,
                   grpc::Status* status) const;
  absl::StatusOr<std::unique_ptr<GenerationRequest>> Convert(
      grpc::CallbackServerContext* context, const v1::GenerateRequest& request);
  uint64_t NewSeed();

  std::atomic<Scheduler*> scheduler_{nullptr};
  RequestLimits limits_;
  std::string auth_token_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> request_counter_{0};
  Mutex seed_mu_;
  std::mt19937_64 seed_rng_ ABSL_GUARDED_BY(seed_mu_){std::random_device{}()};
  // Starts the generation calls' writes off the scheduler thread; outlives
  // every call (the gRPC server is destroyed first).
  DeliveryThread delivery_;
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_GRPC_GENERATION_SERVICE_H_
