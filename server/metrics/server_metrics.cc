#include "server/metrics/server_metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "engine/base/logging.h"
#include "engine/base/mutex.h"
#include "server/grpc/status_util.h"

namespace terraserve::server {
namespace {

using prometheus::Histogram;

// Latency buckets for CPU serving: 1 ms up to 2 minutes.
const Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2,
      0.3,   0.5,    0.75,  1,    2.5,  5,    10,   20,   40,  80,   120};
  return *b;
}

const Histogram::BucketBoundaries& TokenBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
  return *b;
}

// Failure reason of a generation call by its status code; empty = not a
// failure.
const char* FailureReason(int code) {
  switch (code) {
    case 0:
      return "";
    case 1:
      return "cancelled";
    case 3:
    case 11:
      return "invalid";
    case 4:
      return "deadline";
    case 8:
      return "overloaded";
    case 14:
      return "unavailable";
    default:
      return "internal";
  }
}

// process_resident_memory_bytes, process_virtual_memory_bytes and
// process_cpu_seconds_total from /proc/self, read at scrape time.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    long pages_total = 0, pages_resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2)
        pages_total = 0;
      std::fclose(f);
    }
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    double cpu = 0;
    std::ifstream stat("/proc/self/stat");
    std::string line;
    if (std::getline(stat, line)) {
      // Fields after the ")" of the command name; utime and stime are 14
      // and 15.
      std::istringstream rest(line.substr(line.rfind(')') + 2));
      std::string field;
      unsigned long long utime = 0, stime = 0;
      for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
      }
      cpu = double(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
    return {
        Family("process_resident_memory_bytes",
               "Resident memory size in bytes.", prometheus::MetricType::Gauge,
               pages_resident * page),
        Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
               prometheus::MetricType::Gauge, pages_total * page),
        Family("process_cpu_seconds_total",
               "User and system CPU time in seconds.",
               prometheus::MetricType::Counter, cpu)};
  }

 private:
  static prometheus::MetricFamily Family(const char* name, const char* help,
                                         prometheus::MetricType type,
                                         double value) {
    prometheus::MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    prometheus::ClientMetric m;
    if (type == prometheus::MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    f.metric.push_back(m);
    return f;
  }
};

}  // namespace

struct ServerMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry =
      std::make_shared<prometheus::Registry>();
  std::shared_ptr<ProcessCollector> process =
      std::make_shared<ProcessCollector>();

  prometheus::Family<prometheus::Gauge>& info_family =
      prometheus::BuildGauge()
          .Name("terraserve_info")
          .Help("Model and server description; value 1.")
          .Register(*registry);
  prometheus::Gauge& running = prometheus::BuildGauge()
                                   .Name("terraserve_num_requests_running")
                                   .Help("Requests admitted and generating.")
                                   .Register(*registry)
                                   .Add({});
  prometheus::Gauge& waiting = prometheus::BuildGauge()
                                   .Name("terraserve_num_requests_waiting")
                                   .Help("Requests queued for admission.")
                                   .Register(*registry)
                                   .Add({});
  prometheus::Gauge& kv_usage =
      prometheus::BuildGauge()
          .Name("terraserve_kv_cache_usage_ratio")
          .Help("Fraction of KV-cache blocks reserved, 0..1.")
          .Register(*registry)
          .Add({});
  prometheus::Counter& prompt_tokens =
      prometheus::BuildCounter()
          .Name("terraserve_prompt_tokens_total")
          .Help("Prompt tokens of finished requests.")
          .Register(*registry)
          .Add({});
  prometheus::Counter& generation_tokens =
      prometheus::BuildCounter()
          .Name("terraserve_generation_tokens_total")
          .Help("Tokens generated (finished and failed requests).")
          .Register(*registry)
          .Add({});
  prometheus::Family<prometheus::Counter>& success =
      prometheus::BuildCounter()
          .Name("terraserve_request_success_total")
          .Help("Finished requests by finish reason.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& failure =
      prometheus::BuildCounter()
          .Name("terraserve_request_failure_total")
          .Help("Failed generation calls by reason.")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& handled =
      prometheus::BuildCounter()
          .Name("terraserve_grpc_server_handled_total")
          .Help("gRPC calls completed, by method and code.")
          .Register(*registry);
  Histogram& ttft = Latency("terraserve_time_to_first_token_seconds",
                            "Arrival to first token.");
  Histogram& itl = Latency("terraserve_inter_token_latency_seconds",
                           "Time between tokens of a request.");
  Histogram& e2e = Latency("terraserve_e2e_request_latency_seconds",
                           "Arrival to final token.");
  Histogram& queue =
      Latency("terraserve_request_queue_time_seconds", "Arrival to admission.");
  Histogram& prefill = Latency("terraserve_request_prefill_time_seconds",
                               "Admission to first token.");
  Histogram& decode = Latency("terraserve_request_decode_time_seconds",
                              "First to final token.");
  Histogram& prompt_hist =
      Tokens("terraserve_request_prompt_tokens", "Prompt tokens per request.");
  Histogram& gen_hist = Tokens("terraserve_request_generation_tokens",
                               "Generated tokens per request.");
  Histogram& iteration_tokens =
      Tokens("terraserve_iteration_tokens", "Tokens per engine step.");
  Histogram& batch_size =
      Tokens("terraserve_batch_size", "Sequences per engine step.");
  prometheus::Family<Histogram>& step_family =
      prometheus::BuildHistogram()
          .Name("terraserve_iteration_duration_seconds")
          .Help("Engine step time by phase.")
          .Register(*registry);
  std::array<Histogram*, 3> step_by_phase{
      &step_family.Add({{"phase", "prefill"}}, LatencyBuckets()),
      &step_family.Add({{"phase", "decode"}}, LatencyBuckets()),
      &step_family.Add({{"phase", "mixed"}}, LatencyBuckets())};
  std::map<std::string, prometheus::Counter*> success_by_reason;

  // Children of labelled counters are looked up once per label set and cached.
  Mutex mu;
  std::map<std::pair<std::string, int>, prometheus::Counter*> handled_children
      ABSL_GUARDED_BY(mu);
  std::map<std::string, prometheus::Counter*> failure_children
      ABSL_GUARDED_BY(mu);

  Impl() {
    for (const char* r :
         {"length", "eos_token", "stop_sequence", "stop_token"}) {
      success_by_reason[r] = &success.Add({{"finished_reason", r}});
    }
    for (const char* r : {"invalid", "overloaded", "cancelled", "deadline",
                          "internal", "unavailable"}) {
      failure_children[r] = &failure.Add({{"reason", r}});
    }
  }

  Histogram& Latency(const char* name, const char* help) {
    return prometheus::BuildHistogram()
        .Name(name)
        .Help(help)
        .Register(*registry)
        .Add({}, LatencyBuckets());
  }
  Histogram& Tokens(const char* name, const char* help) {
    return prometheus::BuildHistogram()
        .Name(name)
        .Help(help)
        .Register(*registry)
        .Add({}, TokenBuckets());
  }
};

