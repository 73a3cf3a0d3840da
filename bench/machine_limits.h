// Measures this machine's memory read bandwidth and dense GEMM peak in the same
// run as a benchmark, so results can be stated as a fraction of the physical
// bound (bench layer). Not thread-safe; call from the benchmark's main thread.
#ifndef TERRASERVE_BENCH_MACHINE_LIMITS_H_
#define TERRASERVE_BENCH_MACHINE_LIMITS_H_

namespace terraserve::bench {

struct MachineLimits {
  double read_gbps_1t = 0;  // STREAM-style sum over a 1 GiB array, one thread
  double read_gbps = 0;     // the same with every OpenMP thread
  double gemm_gflops = 0;   // f32 256x1024x4096, best of oneDNN and packed
};

// Takes a few seconds: repeats each test and keeps the best run.
MachineLimits MeasureMachineLimits();

}  // namespace terraserve::bench

#endif  // TERRASERVE_BENCH_MACHINE_LIMITS_H_
