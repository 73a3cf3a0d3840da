// Continuous-batching scheduler (server/scheduler layer).
//
// One thread owns the Engine and every sequence. Each iteration it takes new
// requests and cancellations from a bounded inbox, drops sequences whose client
// went away or whose deadline passed, admits waiting requests in arrival order
// while KV blocks and the running limit allow, plans one batch (decodes first,
// then chunked prefill, within max_batch_tokens), runs one Engine::Step,
// samples per sequence, pushes updates to each request's ResponseSink and
// retires finished sequences, returning their KV blocks at once.
//
// Admission reserves KV blocks for prompt + max_new_tokens up front, so a
// running sequence can never run out of cache and nothing is ever preempted
// (TGI-style; it trades peak concurrency for never redoing work).
//
// Thread-safety: Submit, Cancel, Load and Stop are thread-safe and never block
// on the engine. RunOneStep is for tests that drive the scheduler without its
// thread.
#ifndef TERRASERVE_SERVER_SCHEDULER_SCHEDULER_H_
#define TERRASERVE_SERVER_SCHEDULER_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "engine/base/clock.h"
#include "engine/base/mutex.h"
#include "engine/engine.h"
#include "server/scheduler/batch_planner.h"
#include "server/scheduler/generation_request.h"
#include "server/scheduler/scheduler_observer.h"
#include "server/scheduler/sequence.h"

namespace terraserve::server {

struct SchedulerOptions {
  // Requests waiting for admission beyond the free running slots; more are
  // refused with RESOURCE_EXHAUSTED. (The KV cache may still keep admitted-
  // by-count requests waiting, so at most this plus max_running_sequences
  // wait.)
  int max_queued_requests = 256;
  // Sequences decoding or prefilling at once.
  int max_running_sequences = 64;
  // Tokens one engine step may process (decodes + prefill chunks).
  int max_batch_tokens = 512;
  // Largest prompt chunk one sequence prefills per step; smaller keeps decodes
  // of other sequences flowing while a long prompt is read.
  int prefill_chunk_tokens = 256;

  absl::Status Validate() const;
};

using RequestHandle = uint64_t;

class Scheduler {
 public:
  // `engine`, `observer` and `clock` must outlive the scheduler; observer may
  // be null. `clock` times deadlines, queue time and token latencies.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(
      engine::Engine* engine, const SchedulerOptions& options,
      SchedulerObserver* observer, Clock* clock = Clock::Real());
  ~Scheduler();  // Stop()s

  // Starts the scheduler thread.
  void Start();
  // Queues a request. RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE
  // when stopping, INVALID_ARGUMENT if prompt + max_new_tokens can never fit
  // the KV cache. On success the sink receives updates until a final or error
  // update.
  absl::StatusOr<RequestHandle> Submit(
      std::unique_ptr<GenerationRequest> request,
      std::shared_ptr<ResponseSink> sink);
  // The request ends with CANCELLED at the next step. Unknown handles are
  // ignored.
  void Cancel(RequestHandle handle);
  // Waits until nothing is queued or running, or until `deadline`; then fails
  // whatever is left with UNAVAILABLE and stops the thread. New submissions are
  // refused at once. `deadline` is wall time (it bounds a real wait).
  void Stop(absl::Time deadline = absl::Now());

  // One iteration; returns false when there was nothing to do. Tests only, when
  // the thread is not started.
  bool RunOneStep();

  LoadReport Load() const;
  const engine::Engine& engine() const { return *engine_; }

 private:
  struct Pending {
    RequestHandle handle;
    std::unique_ptr<GenerationRequest> request;
    std::shared_ptr<ResponseSink> sink;
  };

  Scheduler(engine::Engine* engine, const SchedulerOptions& options,
            SchedulerObserver* observer, Clock* clock);
  void Loop();
  void DrainInbox();
  void DropCancelledAndExpired(absl::Time now);
  void Admit(absl::Time now);
  void RunStep();
  void Fail(Sequence& seq, const absl::Status& status);
  void FailPending(Pending& p, const absl::Status& status);
  void Retire();
  void PublishLoad();
  bool Idle() const;

  engine::Engine* engine_;
  const SchedulerOptions options_;
  SchedulerObserver* observer_;
  SchedulerObserver null_observer_;
  Clock* const clock_;

  mutable Mutex mu_;
  // Signalled when the inbox, cancels, in_flight_ or stop_now_ change.
  CondVar changed_;
  std::deque<Pending> inbox_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<RequestHandle> cancels_ ABSL_GUARDED_BY(mu_);
  int queued_ ABSL_GUARDED_BY(mu_) = 0;  // inbox + waiting
  int in_flight_ ABSL_GUARDED_BY(mu_) =
      0;  // queued + running: Stop waits for 0
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_now_ ABSL_GUARDED_BY(mu_) = false;
  RequestHandle next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  LoadReport load_ ABSL_GUARDED_BY(mu_);

  // Scheduler-thread state.
  std::deque<Pending> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  std::vector<RequestHandle> running_handles_;
  std::thread thread_;
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_SCHEDULER_SCHEDULER_H_
