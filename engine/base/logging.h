// Minimal leveled logging to stderr, one line per message.
// Abseil 20220623 has no absl/log; this stands in until it does. Thread-safe:
// each message is written with a single write() so lines from different threads
// never mix.
#ifndef TERRASERVE_ENGINE_BASE_LOGGING_H_
#define TERRASERVE_ENGINE_BASE_LOGGING_H_

#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace terraserve {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below this level are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();
// Parses "debug", "info", "warning" or "error".
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

namespace internal {

// Collects one message and writes it, with time and level, when destroyed.
class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Aborts the process after writing the message: for broken invariants only,
// never for user input or configuration.
class FatalMessage {
 public:
  FatalMessage(const char* file, int line, const char* condition);
  [[noreturn]] ~FatalMessage();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace internal
}  // namespace terraserve

#define TS_LOG(level)                                                    \
  if (::terraserve::LogLevel::k##level < ::terraserve::MinLogLevel()) {  \
  } else                                                                 \
    ::terraserve::internal::LogMessage(::terraserve::LogLevel::k##level, \
                                       __FILE__, __LINE__)               \
        .stream()

// Programmer-error check, on in every build type.
#define TS_CHECK(cond) \
  if (cond) {          \
  } else               \
    ::terraserve::internal::FatalMessage(__FILE__, __LINE__, #cond).stream()

#endif  // TERRASERVE_ENGINE_BASE_LOGGING_H_
