#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/logging.h"

namespace terraserve::server {

absl::Status SchedulerOptions::Validate() const {
  auto bad = [](const char* flag, int v, const char* rule) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be ", rule, ", got ", v));
  };
  if (max_queued_requests < 0)
    return bad("max_queued_requests", max_queued_requests, ">= 0");
  if (max_running_sequences < 1)
    return bad("max_running_sequences", max_running_sequences, ">= 1");
  if (max_batch_tokens < 1)
    return bad("max_batch_tokens", max_batch_tokens, ">= 1");
  if (prefill_chunk_tokens < 1)
    return bad("prefill_chunk_tokens", prefill_chunk_tokens, ">= 1");
  if (max_batch_tokens < max_running_sequences) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_batch_tokens (", max_batch_tokens,
        ") must be at least --max_running_sequences (", max_running_sequences,
        ") so every running sequence can decode each step"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(
    engine::Engine* engine, const SchedulerOptions& options,
    SchedulerObserver* observer, Clock* clock) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return std::unique_ptr<Scheduler>(
      new Scheduler(engine, options, observer, clock));
}

Scheduler::Scheduler(engine::Engine* engine, const SchedulerOptions& options,
                     SchedulerObserver* observer, Clock* clock)
    : engine_(engine),
      options_(options),
      observer_(observer ? observer : &null_observer_),
      clock_(clock) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

absl::StatusOr<RequestHandle> Scheduler::Submit(
    std::unique_ptr<GenerationRequest> request,
    std::shared_ptr<ResponseSink> sink) {
  const int64_t positions =
      int64_t(request->prompt.size()) + request->max_new_tokens;
  const int64_t blocks = engine_->BlocksFor(positions);
  if (blocks > engine_->model_info().kv_total_blocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt + max_new_tokens = ", positions,
                     " positions exceed the KV cache (",
                     int64_t(engine_->model_info().kv_total_blocks) *
                         engine_->model_info().kv_block_size,
                     " positions)"));
  }
  MutexLock lock(&mu_);
  if (stopping_)
    return absl::UnavailableError(
        "server is draining; retry on another replica");
  // Requests the next step will admit (free running slots) do not count
  // against the queue: a burst that fits is never refused for arriving before
  // the scheduler thread has picked up its predecessors.
  const int running = in_flight_ - queued_;
  const int free_slots = std::max(0, options_.max_running_sequences - running);
  if (queued_ >= options_.max_queued_requests + free_slots) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request queue is full (", options_.max_queued_requests,
                     " waiting); retry later"));
  }
  const RequestHandle handle = next_handle_++;
  inbox_.push_back({handle, std::move(request), std::move(sink)});
  ++queued_;
  ++in_flight_;
  changed_.SignalAll();
  return handle;
}

void Scheduler::Cancel(RequestHandle handle) {
  MutexLock lock(&mu_);
  cancels_.insert(handle);
  changed_.SignalAll();
}

bool Scheduler::Idle() const { return running_.empty() && waiting_.empty(); }

void Scheduler::Loop() {
  while (true) {
    {
      MutexLock lock(&mu_);
      if (Idle()) {
        // Nothing running: sleep until there is something to do (never poll).
        while (inbox_.empty() && cancels_.empty() && !stop_now_)
          changed_.Wait(&mu_);
      }
      if (stop_now_) break;
    }
    RunOneStep();
  }
  DrainInbox();
  for (auto& p : waiting_)
    FailPending(p, absl::UnavailableError("server shut down"));
  waiting_.clear();
  for (auto& seq : running_)
    Fail(*seq, absl::UnavailableError(
                   "server shut down before the request finished"));
  Retire();
  PublishLoad();
}

