// Google Benchmark micro-benchmarks of each engine kernel at the medium model's
// shapes (d 1024, f 6144 with N 64, S 16): dense matmul (oneDNN, the packed
// kernel, naive), sparse FF gather-dot vs the dense GEMV it replaces, factored
// dense, causal convolution, attention; and the per-token sampler at the
// medium vocabulary.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "engine/base/huge_page_allocator.h"
#include "engine/base/thread_team.h"
#include "engine/kernels/cpu_kernels.h"
#include "engine/kernels/linear.h"
#include "engine/kernels/packed_linear.h"
#include "engine/kernels/reference_kernels.h"
#include "engine/sampler/sampler.h"

namespace terraserve::engine {
namespace {

// Bytes of weights (or caches) a memory-bound case cycles through. 128 MB is
// four times the 32 MB L3, so they come from memory as in a model's decode
// step. The smoke test sets a few MB with --footprint_mb: under the
// sanitizers, building 128 MB for every case (and again each time Google
// Benchmark re-runs a case to size its iterations) takes minutes.
int64_t g_footprint = int64_t(128) << 20;

std::vector<float> Random(size_t n) {
  static std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Copies of the weights (g_footprint in all, at least one), used in turn, so
// they come from memory as in a model rather than from the L3. `make` builds
// one copy; `weight_size` is its bytes per weight.
template <typename Make>
void RunMatmul(benchmark::State& state, int64_t m, int64_t k, int64_t n,
               int64_t weight_size, Make make) {
  std::vector<std::unique_ptr<Linear>> copies;
  const auto w = Random(k * n);
  for (int64_t bytes = 0; bytes < g_footprint; bytes += k * n * weight_size) {
    absl::StatusOr<std::unique_ptr<Linear>> lin = make(w, k, n);
    if (!lin.ok()) return state.SkipWithError("making the Linear failed");
    copies.push_back(std::move(*lin));
  }
  auto x = Random(m * k);
  std::vector<float> y(m * n);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        copies[i++ % copies.size()]->Forward(x.data(), m, y.data()));
  }
  state.SetBytesProcessed(state.iterations() * k * n * weight_size);
}

void BM_DenseMatmul(benchmark::State& state) {
  const auto kernel = static_cast<DenseKernel>(state.range(0));
  RunMatmul(state, state.range(1), state.range(2), state.range(3), 4,
            [kernel](const std::vector<float>& w, int64_t k, int64_t n) {
              return MakeLinear(w, {}, k, n, kernel);
            });
  state.SetLabel(kernel == DenseKernel::kOnednn ? "onednn" : "packed");
}
BENCHMARK(BM_DenseMatmul)
    ->ArgsProduct({{static_cast<int>(DenseKernel::kOnednn),
                    static_cast<int>(DenseKernel::kPacked)},
                   {1, 4, 16, 64},
                   {1024},
                   {4096}})
    ->Args({static_cast<int>(DenseKernel::kOnednn), 1, 4096, 1024})
    ->Args({static_cast<int>(DenseKernel::kPacked), 1, 4096, 1024})
    // The medium-sparse shapes: Sparse QKV's factored dense (S 16 rows of
    // d x d/S) and the factored output layer (S 4 rows of d x vocab/S).
    ->Args({static_cast<int>(DenseKernel::kPacked), 16, 1024, 64})
    ->Args({static_cast<int>(DenseKernel::kPacked), 4, 1024, 8000})
    // A 256-row prompt chunk of medium-sparse: the factored dense (16 scaled
    // copies of 16 rows), the Sparse FF controller's m1 and m2.
    ->ArgsProduct({{static_cast<int>(DenseKernel::kOnednn),
                    static_cast<int>(DenseKernel::kPacked)},
                   {256},
                   {1024},
                   {64, 96}})
    ->Args({static_cast<int>(DenseKernel::kOnednn), 256, 96, 6144})
    ->Args({static_cast<int>(DenseKernel::kPacked), 256, 96, 6144})
    // A 256-row prompt chunk of medium-dense's FF (the packed kernel's row
    // tiles).
    ->Args({static_cast<int>(DenseKernel::kOnednn), 256, 1024, 4096})
    ->Args({static_cast<int>(DenseKernel::kPacked), 256, 1024, 4096});

// The packed kernel over bf16 weights (the bf16 controller and output layer
// options), at the decode shapes it serves: half the bytes of the f32 case.
void BM_Bf16Matmul(benchmark::State& state) {
  RunMatmul(state, state.range(0), state.range(1), state.range(2), 2,
            [](const std::vector<float>& w, int64_t k, int64_t n) {
              return MakePackedBf16Linear(w, {}, k, n);
            });
}
BENCHMARK(BM_Bf16Matmul)
    ->ArgsProduct({{1, 4, 16, 64}, {1024}, {4096}})
    ->Args({4, 1024, 8000})
    ->Args({1, 1024, 96})
    ->Args({1, 96, 6144})
    ->Args({16, 96, 6144});

void BM_ReferenceMatmul(benchmark::State& state) {
  const int64_t m = 1, k = state.range(0), n = state.range(1);
  auto lin = MakeReferenceLinear(Random(k * n), {}, k, n);
  auto x = Random(m * k);
  std::vector<float> y(m * n);
  for (auto _ : state)
    benchmark::DoNotOptimize(lin->Forward(x.data(), m, y.data()));
}
BENCHMARK(BM_ReferenceMatmul)->Args({1024, 1024});

// range(0) = 1: bf16 rows (EngineOptions::bf16_sparse_ff_rows).
void BM_SparseFfRow(benchmark::State& state) {
  const bool bf16 = state.range(0) != 0;
  const int d = 1024, block = 64, n_blocks = 96;
  const int64_t layer_floats = int64_t(n_blocks) * block * d;
  // Four layers' weights at the default footprint (200 MB in f32, on huge
  // pages as SparseFf holds them), used in turn, and a new choice of units
  // each call, as each token makes: the chosen rows come from memory, as in a
  // model's decode step. Only the precision the case reads is built.
  const int layers = static_cast<int>(
      std::max<int64_t>(1, 4 * g_footprint / (int64_t(128) << 20)));
  const auto r1 = Random(layer_floats), r2 = Random(layer_floats);
  const int64_t total = layers * layer_floats;
  HugePageVector<float> w1t, w2;
  HugePageVector<uint16_t> w1t16, w216;
  if (bf16) {
    w1t16.reserve(total);
    w216.reserve(total);
  } else {
    w1t.reserve(total);
    w2.reserve(total);
  }
  for (int64_t i = 0; i < total; ++i) {
    const float a = r1[i % layer_floats], b = r2[i % layer_floats];
    if (bf16) {
      w1t16.push_back(FloatToBf16(a));
      w216.push_back(FloatToBf16(b));
    } else {
      w1t.push_back(a);
      w2.push_back(b);
    }
  }
  auto b2 = Random(d), x = Random(d);
  std::vector<std::vector<int32_t>> choices(256,
                                            std::vector<int32_t>(n_blocks));
  std::mt19937 rng(2);
  for (auto& idx : choices) {
    for (auto& i : idx) i = rng() % block;
  }
  std::vector<float> y(d);
  size_t call = 0;
  for (auto _ : state) {
    const int64_t at = (call % layers) * layer_floats;
    SparseFfWeights w{nullptr,   nullptr, nullptr,  nullptr,
                      b2.data(), d,       n_blocks, block};
    if (bf16) {
      w.w1t_bf16 = w1t16.data() + at;
      w.w2_bf16 = w216.data() + at;
    } else {
      w.w1t = w1t.data() + at;
      w.w2 = w2.data() + at;
    }
    kernels::SparseFfRows(x.data(), 1, choices[call++ % choices.size()].data(),
                          nullptr, w, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * 2LL * n_blocks * d *
                          (bf16 ? 2 : 4));
}
BENCHMARK(BM_SparseFfRow)->Arg(0)->Arg(1);

void BM_CausalConv(benchmark::State& state) {
  // One layer's call at batch 1: Q and K (3x3) and V (3x1) in one fork/join.
  const int S = 16, M = 64, kL = 3, kS[3] = {3, 3, 1};
  // Weights of 48 layers' convolutions, used in turn, so that (as in a
  // model's decode step) they come from memory.
  const int copies = 48;
  int64_t offset[4] = {0};
  for (int c = 0; c < 3; ++c)
    offset[c + 1] = offset[c] + int64_t(kL) * kS[c] * M * M;
  const int64_t wsize = offset[3];
  auto hist = Random(2 * S * M), y = Random(S * M), w = Random(wsize * copies),
       b = Random(M);
  for (int i = 0; i < copies; ++i) {  // the layout CausalConv reads
    for (int c = 0; c < 3; ++c) {
      float* at = w.data() + i * wsize + offset[c];
      std::vector<float> one(at, at + offset[c + 1] - offset[c]);
      one = kernels::PackConvWeight(one, kL, kS[c], M);
      std::copy(one.begin(), one.end(), at);
    }
  }
  std::vector<float> out(3 * S * M);
  int call = 0;
  for (auto _ : state) {
    const float* layer = w.data() + (call++ % copies) * wsize;
    CausalConvJob jobs[3];
    for (int c = 0; c < 3; ++c) {
      jobs[c] = {hist.data(),
                 y.data(),
                 1,
                 kS[c],
                 layer + offset[c],
                 b.data(),
                 out.data() + c * S * M};
    }
    kernels::CausalConv(jobs, 3, S, M, kL);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * wsize * 4);
}
BENCHMARK(BM_CausalConv);

// range(1) = 1: a bf16 cache (KvView::bf16), half the bytes of the same
// positions.
void BM_CausalAttention(benchmark::State& state) {
  const int d = 1024, heads = 16, block = 16;
  const int context = static_cast<int>(state.range(0));
  const bool bf16 = state.range(1) != 0;
  const int n_blocks = context / block + 1;
  // Enough sequences' caches to fill g_footprint, attended in turn, so the
  // keys and values come from memory as in a model's decode step.
  const int64_t cache_elements = int64_t(n_blocks) * 2 * block * d;
  const int64_t element_bytes = bf16 ? 2 : 4;
  const int copies =
      static_cast<int>(g_footprint / (cache_elements * element_bytes) + 1);
  // On huge pages, as KvBlockPool allocates it.
  const auto random_pool = Random(cache_elements * copies);
  HugePageVector<float> pool;
  HugePageVector<uint16_t> pool16;
  if (bf16) {
    pool16.reserve(random_pool.size());
    for (float v : random_pool) pool16.push_back(FloatToBf16(v));
  } else {
    pool.assign(random_pool.begin(), random_pool.end());
  }
  const auto q = Random(d);
  std::vector<int32_t> blocks(n_blocks * copies);
  // Each copy's blocks are spread over the pool, as the allocator leaves them.
  for (int i = 0; i < n_blocks * copies; ++i)
    blocks[i] = (i % copies) * n_blocks + i / copies;
  std::vector<float> out(d);
  int call = 0;
  for (auto _ : state) {
    KvView kv{bf16 ? static_cast<void*>(pool16.data()) : pool.data(),
              blocks.data() + (call++ % copies) * n_blocks,
              block,
              d,
              2LL * block * d,
              int64_t(block) * d,
              d / heads,
              bf16};
    AttentionJob job{q.data(), 1, context - 1, kv, out.data()};
    kernels::Attention(&job, 1, heads);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * 2LL * context * d *
                          element_bytes);
  state.SetLabel(bf16 ? "bf16" : "f32");
}
BENCHMARK(BM_CausalAttention)
    ->ArgsProduct({{48, 256, 300, 1024}, {0}})
    ->Args({256, 1})
    ->Args({1024, 1});

// A prefill chunk of 256 queries at positions range(0) .. range(0) + 255 of one
// sequence (the server's default --prefill_chunk_tokens), all 16 heads. Its
// keys and values stay in cache across the chunk's queries, so this is the
// arithmetic rate: items/s is multiply-adds per second.
void BM_PrefillAttention(benchmark::State& state) {
  const int d = 1024, heads = 16, block = 16, T = 256;
  const int start = static_cast<int>(state.range(0)), len = start + T;
  const int n_blocks = (len + block - 1) / block;
  const auto random_pool = Random(int64_t(n_blocks) * 2 * block * d);
  HugePageVector<float> pool(random_pool.begin(), random_pool.end());
  std::vector<int32_t> blocks(n_blocks);
  for (int i = 0; i < n_blocks; ++i) blocks[i] = (i * 7) % n_blocks;
  const auto q = Random(int64_t(T) * d);
  std::vector<float> out(int64_t(T) * d);
  const KvView kv{pool.data(),     blocks.data(),      block,    d,
                  2LL * block * d, int64_t(block) * d, d / heads};
  for (auto _ : state) {
    AttentionJob job{q.data(), T, start, kv, out.data()};
    kernels::Attention(&job, 1, heads);
    benchmark::DoNotOptimize(out.data());
  }
  // Each query: a dot and an axpy of d per key it sees.
  state.SetItemsProcessed(state.iterations() * 2LL * d *
                          (int64_t(T) * start + int64_t(T) * (T + 1) / 2));
}
BENCHMARK(BM_PrefillAttention)->Arg(0)->Arg(768)->Arg(1792);

void BM_LayerNorm(benchmark::State& state) {
  const int d = 1024;
  auto x = Random(d), s = Random(d), b = Random(d);
  std::vector<float> y(d);
  for (auto _ : state) {
    kernels::LayerNorm(x.data(), 1, d, s.data(), b.data(), true, y.data());
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(BM_LayerNorm);

// What every parallel kernel pays to use the team: an empty region (range 0
// barriers: the fork and the join) and one with range barriers inside, so
// (time(16) - time(0)) / 16 is a barrier. A sparse decode step of the medium
// shape runs six regions and a barrier a layer, each of a few to a few tens
// of microseconds, so on a host where these cost microseconds they are part
// of its floor. BM_OmpForkJoin is the same over libgomp, which the kernels
// used before ThreadTeam (see thread_team.h).
void BM_ForkJoin(benchmark::State& state) {
  const int64_t barriers = state.range(0);
  int sink = 0;
  for (auto _ : state) {
    ParallelRegion(true, [&](int, int) {
      for (int64_t b = 0; b < barriers; ++b) TeamBarrier();
      benchmark::DoNotOptimize(sink);
    });
  }
}
BENCHMARK(BM_ForkJoin)->Arg(0)->Arg(16);

void BM_OmpForkJoin(benchmark::State& state) {
  const int64_t barriers = state.range(0);
  int sink = 0;
  for (auto _ : state) {
#pragma omp parallel
    {
      for (int64_t b = 0; b < barriers; ++b) {
#pragma omp barrier
      }
      benchmark::DoNotOptimize(sink);
    }
  }
}
BENCHMARK(BM_OmpForkJoin)->Arg(0)->Arg(16);

// One token drawn from 32000 logits (the medium vocabulary), per sequence and
// step on the scheduler thread: 0 greedy, 1 temperature 0.8, 2 that with
// top_p 0.9, 3 with top_k 50 instead. Logits of a trained model's spread
// (normal, sd 3), so the nucleus is a few hundred tokens.
void BM_Sample(benchmark::State& state) {
  const int vocab = 32000;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 3);
  std::vector<float> logits(vocab);
  for (float& x : logits) x = normal(rng);
  SamplingParams params;
  const int mode = static_cast<int>(state.range(0));
  if (mode > 0) params.temperature = 0.8f;
  if (mode == 2) params.top_p = 0.9f;
  if (mode == 3) params.top_k = 50;
  Sampler sampler(params, {});
  for (auto _ : state) {
    SampledToken t = sampler.Sample(logits.data(), vocab);
    benchmark::DoNotOptimize(t.id);
  }
}
BENCHMARK(BM_Sample)->DenseRange(0, 3);

}  // namespace
}  // namespace terraserve::engine

// Google Benchmark's flags, and --footprint_mb=N (see g_footprint).
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const char kFlag[] = "--footprint_mb=";
  for (int i = 1; i < argc; ++i) {
    char* end = nullptr;
    const long mb = std::strncmp(argv[i], kFlag, sizeof(kFlag) - 1) == 0
                        ? std::strtol(argv[i] + sizeof(kFlag) - 1, &end, 10)
                        : 0;
    if (end == nullptr || *end != '\0' || mb < 1 || mb > 65536) {
      std::fprintf(
          stderr,
          "kernels_benchmark: unknown flag or bad value: %s "
          "(expected --footprint_mb=1..65536 or a --benchmark_ flag)\n",
          argv[i]);
      return 2;
    }
    terraserve::engine::g_footprint = int64_t(mb) << 20;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
