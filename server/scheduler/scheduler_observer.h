// What the scheduler reports for metrics and logs (server/scheduler layer). The
// scheduler calls these from its own thread; implementations must be cheap (a
// counter increment or histogram observation) and must not call back into the
// scheduler. No Prometheus types here: server/metrics implements this
// interface.
#ifndef TERRASERVE_SERVER_SCHEDULER_SCHEDULER_OBSERVER_H_
#define TERRASERVE_SERVER_SCHEDULER_SCHEDULER_OBSERVER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/scheduler/generation_request.h"

namespace terraserve::server {

struct StepReport {
  int sequences = 0;
  int prefill_tokens = 0;
  int decode_tokens = 0;
  absl::Duration duration;
};

struct LoadReport {
  int running = 0;
  int waiting = 0;
  double kv_usage = 0;  // fraction of KV blocks in use, 0..1
};

class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  virtual void OnAdmitted(absl::Duration /*queue_time*/) {}
  virtual void OnFirstToken(absl::Duration /*time_to_first_token*/) {}
  virtual void OnInterTokenLatency(absl::Duration /*latency*/) {}
  virtual void OnStep(const StepReport& /*step*/) {}
  virtual void OnLoad(const LoadReport& /*load*/) {}
  // A request that produced its Final message.
  virtual void OnFinished(const GenerationRequest& /*request*/,
                          const FinalInfo& /*final*/) {}
  // A request that ended with an error status (cancelled, deadline, internal,
  // ...).
  virtual void OnFailed(const GenerationRequest& /*request*/,
                        const absl::Status& /*status*/,
                        int /*completion_tokens*/) {}
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_SCHEDULER_SCHEDULER_OBSERVER_H_
