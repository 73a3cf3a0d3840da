#include "bench/machine_limits.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "engine/kernels/linear.h"

namespace terraserve::bench {
namespace {

double Seconds(std::chrono::steady_clock::time_point a,
               std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Sum of a large array: reads every byte once. 32 accumulators (four vectors)
// so the add latency never limits the loads; with one vector the test ran at
// the add rate, below what the engine's kernels read.
double ReadBandwidth(const float* data, int64_t n, int threads) {
  double best = 0;
  volatile float sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    float total = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : total) schedule(static)
    for (int64_t block = 0; block < n / 4096; ++block) {
      float acc[32] = {};
      const float* p = data + block * 4096;
      for (int i = 0; i < 4096; i += 32) {
        for (int k = 0; k < 32; ++k) acc[k] += p[i + k];
      }
      for (float a : acc) total += a;
    }
    auto t1 = std::chrono::steady_clock::now();
    sink = sink + total;
    best = std::max(best, double(n) * 4 / Seconds(t0, t1) / 1e9);
  }
  return best;
}

double GemmPeak(engine::DenseKernel kernel) {
  const int64_t m = 256, k = 1024, n = 4096;
  std::vector<float> w(k * n), x(m * k), y(m * n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (float& v : w) v = u(rng);
  for (float& v : x) v = u(rng);
  auto linear = engine::MakeLinear(w, {}, k, n, kernel);
  if (!linear.ok()) return 0;
  double best = 0;
  for (int rep = 0; rep < 10; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    (void)(*linear)->Forward(x.data(), m, y.data());
    auto t1 = std::chrono::steady_clock::now();
    best = std::max(best, 2.0 * m * k * n / Seconds(t0, t1) / 1e9);
  }
  return best;
}

}  // namespace

MachineLimits MeasureMachineLimits() {
  const int64_t n =
      (int64_t(1) << 30) / 4;  // 1 GiB of floats: far beyond any cache
  std::unique_ptr<float[]> data(new float[n]);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    data[i] = 1.0f;  // first touch by the reading threads
  MachineLimits m;
  m.read_gbps_1t = ReadBandwidth(data.get(), n, 1);
  m.read_gbps = ReadBandwidth(data.get(), n, omp_get_max_threads());
  // The better of the two dense kernels: the ceiling the engine can reach.
  m.gemm_gflops = std::max(GemmPeak(engine::DenseKernel::kOnednn),
                           GemmPeak(engine::DenseKernel::kPacked));
  return m;
}

}  // namespace terraserve::bench