void Scheduler::Stop(absl::Time deadline) {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    if (thread_.joinable()) {
      while (in_flight_ > 0 && !changed_.WaitWithDeadline(&mu_, deadline)) {
      }
    }
    stop_now_ = true;
    changed_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void Scheduler::DrainInbox() {
  absl::flat_hash_set<RequestHandle> cancels;
  {
    MutexLock lock(&mu_);
    for (auto& p : inbox_) waiting_.push_back(std::move(p));
    inbox_.clear();
    cancels.swap(cancels_);
  }
  if (cancels.empty()) return;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (cancels.count(it->handle)) {
      FailPending(*it, absl::CancelledError("cancelled by the client"));
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  for (size_t i = 0; i < running_.size(); ++i) {
    if (cancels.count(running_handles_[i]) && !running_[i]->done()) {
      Fail(*running_[i], absl::CancelledError("cancelled by the client"));
    }
  }
}

void Scheduler::FailPending(Pending& p, const absl::Status& status) {
  GenerationUpdate u;
  u.error = status;
  p.sink->Push(std::move(u));
  observer_->OnFailed(*p.request, status, 0);
  MutexLock lock(&mu_);
  --queued_;
  --in_flight_;
  changed_.SignalAll();
}

void Scheduler::Fail(Sequence& seq, const absl::Status& status) {
  GenerationUpdate u;
  u.error = status;
  seq.sink().Push(std::move(u));
  observer_->OnFailed(seq.request(), status, seq.generated());
  seq.MarkDropped();
}

void Scheduler::DropCancelledAndExpired(absl::Time now) {
  auto reason = [now](const GenerationRequest& r, const ResponseSink& sink) {
    if (sink.closed()) return absl::CancelledError("the client went away");
    if (now >= r.deadline)
      return absl::DeadlineExceededError("deadline exceeded");
    return absl::OkStatus();
  };
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    absl::Status s = reason(*it->request, *it->sink);
    if (!s.ok()) {
      FailPending(*it, s);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& seq : running_) {
    if (seq->done()) continue;
    absl::Status s = reason(seq->request(), seq->sink());
    if (!s.ok()) Fail(*seq, s);
  }
}

void Scheduler::Admit(absl::Time now) {
  while (!waiting_.empty() &&
         static_cast<int>(running_.size()) < options_.max_running_sequences) {
    Pending& p = waiting_.front();
    const int64_t positions =
        int64_t(p.request->prompt.size()) + p.request->max_new_tokens;
    absl::Status s = engine_->AddSequence(
        static_cast<engine::SequenceId>(p.handle), positions);
    if (absl::IsResourceExhausted(s))
      break;  // wait for blocks; keep arrival order
    if (s.ok() && p.request->source_tokens > 0) {
      const auto& prompt = p.request->prompt;
      s = engine_->Encode(
          static_cast<engine::SequenceId>(p.handle),
          {prompt.begin(), prompt.begin() + p.request->source_tokens});
      if (!s.ok())
        engine_->RemoveSequence(static_cast<engine::SequenceId>(p.handle));
    }
    if (!s.ok()) {
      FailPending(p, s);
      waiting_.pop_front();
      continue;
    }
    auto seq = std::make_unique<Sequence>(
        static_cast<engine::SequenceId>(p.handle), std::move(p.request),
        std::move(p.sink), &engine_->tokenizer(),
        engine_->model_info().config.eos_id);
    seq->MarkAdmitted(now);
    observer_->OnAdmitted(now - seq->request().arrival);
    running_handles_.push_back(p.handle);
    running_.push_back(std::move(seq));
    waiting_.pop_front();
    MutexLock lock(&mu_);
    --queued_;
  }
}

void Scheduler::RunStep() {
  std::vector<PlanRequest> plan_in;
  std::vector<Sequence*> live;
  for (auto& seq : running_) {
    if (seq->done()) continue;
    live.push_back(seq.get());
    plan_in.push_back({seq->prefilling(), seq->remaining_prompt()});
  }
  if (live.empty()) return;
  std::vector<int> plan = PlanBatch(
      plan_in, {options_.max_batch_tokens, options_.prefill_chunk_tokens});
  engine::StepInput input;
  std::vector<Sequence*> item_seq;
  for (size_t i = 0; i < live.size(); ++i) {
    if (plan[i] == 0) continue;
    std::vector<int32_t> tokens = live[i]->NextInput(plan[i]);
    input.items.push_back(
        {live[i]->id(), std::move(tokens), live[i]->ExpectsLogits()});
    item_seq.push_back(live[i]);
  }
  auto out = engine_->Step(input);
  if (!out.ok()) {
    TS_LOG(Error) << "engine step failed: " << out.status();
    for (Sequence* s : item_seq)
      Fail(*s, absl::InternalError(
                   absl::StrCat("engine failure: ", out.status().message())));
    return;
  }
  observer_->OnStep({out->stats.sequences, out->stats.prefill_tokens,
                     out->stats.decode_tokens, out->stats.duration});
  const int V = engine_->model_info().config.vocab_size;
  const absl::Time done = clock_->Now();
  for (size_t r = 0; r < out->logit_items.size(); ++r) {
    Sequence* seq = item_seq[out->logit_items[r]];
    std::optional<absl::Time> previous = seq->last_token_time();
    GenerationUpdate u = seq->Advance(out->logits.data() + r * V, V, done);
    if (previous) {
      observer_->OnInterTokenLatency(done - *previous);
    } else {
      observer_->OnFirstToken(done - seq->request().arrival);
    }
    const bool finished = u.final.has_value();
    seq->sink().Push(std::move(u));
    if (finished) observer_->OnFinished(seq->request(), *seq->final());
  }
}

void Scheduler::Retire() {
  size_t w = 0;
  int retired = 0;
  for (size_t i = 0; i < running_.size(); ++i) {
    if (running_[i]->done()) {
      engine_->RemoveSequence(
          running_[i]->id());  // blocks go back to the pool now
      ++retired;
      continue;
    }
    running_[w] = std::move(running_[i]);
    running_handles_[w] = running_handles_[i];
    ++w;
  }
  running_.resize(w);
  running_handles_.resize(w);
  if (retired > 0) {
    MutexLock lock(&mu_);
    in_flight_ -= retired;
    changed_.SignalAll();
  }
}

void Scheduler::PublishLoad() {
  LoadReport load;
  load.running = static_cast<int>(running_.size());
  const int total = engine_->model_info().kv_total_blocks;
  load.kv_usage =
      total > 0 ? 1.0 - double(engine_->free_kv_blocks()) / total : 0;
  {
    MutexLock lock(&mu_);
    load.waiting = queued_;
    load_ = load;
  }
  observer_->OnLoad(load);
}

LoadReport Scheduler::Load() const {
  MutexLock lock(&mu_);
  return load_;
}

bool Scheduler::RunOneStep() {
  DrainInbox();
  const absl::Time now = clock_->Now();
  DropCancelledAndExpired(now);
  Retire();
  Admit(now);
  const bool work = !running_.empty();
  RunStep();
  Retire();
  PublishLoad();
  return work;
}

}  // namespace terraserve::server
