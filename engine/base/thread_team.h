// ThreadTeam: the fork/join the engine's kernels split their work with.
//
// Why not `#pragma omp parallel`: libgomp ends every barrier, and so every
// fork and join, with a futex_wake system call whether or not a thread sleeps,
// and in a virtual machine that call costs about a microsecond; a fork/join
// measured 2.7-3.0 us on the 2-vCPU development VM against 0.13-0.16 us for a
// spinning pair. A batch-1 decode step of the sparse model runs about 150
// regions of 5-50 us each, so libgomp's share was 5-8% of the step. A team
// here spins on shared atomics instead and sleeps only after a millisecond
// without work.
//
// Each calling thread has its own team (as each OpenMP master does), of
// omp_get_max_threads() threads counting the caller, so OMP_NUM_THREADS and
// omp_set_num_threads() size both this and oneDNN's OpenMP runtime. A region
// opened inside a region runs on its calling thread alone.
//
// Thread-safety: the functions below may be called from any thread; a body
// runs concurrently on every thread of the team and must only write what its
// thread index owns, or synchronise through TeamBarrier().
#ifndef TERRASERVE_ENGINE_BASE_THREAD_TEAM_H_
#define TERRASERVE_ENGINE_BASE_THREAD_TEAM_H_

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace terraserve::engine {

// Threads a region of the calling thread would run on now: 1 inside a
// region, else omp_get_max_threads().
int TeamSize();

// Runs body(t, n) once for each t in [0, n), n = TeamSize(), or n = 1 on the
// calling thread when `parallel` is false; returns when every call has.
template <typename Body>
void ParallelRegion(bool parallel, Body&& body);

// Waits until every thread of the current region has reached it. Only inside
// a ParallelRegion body, by every thread of that region.
void TeamBarrier();

// How ParallelFor hands out indices: kStatic one contiguous share per thread;
// kDynamic one index at a time; kGuided chunks of remaining/n (OpenMP's
// guided), so a thread that lost its core leaves the rest to the others.
enum class Schedule { kStatic, kDynamic, kGuided };

// Runs body(begin, end) over disjoint ranges covering [0, count).
template <typename Body>
void ParallelFor(int64_t count, Schedule schedule, bool parallel, Body&& body);

// ParallelFor's loop as one phase of a ParallelRegion body (for a region of
// several phases between barriers): every thread t of the region's n calls it
// with the same `next`, zero before the region, and body(begin, end) runs on
// the calling thread over its ranges of [0, count).
template <typename Body>
void RegionFor(std::atomic<int64_t>* next, int64_t count, Schedule schedule,
               int t, int n, Body&& body);

// While one of these exists in the process, regions run on OpenMP's team
// instead of a ThreadTeam. oneDNN's matmuls run on OpenMP, whose workers spin
// after each of its regions: beside a ThreadTeam's spinning workers the two
// runtimes fought for the cores (medium-sparse with oneDNN matmuls took 107
// ms a step instead of 7.6). Each oneDNN-backed layer holds one.
class OpenMpRegions {
 public:
  OpenMpRegions();
  ~OpenMpRegions();
  OpenMpRegions(const OpenMpRegions&) = delete;
  OpenMpRegions& operator=(const OpenMpRegions&) = delete;
};

// ---------------------------------------------------------------------------

namespace team_internal {

using Function = void (*)(void* context, int t, int n);

// Runs fn(context, t, n) on n = TeamSize() threads (1 unless `parallel`).
void Run(bool parallel, Function fn, void* context);

// The next chunk [*begin, *end) of a shared counter; false when none is left.
bool NextChunk(std::atomic<int64_t>* next, int64_t count, Schedule schedule,
               int n, int64_t* begin, int64_t* end);

}  // namespace team_internal

template <typename Body>
void ParallelRegion(bool parallel, Body&& body) {
  using B = std::remove_reference_t<Body>;
  team_internal::Run(
      parallel, [](void* c, int t, int n) { (*static_cast<B*>(c))(t, n); },
      const_cast<void*>(static_cast<const void*>(&body)));
}

template <typename Body>
void RegionFor(std::atomic<int64_t>* next, int64_t count, Schedule schedule,
               int t, int n, Body&& body) {
  if (schedule == Schedule::kStatic) {
    const int64_t begin = count * t / n, end = count * (t + 1) / n;
    if (begin < end) body(begin, end);
    return;
  }
  int64_t begin, end;
  while (team_internal::NextChunk(next, count, schedule, n, &begin, &end))
    body(begin, end);
}

template <typename Body>
void ParallelFor(int64_t count, Schedule schedule, bool parallel, Body&& body) {
  if (count <= 0) return;
  std::atomic<int64_t> next{0};  // the dynamic schedules' shared counter
  ParallelRegion(parallel && count > 1, [&](int t, int n) {
    RegionFor(&next, count, schedule, t, n, body);
  });
}

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_BASE_THREAD_TEAM_H_
