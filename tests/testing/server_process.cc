#include "tests/testing/server_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace terraserve::testing {
namespace {

std::string MakeTempDir() {
  std::string tmpl = "/tmp/terraserve-test-XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  return dir ? std::string(dir) : std::string("/tmp");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// fork + exec with stdout and stderr redirected to `log_path`.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Die with the test process, so a crashed or killed test leaves no server
  // behind.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

// Waits for `pid` up to `timeout`; returns the raw wait status or -1 on
// timeout.
int WaitFor(pid_t pid, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 || absl::Now() > end) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

int ExitCode(int wait_status) {
  if (wait_status >= 0 && WIFEXITED(wait_status))
    return WEXITSTATUS(wait_status);
  return -1;
}

}  // namespace

std::string TestModelDir() {
  const char* env = std::getenv("TERRASERVE_TEST_MODEL_DIR");
  return env ? env
             : std::string(TERRASERVE_SOURCE_DIR) + "/models/terraformer-tiny";
}

ProcessResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout) {
  std::string dir = MakeTempDir();
  std::string log = dir + "/out.log";
  pid_t pid = Spawn(argv, log);
  int status = WaitFor(pid, timeout);
  if (status < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  ProcessResult result{ExitCode(status), ReadFile(log)};
  unlink(log.c_str());
  rmdir(dir.c_str());
  return result;
}

absl::StatusOr<ProcessStats> ReadProcessStats(pid_t pid) {
  const std::string proc = absl::StrCat("/proc/", pid);
  std::ifstream status(proc + "/status");
  if (!status) return absl::NotFoundError(absl::StrCat("no ", proc));
  ProcessStats stats;
  std::string key;
  while (status >> key) {
    if (key == "Threads:") status >> stats.threads;
    if (key == "VmRSS:") {
      status >> stats.rss_bytes;
      stats.rss_bytes *= 1024;  // reported in kB
    }
    status.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  DIR* fds = opendir((proc + "/fd").c_str());
  if (fds == nullptr)
    return absl::NotFoundError(absl::StrCat("no ", proc, "/fd"));
  while (dirent* e = readdir(fds)) stats.open_fds += e->d_name[0] != '.';
  closedir(fds);
  return stats;
}

std::string ScrapeMetrics(int metrics_port) {
  ProcessResult r =
      RunCommand({"/usr/bin/curl", "-sf",
                  absl::StrCat("http://127.0.0.1:", metrics_port, "/metrics")},
                 absl::Seconds(20));
  return r.exit_code == 0 ? r.output : "";
}

double MetricSample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& extra_flags, absl::Duration timeout) {
  std::unique_ptr<ServerProcess> p(new ServerProcess());
  p->dir_ = MakeTempDir();
  std::string port_file = p->dir_ + "/port";
  std::vector<std::string> argv = {TERRASERVE_SERVER_BIN, "--host=127.0.0.1",
                                   "--port=0", "--metrics_port=0",
                                   "--port_file=" + port_file};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  p->pid_ = Spawn(argv, p->dir_ + "/server.log");
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    std::istringstream ports(ReadFile(port_file));
    if (ports >> p->grpc_port_) {
      ports >> p->metrics_port_;
      return p;
    }
    int status = 0;
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      return absl::InternalError(absl::StrCat(
          "server exited with code ", ExitCode(status), ": ", p->ReadLog()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("server did not start within ",
                   absl::FormatDuration(timeout), ": ", p->ReadLog()));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink((dir_ + "/port").c_str());
  unlink((dir_ + "/server.log").c_str());
  rmdir(dir_.c_str());
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", grpc_port_);
}

std::string ServerProcess::ReadLog() const {
  return ReadFile(dir_ + "/server.log");
}

int ServerProcess::StopWith(int signal, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = WaitFor(pid_, timeout);
  if (status < 0) return -1;
  pid_ = -1;
  return ExitCode(status);
}

}  // namespace terraserve::testing
