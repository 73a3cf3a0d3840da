// ThreadsScope: sets omp_get_max_threads() for a test's lifetime, so the
// engine's thread team (engine/base/thread_team.h) has `n` threads even on a
// one-CPU machine, and a region really splits. Restores the old count.
#ifndef TERRASERVE_TESTS_TESTING_THREADS_SCOPE_H_
#define TERRASERVE_TESTS_TESTING_THREADS_SCOPE_H_

#include <omp.h>

namespace terraserve::testing {

class ThreadsScope {
 public:
  explicit ThreadsScope(int n) : saved_(omp_get_max_threads()) {
    omp_set_num_threads(n);
  }
  ~ThreadsScope() { omp_set_num_threads(saved_); }
  ThreadsScope(const ThreadsScope&) = delete;
  ThreadsScope& operator=(const ThreadsScope&) = delete;

 private:
  const int saved_;
};

}  // namespace terraserve::testing

#endif  // TERRASERVE_TESTS_TESTING_THREADS_SCOPE_H_