ServerMetrics::ServerMetrics(bool log_requests)
    : impl_(std::make_unique<Impl>()), log_requests_(log_requests) {}

ServerMetrics::~ServerMetrics() = default;

void ServerMetrics::RegisterWith(prometheus::Exposer& exposer) {
  exposer.RegisterCollectable(impl_->registry);
  exposer.RegisterCollectable(impl_->process);
}

void ServerMetrics::SetModelInfo(const std::string& model,
                                 const std::string& dtype, int block_size) {
  impl_->info_family
      .Add({{"version", TERRASERVE_VERSION},
            {"model", model},
            {"dtype", dtype},
            {"block_size", std::to_string(block_size)}})
      .Set(1);
}

void ServerMetrics::OnRpcDone(const std::string& method, int code) {
  const bool generation = method.find("/Generate") != std::string::npos;
  MutexLock lock(&impl_->mu);
  auto& child = impl_->handled_children[{method, code}];
  if (child == nullptr) {
    child = &impl_->handled.Add(
        {{"grpc_method", method}, {"grpc_code", GrpcCodeName(code)}});
  }
  child->Increment();
  const char* reason = FailureReason(code);
  if (generation && *reason) impl_->failure_children[reason]->Increment();
}

void ServerMetrics::OnAdmitted(absl::Duration queue_time) {
  impl_->queue.Observe(absl::ToDoubleSeconds(queue_time));
}

void ServerMetrics::OnFirstToken(absl::Duration ttft) {
  impl_->ttft.Observe(absl::ToDoubleSeconds(ttft));
}

void ServerMetrics::OnInterTokenLatency(absl::Duration latency) {
  impl_->itl.Observe(absl::ToDoubleSeconds(latency));
}

void ServerMetrics::OnStep(const StepReport& step) {
  impl_->iteration_tokens.Observe(step.prefill_tokens + step.decode_tokens);
  impl_->batch_size.Observe(step.sequences);
  const int phase = step.decode_tokens == 0    ? 0
                    : step.prefill_tokens == 0 ? 1
                                               : 2;
  impl_->step_by_phase[phase]->Observe(absl::ToDoubleSeconds(step.duration));
}

void ServerMetrics::OnLoad(const LoadReport& load) {
  impl_->running.Set(load.running);
  impl_->waiting.Set(load.waiting);
  impl_->kv_usage.Set(load.kv_usage);
}

void ServerMetrics::OnFinished(const GenerationRequest& request,
                               const FinalInfo& f) {
  impl_->prompt_tokens.Increment(f.prompt_tokens);
  impl_->generation_tokens.Increment(f.completion_tokens);
  impl_->success_by_reason[FinishReasonName(f.reason)]->Increment();
  impl_->e2e.Observe(absl::ToDoubleSeconds(f.total_time));
  impl_->prefill.Observe(
      absl::ToDoubleSeconds(f.time_to_first_token - f.queue_time));
  impl_->decode.Observe(absl::ToDoubleSeconds(f.decode_time));
  impl_->prompt_hist.Observe(f.prompt_tokens);
  impl_->gen_hist.Observe(f.completion_tokens);
  if (log_requests_) {
    TS_LOG(Info) << "request id=" << request.request_id
                 << " status=OK finish=" << FinishReasonName(f.reason)
                 << " prompt_tokens=" << f.prompt_tokens
                 << " generated_tokens=" << f.completion_tokens
                 << " queue_ms=" << absl::ToDoubleMilliseconds(f.queue_time)
                 << " ttft_ms="
                 << absl::ToDoubleMilliseconds(f.time_to_first_token)
                 << " total_ms=" << absl::ToDoubleMilliseconds(f.total_time);
  }
}

void ServerMetrics::OnFailed(const GenerationRequest& request,
                             const absl::Status& status,
                             int completion_tokens) {
  impl_->generation_tokens.Increment(completion_tokens);
  if (log_requests_) {
    TS_LOG(Info) << "request id=" << request.request_id
                 << " status=" << absl::StatusCodeToString(status.code())
                 << " prompt_tokens=" << request.prompt.size()
                 << " generated_tokens=" << completion_tokens << " total_ms="
                 << absl::ToDoubleMilliseconds(absl::Now() - request.arrival)
                 << " error=\"" << status.message() << "\"";
  }
}

}  // namespace terraserve::server
