// Clock: the source of "now" for code whose timing tests must control
// (base layer). The scheduler reads request deadlines, queue time, TTFT and
// inter-token latency through it, so its tests run on a FakeClock, with no
// sleeps. Thread-safety: implementations are thread-safe.
#ifndef TERRASERVE_ENGINE_BASE_CLOCK_H_
#define TERRASERVE_ENGINE_BASE_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace terraserve {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process-wide wall clock; never destroyed.
  static Clock* Real();
};

inline Clock* Clock::Real() {
  class RealClock final : public Clock {
   public:
    absl::Time Now() const override { return absl::Now(); }
  };
  static RealClock* const clock = new RealClock;
  return clock;
}

}  // namespace terraserve

#endif  // TERRASERVE_ENGINE_BASE_CLOCK_H_
