#include "server/grpc/delivery_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/base/mutex.h"

namespace terraserve::server {
namespace {

TEST(DeliveryThreadTest, RunsTasksInOrderOnAThreadOfItsOwn) {
  Mutex mu;
  std::vector<int> order;
  std::vector<std::thread::id> ran_on;
  {
    DeliveryThread delivery;
    for (int i = 0; i < 100; ++i) {
      delivery.Post([&, i] {
        MutexLock lock(&mu);
        order.push_back(i);
        ran_on.push_back(std::this_thread::get_id());
      });
    }
  }  // the destructor runs what was posted, then joins
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  for (const auto& id : ran_on) {
    EXPECT_NE(id, std::this_thread::get_id());
    EXPECT_EQ(id, ran_on.front());
  }
}

TEST(DeliveryThreadTest, ATaskMayPostAnother) {
  std::atomic<int> ran{0};
  {
    DeliveryThread delivery;
    delivery.Post([&] {
      ++ran;
      delivery.Post([&] { ++ran; });
    });
    // Wait for the inner task to be posted before destruction begins, since
    // Post may not race with the destructor.
    while (ran.load() == 0) std::this_thread::yield();
  }
  EXPECT_EQ(ran.load(), 2);
}

TEST(DeliveryThreadTest, PostFromManyThreadsLosesNothing) {
  std::atomic<int> ran{0};
  {
    DeliveryThread delivery;
    std::vector<std::thread> posters;
    for (int t = 0; t < 4; ++t) {
      posters.emplace_back([&] {
        for (int i = 0; i < 250; ++i) delivery.Post([&] { ++ran; });
      });
    }
    for (auto& p : posters) p.join();
  }
  EXPECT_EQ(ran.load(), 1000);
}

}  // namespace
}  // namespace terraserve::server
