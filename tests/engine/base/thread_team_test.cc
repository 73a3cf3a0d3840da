#include "engine/base/thread_team.h"

#include <omp.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/threads_scope.h"

namespace terraserve::engine {
namespace {

using ::terraserve::testing::ThreadsScope;

TEST(ThreadTeamTest, RegionRunsEachThreadIndexOnce) {
  ThreadsScope threads(3);
  std::vector<std::atomic<int>> calls(3);
  int seen_n = 0;
  ParallelRegion(true, [&](int t, int n) {
    calls[t].fetch_add(1);
    if (t == 0) seen_n = n;
  });
  EXPECT_EQ(seen_n, 3);
  for (const auto& c : calls) EXPECT_EQ(c.load(), 1);
}

TEST(ThreadTeamTest, NotParallelRunsOnTheCaller) {
  ThreadsScope threads(2);
  const auto caller = std::this_thread::get_id();
  int calls = 0;
  ParallelRegion(false, [&](int t, int n) {
    EXPECT_EQ(t, 0);
    EXPECT_EQ(n, 1);
    EXPECT_EQ(std::this_thread::get_id(), caller);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadTeamTest, EveryScheduleCoversEachIndexOnce) {
  ThreadsScope threads(2);
  for (Schedule s :
       {Schedule::kStatic, Schedule::kDynamic, Schedule::kGuided}) {
    for (int64_t count : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
      ParallelFor(count, s, true, [&](int64_t begin, int64_t end) {
        ASSERT_LT(begin, end);
        for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
      });
      for (int64_t i = 0; i < count; ++i)
        EXPECT_EQ(hits[i].load(), 1) << "schedule " << int(s) << " i " << i;
    }
  }
}

TEST(ThreadTeamTest, RegionForPhasesCoverEachIndexOnce) {
  ThreadsScope threads(2);
  for (Schedule s :
       {Schedule::kStatic, Schedule::kDynamic, Schedule::kGuided}) {
    for (int64_t count : {0, 1, 3, 1000}) {
      std::vector<std::atomic<int>> first(static_cast<size_t>(count)),
          second(static_cast<size_t>(count));
      std::atomic<int64_t> next_first{0}, next_second{0};
      std::atomic<int> unfinished_seen{0};
      ParallelRegion(true, [&](int t, int n) {
        RegionFor(&next_first, count, s, t, n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) first[i].fetch_add(1);
        });
        TeamBarrier();
        // Every thread sees the whole first phase done after the barrier.
        for (int64_t i = 0; i < count; ++i)
          if (first[i].load() != 1) unfinished_seen.fetch_add(1);
        RegionFor(&next_second, count, s, t, n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) second[i].fetch_add(1);
        });
      });
      EXPECT_EQ(unfinished_seen.load(), 0) << "schedule " << int(s);
      for (int64_t i = 0; i < count; ++i)
        EXPECT_EQ(second[i].load(), 1) << "schedule " << int(s) << " i " << i;
    }
  }
}

TEST(ThreadTeamTest, GuidedChunksShrink) {
  ThreadsScope threads(2);
  std::vector<int64_t> sizes;
  // Not parallel: guided's first chunk for one thread is everything.
  ParallelFor(100, Schedule::kGuided, false, [&](int64_t begin, int64_t end) {
    sizes.push_back(end - begin);
  });
  ASSERT_EQ(sizes.size(), 1u);
  EXPECT_EQ(sizes[0], 100);
  std::atomic<int64_t> first{0};
  std::atomic<int> chunks{0};
  ParallelFor(100, Schedule::kGuided, true, [&](int64_t begin, int64_t end) {
    if (begin == 0) first = end;
    chunks.fetch_add(1);
  });
  EXPECT_EQ(first.load(), 50);  // ceil(100 / 2)
  EXPECT_GT(chunks.load(), 2);
}

