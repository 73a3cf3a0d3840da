// terraserve.v1.TextGeneration on the gRPC callback API (server/grpc layer).
//
// Thread-safety: all methods are called by gRPC's callback threads concurrently;
// the service's own state is atomic.
#ifndef TERRASERVE_SERVER_GRPC_GENERATION_SERVICE_H_
#define TERRASERVE_SERVER_GRPC_GENERATION_SERVICE_H_

#include <atomic>

#include "terraserve/v1/generation.grpc.pb.h"

namespace terraserve::server {

class GenerationService final : public terraserve::v1::TextGeneration::CallbackService {
 public:
  GenerationService() = default;

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
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const v1::DetokenizeRequest* request,
                                       v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

 private:
  grpc::Status NotReady() const;

  std::atomic<bool> draining_{false};
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_GRPC_GENERATION_SERVICE_H_
