#include "server/grpc/delivery_thread.h"

#include <utility>

namespace terraserve::server {

DeliveryThread::DeliveryThread() : thread_([this] { Loop(); }) {}

DeliveryThread::~DeliveryThread() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  posted_.SignalAll();
  thread_.join();
}

void DeliveryThread::Post(std::function<void()> task) {
  {
    MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }
  posted_.SignalAll();
}

void DeliveryThread::Loop() {
  while (true) {
    std::function<void()> task;
    {
      MutexLock lock(&mu_);
      while (tasks_.empty() && !stopping_) posted_.Wait(&mu_);
      if (tasks_.empty()) return;  // stopping, with every task run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();  // unlocked: a task takes a reactor's lock and may Post
  }
}

}  // namespace terraserve::server