TEST(ThreadTeamTest, BarrierOrdersThePhases) {
  ThreadsScope threads(3);
  for (int round = 0; round < 200; ++round) {
    std::vector<int> written(3, 0);
    std::vector<int> sums(3, 0);
    ParallelRegion(true, [&](int t, int n) {
      written[t] = round + t;
      TeamBarrier();
      int sum = 0;
      for (int u = 0; u < n; ++u) sum += written[u];
      sums[t] = sum;
      TeamBarrier();
      written[t] = -1;  // after every thread has read
    });
    for (int s : sums) ASSERT_EQ(s, 3 * round + 3);
  }
}

TEST(ThreadTeamTest, NestedRegionRunsOnItsThreadAlone) {
  ThreadsScope threads(2);
  std::atomic<int> inner_calls{0};
  ParallelRegion(true, [&](int, int) {
    EXPECT_EQ(TeamSize(), 1);
    ParallelRegion(true, [&](int t, int n) {
      EXPECT_EQ(t, 0);
      EXPECT_EQ(n, 1);
      TeamBarrier();  // a one-thread region: returns at once
      inner_calls.fetch_add(1);
    });
  });
  EXPECT_EQ(inner_calls.load(), 2);
  EXPECT_EQ(TeamSize(), 2);
}

TEST(ThreadTeamTest, FollowsTheOpenMpThreadCount) {
  for (int n : {2, 4, 1, 3}) {
    ThreadsScope threads(n);
    EXPECT_EQ(TeamSize(), n);
    std::atomic<int> calls{0};
    ParallelRegion(true, [&](int, int size) {
      EXPECT_EQ(size, n);
      calls.fetch_add(1);
    });
    EXPECT_EQ(calls.load(), n);
  }
}

TEST(ThreadTeamTest, CallersOnSeveralThreadsHaveTheirOwnTeams) {
  std::vector<std::thread> callers;
  std::atomic<int64_t> total{0};
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&] {
      ThreadsScope threads(2);
      for (int round = 0; round < 100; ++round) {
        ParallelFor(64, Schedule::kDynamic, true,
                    [&](int64_t begin, int64_t end) { total += end - begin; });
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(total.load(), 3 * 100 * 64);
}

// libgomp is not built with ThreadSanitizer, which then reports OpenMP's own
// hand-over of the region's variables as races.
#if defined(__SANITIZE_THREAD__)
#define TERRASERVE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TERRASERVE_TSAN 1
#endif
#endif

TEST(ThreadTeamTest, RunsOnOpenMpWhileOneDnnLayersExist) {
#ifdef TERRASERVE_TSAN
  GTEST_SKIP() << "OpenMP regions cannot be checked under TSan";
#endif
  ThreadsScope threads(2);
  for (int round = 0; round < 2; ++round) {
    OpenMpRegions openmp;
    std::vector<std::atomic<int>> written(2);
    std::atomic<int> in_openmp{0};
    std::atomic<int> sums{0};
    ParallelRegion(true, [&](int t, int n) {
      ASSERT_EQ(n, 2);
      if (omp_in_parallel()) in_openmp.fetch_add(1);
      written[t].store(t + 1, std::memory_order_relaxed);
      TeamBarrier();
      sums.fetch_add(written[0].load(std::memory_order_relaxed) +
                     written[1].load(std::memory_order_relaxed));
    });
    EXPECT_EQ(in_openmp.load(), 2);
    EXPECT_EQ(sums.load(), 6);
  }
  // With none left, regions are the team's again.
  std::atomic<int> in_openmp{0};
  ParallelRegion(true, [&](int, int) {
    if (omp_in_parallel()) in_openmp.fetch_add(1);
  });
  EXPECT_EQ(in_openmp.load(), 0);
}

TEST(ThreadTeamTest, WorkersWakeAfterSleeping) {
  ThreadsScope threads(2);
  std::atomic<int> calls{0};
  ParallelRegion(true, [&](int, int) { calls.fetch_add(1); });
  // Past the workers' spin: they sleep, and the next region must wake them.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ParallelRegion(true, [&](int, int) { calls.fetch_add(1); });
  EXPECT_EQ(calls.load(), 4);
}

}  // namespace
}  // namespace terraserve::engine
