#include "server/grpc/generate_reactors.h"

#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "engine/base/logging.h"
#include "engine/base/mutex.h"
#include "server/grpc/status_util.h"

namespace terraserve::server {
namespace {

v1::FinishReason ToProto(FinishReason r) {
  switch (r) {
    case FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case FinishReason::kEosToken:
      return v1::FINISH_REASON_EOS_TOKEN;
    case FinishReason::kStopSequence:
      return v1::FINISH_REASON_STOP_SEQUENCE;
    case FinishReason::kStopToken:
      return v1::FINISH_REASON_STOP_TOKEN;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Merges `next` into `into` (same request, later in time).
void Merge(GenerationUpdate& into, GenerationUpdate next) {
  for (auto& t : next.tokens) into.tokens.push_back(std::move(t));
  into.text += next.text;
  if (next.first) {
    into.first = true;
    into.prompt_tokens = next.prompt_tokens;
  }
  if (next.final) into.final = std::move(next.final);
  if (!next.error.ok()) into.error = next.error;
}

// The ResponseSink of one call: forwards updates to the reactor until the
// reactor is gone. A separate shared object because the scheduler holds a
// shared_ptr to it while the reactor deletes itself in OnDone; its mutex also
// serialises every reactor state change.
template <typename Reactor>
class ReactorSink final
    : public ResponseSink,
      public std::enable_shared_from_this<ReactorSink<Reactor>> {
 public:
  explicit ReactorSink(Reactor* r) : reactor_(r) {}
  void Push(GenerationUpdate update) override {
    MutexLock lock(&mu_);
    if (reactor_ != nullptr) reactor_->Deliver(std::move(update));
  }
  // Runs (reactor->*fn)() on `delivery` under mu_, unless the reactor is gone
  // by then.
  void Post(DeliveryThread* delivery, void (Reactor::*fn)()) {
    delivery->Post([self = this->shared_from_this(), fn] {
      MutexLock lock(&self->mu_);
      if (self->reactor_ != nullptr) (self->reactor_->*fn)();
    });
  }
  bool closed() const override {
    MutexLock lock(&mu_);
    return closed_;
  }
  // Called from OnDone: no more deliveries; the scheduler drops the request.
  void Detach() {
    MutexLock lock(&mu_);
    reactor_ = nullptr;
    closed_ = true;
  }
  mutable Mutex mu_;

 private:
  Reactor* reactor_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// Streaming reactor.
class StreamReactor final
    : public grpc::ServerWriteReactor<v1::GenerateStreamResponse> {
 public:
  using Sink = ReactorSink<StreamReactor>;

  StreamReactor(const GenerationRequest& request, Scheduler* scheduler,
                const engine::Tokenizer* tokenizer, DeliveryThread* delivery)
      : request_id_(request.request_id),
        scheduler_(scheduler),
        tokenizer_(tokenizer),
        delivery_(delivery),
        sink_(std::make_shared<Sink>(this)) {}

  void Begin(std::unique_ptr<GenerationRequest> request) {
    auto handle = scheduler_->Submit(std::move(request), sink_);
    MutexLock lock(&sink_->mu_);
    if (!handle.ok()) {
      FinishLocked(ToGrpcStatus(handle.status()));
      return;
    }
    handle_ = *handle;
    submitted_ = true;
  }

  // REQUIRES: sink_->mu_ held (called from Sink::Push).
  void Deliver(GenerationUpdate update) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (finished_) return;
    if (!queue_.empty()) {
      Merge(queue_.back(), std::move(update));
    } else {
      queue_.push_back(std::move(update));
    }
    // The scheduler thread only queues: the write starts on the delivery
    // thread (see delivery_thread.h).
    if (!write_in_flight_ && !write_posted_) {
      write_posted_ = true;
      sink_->Post(delivery_, &StreamReactor::PostedWrite);
    }
  }

  // REQUIRES: sink_->mu_ held (called through Sink::Post).
  void PostedWrite() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    write_posted_ = false;
    if (!write_in_flight_) WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&sink_->mu_);
    write_in_flight_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                                "the client stopped reading"));
      CancelInScheduler();
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    MutexLock lock(&sink_->mu_);
    CancelInScheduler();
    FinishLocked(
        grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }

  void OnDone() override {
    sink_->Detach();
    delete this;
  }

 private:
  void CancelInScheduler() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (submitted_) scheduler_->Cancel(handle_);
    submitted_ = false;
  }

  // REQUIRES: sink_->mu_ held.
  void WriteNextLocked() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (finished_) return;
    if (queue_.empty()) {
      if (final_sent_) FinishLocked(grpc::Status::OK);
      return;
    }
    GenerationUpdate u = std::move(queue_.front());
    queue_.pop_front();
    if (!u.error.ok() && u.tokens.empty() && u.text.empty()) {
      FinishLocked(ToGrpcStatus(u.error));
      return;
    }
    msg_.Clear();
    msg_.set_request_id(request_id_);
    msg_.set_index(index_++);
    AppendTokens(u, *tokenizer_, msg_.mutable_tokens());
    msg_.set_text(u.text);
    if (u.first) msg_.set_prompt_tokens(u.prompt_tokens);
    if (u.final) {
      ToProto(*u.final, msg_.mutable_final());
      final_sent_ = true;
    }
    if (!u.error.ok()) {  // tokens first, then end with the error
      GenerationUpdate end;
      end.error = u.error;
      queue_.push_front(std::move(end));
    }
    write_in_flight_ = true;
    StartWrite(&msg_);
  }

  // REQUIRES: sink_->mu_ held.
  void FinishLocked(const grpc::Status& status) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  std::string request_id_;
  Scheduler* scheduler_;
  const engine::Tokenizer* tokenizer_;
  DeliveryThread* delivery_;
  std::shared_ptr<Sink> sink_;
  RequestHandle handle_ = 0;
  bool submitted_ = false;
  std::deque<GenerationUpdate> queue_;
  bool write_in_flight_ = false;
  bool write_posted_ = false;
  bool final_sent_ = false;
  bool finished_ = false;
  uint32_t index_ = 0;
  v1::GenerateStreamResponse msg_;
};

class UnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  using Sink = ReactorSink<UnaryReactor>;

  UnaryReactor(const GenerationRequest& request, v1::GenerateResponse* response,
               Scheduler* scheduler, const engine::Tokenizer* tokenizer,
               DeliveryThread* delivery)
      : response_(response),
        scheduler_(scheduler),
        tokenizer_(tokenizer),
        delivery_(delivery),
        sink_(std::make_shared<Sink>(this)) {
    response_->set_request_id(request.request_id);
  }

  void Begin(std::unique_ptr<GenerationRequest> request, bool want_tokens) {
    want_tokens_ = want_tokens;
    auto handle = scheduler_->Submit(std::move(request), sink_);
    MutexLock lock(&sink_->mu_);
    if (!handle.ok()) {
      FinishOnce(ToGrpcStatus(handle.status()));
      return;
    }
    handle_ = *handle;
    submitted_ = true;
  }

  // REQUIRES: sink_->mu_ held (called from Sink::Push).
  void Deliver(GenerationUpdate u) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (finished_ || posted_status_) return;
    if (!u.error.ok()) {
      PostFinish(ToGrpcStatus(u.error));
      return;
    }
    for (const auto& t : u.tokens) response_->add_token_ids(t.id);
    if (want_tokens_) AppendTokens(u, *tokenizer_, response_->mutable_tokens());
    response_->mutable_text()->append(u.text);
    if (u.final) {
      ToProto(*u.final, response_->mutable_final());
      PostFinish(grpc::Status::OK);
    }
  }

  // REQUIRES: sink_->mu_ held (called through Sink::Post).
  void PostedFinish() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    FinishOnce(*posted_status_);
  }

  void OnCancel() override {
    MutexLock lock(&sink_->mu_);
    if (submitted_) scheduler_->Cancel(handle_);
    FinishOnce(
        grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
  }

  void OnDone() override {
    sink_->Detach();
    delete this;
  }

 private:
  void FinishOnce(const grpc::Status& s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }

  // REQUIRES: sink_->mu_ held. Finishes on the delivery thread, as the stream
  // writes (delivery_thread.h); no update is taken after it.
  void PostFinish(const grpc::Status& s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    posted_status_ = s;
    sink_->Post(delivery_, &UnaryReactor::PostedFinish);
  }

  v1::GenerateResponse* response_;
  Scheduler* scheduler_;
  const engine::Tokenizer* tokenizer_;
  DeliveryThread* delivery_;
  std::shared_ptr<Sink> sink_;
  RequestHandle handle_ = 0;
  bool submitted_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> posted_status_;  // set once Finish is posted
  bool want_tokens_ = false;
};

}  // namespace

void ToProto(const FinalInfo& f, v1::Final* out) {
  out->set_finish_reason(ToProto(f.reason));
  if (f.matched_stop_sequence) out->set_stop_sequence(*f.matched_stop_sequence);
  if (f.matched_stop_token) out->set_stop_token_id(*f.matched_stop_token);
  out->mutable_usage()->set_prompt_tokens(f.prompt_tokens);
  out->mutable_usage()->set_completion_tokens(f.completion_tokens);
  out->set_seed(f.seed);
  auto* t = out->mutable_timing();
  t->set_queue_ms(Ms(f.queue_time));
  t->set_time_to_first_token_ms(Ms(f.time_to_first_token));
  t->set_decode_ms(Ms(f.decode_time));
  t->set_total_ms(Ms(f.total_time));
}

void AppendTokens(const GenerationUpdate& u, const engine::Tokenizer& tokenizer,
                  google::protobuf::RepeatedPtrField<v1::Token>* out) {
  for (const TokenEvent& e : u.tokens) {
    v1::Token* t = out->Add();
    t->set_id(e.id);
    t->set_text(e.text);
    t->set_logprob(e.logprob);
    t->set_special(e.special);
    for (const auto& [id, lp] : e.top) {
      v1::TopLogprob* tl = t->add_top_logprobs();
      tl->set_id(id);
      tl->set_text(engine::SanitizeUtf8(tokenizer.TokenBytes(id)));
      tl->set_logprob(lp);
    }
  }
}

grpc::ServerWriteReactor<v1::GenerateStreamResponse>* StartGenerateStream(
    std::unique_ptr<GenerationRequest> request, Scheduler* scheduler,
    const engine::Tokenizer* tokenizer, DeliveryThread* delivery) {
  auto* reactor = new StreamReactor(*request, scheduler, tokenizer, delivery);
  reactor->Begin(std::move(request));
  return reactor;
}

grpc::ServerUnaryReactor* StartGenerateUnary(
    std::unique_ptr<GenerationRequest> request, v1::GenerateResponse* response,
    Scheduler* scheduler, const engine::Tokenizer* tokenizer,
    DeliveryThread* delivery) {
  auto* reactor =
      new UnaryReactor(*request, response, scheduler, tokenizer, delivery);
  const bool want_tokens = request->logprobs;
  reactor->Begin(std::move(request), want_tokens);
  return reactor;
}

}  // namespace terraserve::server
