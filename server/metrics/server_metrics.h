// Prometheus metrics of a terraserve process (server/metrics layer). Metric
// names mirror vLLM's with the prefix terraserve_ (serving-anchors.md 2.6), so
// existing dashboards port with a find/replace.
//
// ServerMetrics is the SchedulerObserver (request and step histograms, load
// gauges) and also counts finished gRPC calls by method and code (OnRpcDone,
// from the interceptor in rpc_metrics_interceptor.h). Every family and every
// fixed-label child is built once in the constructor; observing is a histogram
// or counter update, nothing more. prometheus-cpp types stay in the .cc file.
//
// Thread-safety: all methods are thread-safe.
#ifndef TERRASERVE_SERVER_METRICS_SERVER_METRICS_H_
#define TERRASERVE_SERVER_METRICS_SERVER_METRICS_H_

#include <memory>
#include <string>

#include "server/scheduler/scheduler_observer.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace terraserve::server {

class ServerMetrics final : public SchedulerObserver {
 public:
  // log_requests: write one structured line per finished or failed request.
  explicit ServerMetrics(bool log_requests);
  ~ServerMetrics() override;

  // Serves this process's metrics on `exposer` (which must not outlive this
  // object).
  void RegisterWith(prometheus::Exposer& exposer);

  // terraserve_info{version, model, dtype, block_size} = 1.
  void SetModelInfo(const std::string& model, const std::string& dtype,
                    int block_size);
  // A finished gRPC call (any method). `code` is the numeric gRPC status code.
  void OnRpcDone(const std::string& method, int code);

  void OnAdmitted(absl::Duration queue_time) override;
  void OnFirstToken(absl::Duration time_to_first_token) override;
  void OnInterTokenLatency(absl::Duration latency) override;
  void OnStep(const StepReport& step) override;
  void OnLoad(const LoadReport& load) override;
  void OnFinished(const GenerationRequest& request,
                  const FinalInfo& final) override;
  void OnFailed(const GenerationRequest& request, const absl::Status& status,
                int completion_tokens) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool log_requests_;
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_METRICS_SERVER_METRICS_H_
