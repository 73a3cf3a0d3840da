#include "engine/base/thread_team.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace terraserve::engine {
namespace {

// How long an idle worker spins before it sleeps. Decode steps follow each
// other within tens of microseconds and a sleeping worker costs the next fork
// a wake-up (a system call and a reschedule), so it spins across those gaps;
// idle longer, it gives the core back.
constexpr auto kSpin = std::chrono::milliseconds(1);
// Spins between yields (and looks at the clock).
constexpr int kSpinBatch = 1024;

using Clock = std::chrono::steady_clock;

inline void Pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until done(); false if `deadline` passed first. Yields every
// kSpinBatch turns, so that a thread waiting for this vCPU (the server's gRPC
// delivery, say) runs now rather than after the scheduler's time slice.
template <typename Done>
bool SpinUntil(Done done,
               Clock::time_point deadline = Clock::time_point::max()) {
  for (int spins = 1; !done(); ++spins) {
    Pause();
    if (spins % kSpinBatch != 0) continue;
    if (deadline != Clock::time_point::max() && Clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return true;
}

class Team;

// The region the calling thread is running in: its team (null when it runs
// alone or on OpenMP), size (0: not in a region) and whether it is an OpenMP
// region.
thread_local Team* current_team = nullptr;
thread_local int current_size = 0;
thread_local bool current_openmp = false;

// Sets the calling thread's region for the scope.
class RegionScope {
 public:
  RegionScope(Team* team, int size, bool openmp = false)
      : team_(current_team), size_(current_size), openmp_(current_openmp) {
    current_team = team;
    current_size = size;
    current_openmp = openmp;
  }
  ~RegionScope() {
    current_team = team_;
    current_size = size_;
    current_openmp = openmp_;
  }

 private:
  Team* const team_;
  const int size_;
  const bool openmp_;
};

// Live OpenMpRegions objects in the process.
std::atomic<int> openmp_holders{0};

// A caller (thread 0) and n - 1 workers that run one function at a time.
class Team {
 public:
  explicit Team(int size) : size_(size) {
    for (int t = 1; t < size; ++t)
      workers_.emplace_back([this, t] { Work(t); });
  }
  ~Team() {
    stop_.store(true, std::memory_order_relaxed);
    Publish();
    for (std::thread& w : workers_) w.join();
  }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int size() const { return size_; }

  void Run(team_internal::Function fn, void* context) {
    fn_ = fn;
    context_ = context;
    Publish();
    {
      RegionScope scope(this, size_);
      fn(context, 0, size_);
    }
    target_ += size_ - 1;
    SpinUntil(
        [&] { return finished_.load(std::memory_order_acquire) == target_; });
  }

  void Barrier() {
    const uint32_t g = barrier_generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == size_ - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      barrier_generation_.fetch_add(1, std::memory_order_release);
      return;
    }
    SpinUntil([&] {
      return barrier_generation_.load(std::memory_order_acquire) != g;
    });
  }

 private:
  // Hands the job (fn_, context_, stop_) to the workers.
  void Publish() {
    // seq_cst with the load of sleepers_, and a worker's increment of
    // sleepers_ with its load of generation_: a worker about to sleep either
    // sees the new generation or is seen, and woken, here.
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      wake_.notify_all();
    }
  }

  void Work(int t) {
    uint32_t seen = 0;
    for (;;) {
      seen = AwaitGeneration(seen);
      if (stop_.load(std::memory_order_relaxed)) return;
      {
        RegionScope scope(this, size_);
        fn_(context_, t, size_);
      }
      finished_.fetch_add(1, std::memory_order_release);
    }
  }

  // Spins, then sleeps, until generation_ differs from `seen`; returns it.
  uint32_t AwaitGeneration(uint32_t seen) {
    uint32_t g;
    const auto changed = [&] {
      g = generation_.load(std::memory_order_acquire);
      return g != seen;
    };
    if (SpinUntil(changed, Clock::now() + kSpin)) return g;
    std::unique_lock<std::mutex> lock(mu_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    wake_.wait(lock, [&] {
      g = generation_.load(std::memory_order_seq_cst);
      return g != seen;
    });
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return g;
  }

  const int size_;
  std::vector<std::thread> workers_;
  uint64_t target_ = 0;  // the caller's: finished_ once the region is done
  // The job: written by the caller before Publish(), read by the workers
  // after they see its generation; one cache line, one transfer a fork.
  alignas(64) team_internal::Function fn_ = nullptr;
  void* context_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> generation_{0};
  // Written only by the workers (the caller reads it), so a join moves the
  // line once each way.
  alignas(64) std::atomic<uint64_t> finished_{0};
  alignas(64) std::atomic<int> arrived_{0};
  std::atomic<uint32_t> barrier_generation_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable wake_;
};

// The calling thread's team of `size` threads, made anew when the size
// changed.
Team& OwnTeam(int size) {
  thread_local std::unique_ptr<Team> team;
  if (team == nullptr || team->size() != size) {
    team.reset();
    team = std::make_unique<Team>(size);
  }
  return *team;
}

}  // namespace

int TeamSize() { return current_size > 0 ? 1 : omp_get_max_threads(); }

void TeamBarrier() {
  if (current_team != nullptr) {
    current_team->Barrier();
  } else if (current_openmp) {
#pragma omp barrier
  }
}

OpenMpRegions::OpenMpRegions() { openmp_holders.fetch_add(1); }
OpenMpRegions::~OpenMpRegions() { openmp_holders.fetch_sub(1); }

namespace team_internal {

void Run(bool parallel, Function fn, void* context) {
  const int n = parallel ? TeamSize() : 1;
  if (n <= 1) {
    RegionScope scope(nullptr, 1);
    fn(context, 0, 1);
    return;
  }
  if (openmp_holders.load(std::memory_order_relaxed) > 0) {
#pragma omp parallel num_threads(n)
    {
      RegionScope scope(nullptr, omp_get_num_threads(), /*openmp=*/true);
      fn(context, omp_get_thread_num(), omp_get_num_threads());
    }
    return;
  }
  OwnTeam(n).Run(fn, context);
}

bool NextChunk(std::atomic<int64_t>* next, int64_t count, Schedule schedule,
               int n, int64_t* begin, int64_t* end) {
  if (schedule != Schedule::kGuided) {
    *begin = next->fetch_add(1, std::memory_order_relaxed);
    *end = *begin + 1;
    return *begin < count;
  }
  int64_t at = next->load(std::memory_order_relaxed);
  for (;;) {
    if (at >= count) return false;
    const int64_t chunk = std::max<int64_t>(1, (count - at + n - 1) / n);
    if (next->compare_exchange_weak(at, at + chunk,
                                    std::memory_order_relaxed)) {
      *begin = at;
      *end = at + chunk;
      return true;
    }
  }
}

}  // namespace team_internal
}  // namespace terraserve::engine
