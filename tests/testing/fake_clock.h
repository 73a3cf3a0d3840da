// FakeClock: a Clock that moves only when a test advances it, so timing
// behaviour (deadlines, queue time, latencies) is tested without sleeping.
// Thread-safe.
#ifndef TERRASERVE_TESTS_TESTING_FAKE_CLOCK_H_
#define TERRASERVE_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/time/time.h"
#include "engine/base/clock.h"
#include "engine/base/mutex.h"

namespace terraserve::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'000'000))
      : now_(start) {}

  absl::Time Now() const override {
    MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace terraserve::testing

#endif  // TERRASERVE_TESTS_TESTING_FAKE_CLOCK_H_
