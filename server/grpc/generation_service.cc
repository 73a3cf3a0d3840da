#include "server/grpc/generation_service.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/grpc/generate_reactors.h"
#include "server/grpc/security.h"
#include "server/grpc/status_util.h"

namespace terraserve::server {
namespace {

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

// A stream that ends at once with a status.
class FailedStream final
    : public grpc::ServerWriteReactor<v1::GenerateStreamResponse> {
 public:
  explicit FailedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

absl::Time DeadlineOf(const grpc::CallbackServerContext& context) {
  auto d = context.deadline();
  if (d == std::chrono::system_clock::time_point::max())
    return absl::InfiniteFuture();
  return absl::FromChrono(d);
}

}  // namespace

void GenerationService::Attach(Scheduler* scheduler,
                               const RequestLimits& limits) {
  limits_ = limits;
  scheduler_.store(scheduler, std::memory_order_release);
}

Scheduler* GenerationService::Ready(const grpc::CallbackServerContext& context,
                                    grpc::Status* status) const {
  *status = CheckBearerToken(context, auth_token_);
  if (!status->ok()) return nullptr;
  if (draining_.load()) {
    *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "server is draining; retry on another replica");
    return nullptr;
  }
  Scheduler* s = scheduler_.load(std::memory_order_acquire);
  if (s == nullptr) {
    *status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "the model is still loading");
  }
  return s;
}

uint64_t GenerationService::NewSeed() {
  MutexLock lock(&seed_mu_);
  return seed_rng_();
}

absl::StatusOr<std::unique_ptr<GenerationRequest>> GenerationService::Convert(
    grpc::CallbackServerContext* context, const v1::GenerateRequest& request) {
  Scheduler* scheduler = scheduler_.load(std::memory_order_acquire);
  auto r = ToGenerationRequest(request, scheduler->engine().tokenizer(),
                               limits_, DeadlineOf(*context), NewSeed());
  if (r.ok() && (*r)->request_id.empty()) {
    (*r)->request_id = absl::StrCat("req-", request_counter_.fetch_add(1) + 1);
  }
  return r;
}

grpc::ServerUnaryReactor* GenerationService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request,
    v1::GenerateResponse* response) {
  grpc::Status status;
  Scheduler* scheduler = Ready(*context, &status);
  if (scheduler == nullptr) return FinishNow(context, status);
  auto r = Convert(context, *request);
  if (!r.ok()) return FinishNow(context, ToGrpcStatus(r.status()));
  return StartGenerateUnary(std::move(*r), response, scheduler,
                            &scheduler->engine().tokenizer(), &delivery_);
}

grpc::ServerWriteReactor<v1::GenerateStreamResponse>*
GenerationService::GenerateStream(grpc::CallbackServerContext* context,
                                  const v1::GenerateRequest* request) {
  grpc::Status status;
  Scheduler* scheduler = Ready(*context, &status);
  if (scheduler == nullptr) return new FailedStream(status);
  auto r = Convert(context, *request);
  if (!r.ok()) return new FailedStream(ToGrpcStatus(r.status()));
  return StartGenerateStream(std::move(*r), scheduler,
                             &scheduler->engine().tokenizer(), &delivery_);
}

grpc::ServerUnaryReactor* GenerationService::Tokenize(
    grpc::CallbackServerContext* context, const v1::TokenizeRequest* request,
    v1::TokenizeResponse* response) {
  grpc::Status status;
  Scheduler* scheduler = Ready(*context, &status);
  if (scheduler == nullptr) return FinishNow(context, status);
  if (absl::Status valid = ValidUtf8(request->text(), "text"); !valid.ok()) {
    return FinishNow(context, ToGrpcStatus(valid));
  }
  const engine::Tokenizer& tok = scheduler->engine().tokenizer();
  if (request->add_bos() && tok.bos_id() >= 0) response->add_ids(tok.bos_id());
  for (int32_t id : tok.Encode(request->text())) response->add_ids(id);
  for (uint32_t id : response->ids()) {
    response->add_pieces(
        engine::SanitizeUtf8(tok.Piece(static_cast<int32_t>(id))));
  }
  return FinishNow(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GenerationService::Detokenize(
    grpc::CallbackServerContext* context, const v1::DetokenizeRequest* request,
    v1::DetokenizeResponse* response) {
  grpc::Status status;
  Scheduler* scheduler = Ready(*context, &status);
  if (scheduler == nullptr) return FinishNow(context, status);
  absl::Status valid =
      ValidateTokenIds(request->ids(), limits_.vocab_size, "ids");
  if (!valid.ok()) return FinishNow(context, ToGrpcStatus(valid));
  std::vector<int32_t> ids(request->ids().begin(), request->ids().end());
  response->set_text(scheduler->engine().tokenizer().Decode(
      ids, request->keep_special_tokens()));
  return FinishNow(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* GenerationService::GetModelInfo(
    grpc::CallbackServerContext* context, const v1::GetModelInfoRequest*,
    v1::ModelInfo* response) {
  grpc::Status status;
  Scheduler* scheduler = Ready(*context, &status);
  if (scheduler == nullptr) return FinishNow(context, status);
  const engine::ModelInfo& info = scheduler->engine().model_info();
  const engine::ModelConfig& c = info.config;
  response->set_model_id(info.model_id);
  auto* a = response->mutable_architecture();
  a->set_kind(c.architecture);
  a->set_n_layers(c.n_layers);
  a->set_n_encoder_layers(c.n_encoder_layers);
  a->set_d_model(c.d_model);
  a->set_d_ff(c.d_ff);
  a->set_n_heads(c.n_heads);
  a->set_sparse_ff(c.ff == engine::FfKind::kSparse);
  a->set_ff_block_size(c.ff == engine::FfKind::kSparse ? c.ff_block_size : 0);
  a->set_sparse_qkv(c.attention == engine::AttentionKind::kSparseQkv);
  a->set_qkv_modules(
      c.attention == engine::AttentionKind::kSparseQkv ? c.qkv_modules : 0);
  a->set_output_layer(c.output == engine::OutputKind::kDense  ? "dense"
                      : c.output == engine::OutputKind::kTied ? "tied"
                                                              : "factored");
  a->set_reversible(c.reversible);
  a->set_sru(c.sru_width > 0);
  a->set_parameters(info.parameters);
  response->set_vocab_size(c.vocab_size);
  response->set_bos_token_id(c.bos_id);
  response->set_eos_token_id(c.eos_id);
  response->set_dtype(info.dtype);
  response->set_max_input_tokens(limits_.max_input_tokens);
  response->set_max_total_tokens(limits_.max_total_tokens);
  response->set_default_max_new_tokens(limits_.default_max_new_tokens);
  response->set_max_stop_sequences(limits_.max_stop_sequences);
  response->set_max_stop_sequence_bytes(limits_.max_stop_sequence_bytes);
  response->set_max_top_logprobs(limits_.max_top_logprobs);
  response->set_server_version(TERRASERVE_VERSION);
  return FinishNow(context, grpc::Status::OK);
}

}  // namespace terraserve::server
