// Starts the real terraserve binary on 127.0.0.1 with free ports, for
// integration tests. Thread-compatible.
#ifndef TERRASERVE_TESTS_TESTING_SERVER_PROCESS_H_
#define TERRASERVE_TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace terraserve::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // stdout and stderr together
};

// The model integration tests serve: $TERRASERVE_TEST_MODEL_DIR, or the bundled
// one.
std::string TestModelDir();

// Runs a command to completion (bounded by `timeout`; killed after it).
// Use {"/bin/sh", "-c", "..."} for pipelines.
ProcessResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout);

// What /proc says of a process: for leak checks across fault injections.
struct ProcessStats {
  int threads = 0;
  int open_fds = 0;
  int64_t rss_bytes = 0;
};
absl::StatusOr<ProcessStats> ReadProcessStats(pid_t pid);

// The server's /metrics text (empty on failure), and the value of the sample
// whose name-and-labels text is exactly `series` (-1 when absent).
std::string ScrapeMetrics(int metrics_port);
double MetricSample(const std::string& text, const std::string& series);

class ServerProcess {
 public:
  // Starts `terraserve` with `extra_flags` plus --host=127.0.0.1 --port=0
  // --metrics_port=0, and waits until it reports its ports (once the model is
  // loaded).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& extra_flags,
      absl::Duration timeout = absl::Seconds(60));
  // Sends SIGKILL if still running.
  ~ServerProcess();

  pid_t pid() const { return pid_; }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const;
  // Everything the server wrote so far to stdout/stderr.
  std::string ReadLog() const;
  // Sends `signal` and waits up to `timeout` for exit; returns the exit code,
  // or -1 on a signal death or timeout.
  int StopWith(int signal, absl::Duration timeout);

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = -1;
  std::string dir_;
};

}  // namespace terraserve::testing

#endif  // TERRASERVE_TESTS_TESTING_SERVER_PROCESS_H_
