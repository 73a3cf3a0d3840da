// DeliveryThread: one thread of its own that runs posted tasks in order
// (server/grpc layer).
//
// Why: a gRPC write started on the scheduler thread ran the whole write path
// there — serialising, the loopback send, waking the client's and gRPC's
// threads — 0.23-0.37 ms per streamed token on the 2-vCPU test machine, time
// the next engine step waited for. Posting the write here costs the scheduler
// one queue push and one wake-up.
//
// Bounded: the reactors keep at most one task posted per call at a time, so
// the queue never holds more tasks than there are live calls, which the
// scheduler's admission limits bound.
//
// Thread-safety: Post may be called from any thread, including from a task.
// The destructor runs every task already posted, then joins the thread; no
// Post may race with the destructor.
#ifndef TERRASERVE_SERVER_GRPC_DELIVERY_THREAD_H_
#define TERRASERVE_SERVER_GRPC_DELIVERY_THREAD_H_

#include <deque>
#include <functional>
#include <thread>

#include "engine/base/mutex.h"

namespace terraserve::server {

class DeliveryThread {
 public:
  DeliveryThread();
  ~DeliveryThread();
  DeliveryThread(const DeliveryThread&) = delete;
  DeliveryThread& operator=(const DeliveryThread&) = delete;

  // Queues `task` to run on the delivery thread after the tasks before it.
  void Post(std::function<void()> task);

 private:
  void Loop();

  Mutex mu_;
  CondVar posted_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_GRPC_DELIVERY_THREAD_H_
