#include "server/grpc/generation_service.h"

namespace terraserve::server {
namespace {

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

// A stream that ends at once with a status.
class FailedStream final : public grpc::ServerWriteReactor<v1::GenerateStreamResponse> {
 public:
  explicit FailedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status GenerationService::NotReady() const {
  if (draining_.load()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is draining");
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "no model is loaded: the engine is not built yet");
}

grpc::ServerUnaryReactor* GenerationService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest*,
    v1::GenerateResponse*) {
  return FinishNow(context, NotReady());
}

grpc::ServerWriteReactor<v1::GenerateStreamResponse>* GenerationService::GenerateStream(
    grpc::CallbackServerContext*, const v1::GenerateRequest*) {
  return new FailedStream(NotReady());
}

grpc::ServerUnaryReactor* GenerationService::Tokenize(grpc::CallbackServerContext* context,
                                                      const v1::TokenizeRequest*,
                                                      v1::TokenizeResponse*) {
  return FinishNow(context, NotReady());
}

grpc::ServerUnaryReactor* GenerationService::Detokenize(
    grpc::CallbackServerContext* context, const v1::DetokenizeRequest*,
    v1::DetokenizeResponse*) {
  return FinishNow(context, NotReady());
}

grpc::ServerUnaryReactor* GenerationService::GetModelInfo(
    grpc::CallbackServerContext* context, const v1::GetModelInfoRequest*, v1::ModelInfo*) {
  return FinishNow(context, NotReady());
}

}  // namespace terraserve::server
