// Mutex, MutexLock and CondVar over the C++ standard library (base layer,
// shared by engine and server).
//
// Why not absl::Mutex: Debian ships libabsl built without ThreadSanitizer, so
// TSan cannot see absl::Mutex's happens-before edges and reports every access
// it guards as a race. std::mutex goes through pthread, which TSan intercepts,
// so the TSan preset checks our real locking. The clang thread-safety
// annotations (ABSL_GUARDED_BY etc.) work on these types as on absl's.
//
// Thread-safety: Mutex and CondVar are thread-safe, MutexLock is a scoped
// object of one thread.
#ifndef TERRASERVE_ENGINE_BASE_MUTEX_H_
#define TERRASERVE_ENGINE_BASE_MUTEX_H_

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace terraserve {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// Waits release `mu` while blocked and hold it again on return; callers loop
// on their own predicate (wake-ups may be spurious).
class CondVar {
 public:
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Returns true if `deadline` (real time) passed.
  bool WaitWithDeadline(Mutex* mu, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool timeout = cv_.wait_until(lock, absl::ToChronoTime(deadline)) ==
                         std::cv_status::timeout;
    lock.release();
    return timeout;
  }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace terraserve

#endif  // TERRASERVE_ENGINE_BASE_MUTEX_H_
