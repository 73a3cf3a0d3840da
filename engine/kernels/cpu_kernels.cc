#include "engine/kernels/cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/base/logging.h"
#include "engine/base/thread_team.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine::kernels {

namespace {

// sum_i f(x[i]) in eight interleaved partial sums. Written as a plain sum,
// GCC keeps the source's order, one dependent add at a time (2.1 us per
// LayerNorm at d 1024); eight independent lanes vectorise without reordering
// any one sum, so every compiler and sanitizer build gives the same result.
template <typename F>
float LaneSum(const float* x, int d, F f) {
  float lanes[8] = {};
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    for (int k = 0; k < 8; ++k) lanes[k] += f(x[i + k]);
  }
  float sum = 0;
  for (int k = 0; k < 8; ++k) sum += lanes[k];
  for (; i < d; ++i) sum += f(x[i]);
  return sum;
}

}  // namespace

void LayerNorm(const float* x, int64_t rows, int d, const float* scale,
               const float* bias, bool center, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    float* yr = y + r * d;
    const float mean =
        center ? LaneSum(xr, d, [](float v) { return v; }) / d : 0.0f;
    const float var =
        LaneSum(xr, d, [mean](float v) { return (v - mean) * (v - mean); });
    float inv = 1.0f / std::sqrt(var / d + 1e-6f);
    if (center) {
      for (int i = 0; i < d; ++i)
        yr[i] = (xr[i] - mean) * inv * scale[i] + bias[i];
    } else {
      for (int i = 0; i < d; ++i) yr[i] = xr[i] * inv * scale[i];
    }
  }
}

void Softmax(float* x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * n;
    const float mx = MaxOf(xr, n);
    const float inv = 1.0f / ExpShifted(xr, n, mx);
    for (int64_t i = 0; i < n; ++i) xr[i] *= inv;
  }
}

void Embed(const float* table, const float* pos_table, const int32_t* ids,
           const int32_t* positions, int64_t n, int d, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out + i * d, table + int64_t(ids[i]) * d, sizeof(float) * d);
    if (pos_table != nullptr)
      Axpy(1.0f, pos_table + int64_t(positions[i]) * d, out + i * d, d);
  }
}

namespace {

// StartRows: the dots and the sums first ask for the first cache line of
// every row they will read. The hardware prefetcher streams a row only once
// its first lines have come, and asking for whole rows two ahead alone left
// each row's first-line latency mostly unhidden; asked for together, those
// latencies overlap. One layer's row phase (96 units, d 1024, rows from
// memory, paired timings in one process): bf16 rows 12.7 -> 11.3 us, f32 rows
// 19.2 -> 14.6 us.

// Blocks [b0, b1) of one row: h[b] = relu(x . chosen W1 row) * scale, the
// rows w1t being f32 or bf16.
template <typename T>
void SparseFfDots(const float* x, const int32_t* idx, const float* probs,
                  const T* w1t, const SparseFfWeights& w, int b0, int b1,
                  float* h) {
  // Each chosen row is its own short stream (StartRows): two rows are read
  // side by side, and the next two are requested while they are summed.
  auto w1_row = [&](int b) {
    return w1t + (int64_t(b) * w.block + idx[b]) * w.d;
  };
  auto finish = [&](int b, float v) {
    h[b] = v > 0 ? (probs != nullptr ? v * probs[b] : v) : 0.0f;
  };
  for (int b = b0; b < b1; ++b) Prefetch(w1_row(b), 1);
  int b = b0;
  for (; b + 2 <= b1; b += 2) {
    for (int n = b + 2; n < std::min(b + 4, b1); ++n) Prefetch(w1_row(n), w.d);
    float v[2];
    Dot2(x, w1_row(b), w1_row(b + 1), w.d, v);
    finish(b, v[0]);
    finish(b + 1, v[1]);
  }
  if (b < b1) finish(b, Dot(x, w1_row(b), w.d));
}

// One row: y += sum over blocks [b0, b1) of h[b] * chosen W2 row (f32 or
// bf16 rows w2).
template <typename T>
void SparseFfSums(const int32_t* idx, const float* h, const T* w2,
                  const SparseFfWeights& w, int b0, int b1, float* y) {
  auto w2_row = [&](int b) {
    return w2 + (int64_t(idx[b]) * w.n_blocks + b) * w.d;
  };
  // The blocks whose unit fired (ReLU zeroes about half), two at a time,
  // the next two requested while these are added (and every row started
  // first: StartRows).
  thread_local std::vector<int> live;
  live.clear();
  for (int b = b0; b < b1; ++b) {
    if (h[b] != 0.0f) live.push_back(b);
  }
  const int n = static_cast<int>(live.size());
  for (int i = 0; i < n; ++i) Prefetch(w2_row(live[i]), 1);
  for (int i = 0; i < std::min(n, 2); ++i) Prefetch(w2_row(live[i]), w.d);
  int i = 0;
  for (; i + 2 <= n; i += 2) {
    for (int k = i + 2; k < std::min(i + 4, n); ++k)
      Prefetch(w2_row(live[k]), w.d);
    const int p = live[i], q = live[i + 1];
    Axpy2(h[p], w2_row(p), h[q], w2_row(q), y, w.d);
  }
  if (i < n) Axpy(h[live[i]], w2_row(live[i]), y, w.d);
}

// The dots and the sums on whichever rows w holds.
void SparseFfDots(const float* x, const int32_t* idx, const float* probs,
                  const SparseFfWeights& w, int b0, int b1, float* h) {
  if (w.w1t_bf16 != nullptr) {
    SparseFfDots(x, idx, probs, w.w1t_bf16, w, b0, b1, h);
  } else {
    SparseFfDots(x, idx, probs, w.w1t, w, b0, b1, h);
  }
}

void SparseFfSums(const int32_t* idx, const float* h, const SparseFfWeights& w,
                  int b0, int b1, float* y) {
  if (w.w2_bf16 != nullptr) {
    SparseFfSums(idx, h, w.w2_bf16, w, b0, b1, y);
  } else {
    SparseFfSums(idx, h, w.w2, w, b0, b1, y);
  }
}

}  // namespace

void SparseFfRows(const float* x, int64_t rows, const int32_t* idx,
                  const float* probs, const SparseFfWeights& w, float* y) {
  // Only the chosen rows are touched, in place (no gather copy, toolchain.md
  // 4c). Several rows: one row per item, so each thread runs whole rows and the
  // team forks once. One row: each thread takes chunks of the blocks, both
  // their W1 and W2 rows (whole rows: one stream each), into its own partial
  // sum, and the partials are added by columns after one barrier.
  thread_local std::vector<float> activations;
  if (rows > 1) {
    activations.resize(static_cast<size_t>(rows * w.n_blocks));
    float* h = activations.data();
    ParallelFor(rows, Schedule::kStatic, true, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int32_t* ir = idx + r * w.n_blocks;
        const float* pr = probs != nullptr ? probs + r * w.n_blocks : nullptr;
        float* hr = h + r * w.n_blocks;
        SparseFfDots(x + r * w.d, ir, pr, w, 0, w.n_blocks, hr);
        std::copy_n(w.b2, w.d, y + r * w.d);
        SparseFfSums(ir, hr, w, 0, w.n_blocks, y + r * w.d);
      }
    });
    return;
  }
  if (rows < 1) return;
  // This thread's buffers, shared with the team below.
  thread_local std::vector<float> partials;
  activations.resize(w.n_blocks);
  partials.resize(static_cast<size_t>(TeamSize()) * w.d);
  float *h = activations.data(), *part = partials.data();
  std::atomic<int64_t> next{0};
  ParallelRegion(SparseFfRowIsParallel(w), [&](int t, int team) {
    SparseFfRowPhase(
        x, idx, probs, w, [](int, int) {}, &next, t, team, h, part, y);
  });
}

bool SparseFfRowIsParallel(const SparseFfWeights& w) {
  return int64_t(w.n_blocks) * w.d >= (int64_t(1) << 15);
}

void SparseFfRowPhase(const float* x, const int32_t* idx, const float* probs,
                      const SparseFfWeights& w,
                      absl::FunctionRef<void(int, int)> choose,
                      std::atomic<int64_t>* next, int t, int team, float* h,
                      float* partials, float* y) {
  // Guided: the blocks' rows are scattered reads whose time varies, and on
  // this host one vCPU is often slower than the other; static halves left
  // the calling thread waiting at the barrier 6.5% of a step.
  float* mine = partials + int64_t(t) * w.d;
  std::fill(mine, mine + w.d, 0.0f);
  RegionFor(next, w.n_blocks, Schedule::kGuided, t, team,
            [&](int64_t b0, int64_t b1) {
              choose(static_cast<int>(b0), static_cast<int>(b1));
              SparseFfDots(x, idx, probs, w, b0, b1, h);
              SparseFfSums(idx, h, w, b0, b1, mine);
            });
  TeamBarrier();
  for (int c = t * w.d / team; c < (t + 1) * w.d / team; ++c) {
    float sum = w.b2[c];
    for (int u = 0; u < team; ++u) sum += partials[int64_t(u) * w.d + c];
    y[c] = sum;
  }
}

void BlockArgmax(const float* logits, int64_t rows, int n_blocks, int block,
                 int32_t* idx, float* probs) {
  // Rows and blocks are independent; a step's share one fork/join once there
  // are enough of them. One row of the medium shape (6144 logits) takes about
  // a microsecond vectorised, less than the fork/join.
  const int64_t n = rows * n_blocks;
  ParallelFor(n, Schedule::kStatic, n * block >= (1 << 15),
              [&](int64_t begin, int64_t end) {
                for (int64_t rb = begin; rb < end; ++rb) {
                  const float* l = logits + rb * block;
                  const int best = static_cast<int>(ArgmaxFirst(l, block));
                  idx[rb] = best;
                  if (probs != nullptr) {
                    float sum = 0;
                    for (int e = 0; e < block; ++e)
                      sum += std::exp(l[e] - l[best]);
                    probs[rb] = 1.0f / sum;
                  }
                }
              });
}

namespace {

// Output columns per item of the convolution, and so per packed weight block:
// 32 where M allows, two groups of 16 that the GEMM takes together (each input
// value it broadcasts then feeds two FMAs, with AVX-512 for all twelve rows of
// a tile). Paired in one process, the medium shape's layer (S 16, M 64) took
// 10.5 instead of 12.1 us with 16 columns an item; with 64 (three items for
// two threads) it took 12.8.
int ConvColumns(int M) {
  if (M % 32 == 0) return 32;
  return M % 16 == 0 ? 16 : M;
}

// Output columns [j0, j0 + cols) of every module at row t of one job.
void ConvItem(const CausalConvJob& job, int t, int j0, int cols, int S, int M,
              int kL) {
  const int half = (job.kS - 1) / 2, width = S * M;
  // This item's weights: every tap's M x cols slice, contiguous.
  const float* w = job.weight + int64_t(j0 / cols) * kL * job.kS * M * cols;
  float* o = job.out + int64_t(t) * width + j0;
  for (int s = 0; s < S; ++s)
    std::memcpy(o + int64_t(s) * M, job.bias + j0, sizeof(float) * cols);
  for (int i = 0; i < kL; ++i) {
    const int r = t + i;
    const float* in = r < kL - 1 ? job.history + int64_t(r) * width
                                 : job.y + int64_t(r - (kL - 1)) * width;
    for (int j = 0; j < job.kS; ++j) {
      // Output module s reads input module s - half + j, when it exists.
      const int s0 = std::max(0, half - j), s1 = std::min(S, S + half - j);
      if (s0 >= s1) continue;
      GemmAccumulate(in + int64_t(s0 - half + j) * M, M,
                     w + (int64_t(i) * job.kS + j) * M * cols, cols, M, cols,
                     o + int64_t(s0) * M, M, s1 - s0);
    }
  }
}

}  // namespace

std::vector<float> PackConvWeight(const std::vector<float>& hwio, int kL,
                                  int kS, int M) {
  const int cols = ConvColumns(M), taps = kL * kS;
  std::vector<float> packed(hwio.size());
  for (int blk = 0; blk < M / cols; ++blk) {
    for (int tap = 0; tap < taps; ++tap) {
      for (int r = 0; r < M; ++r) {
        std::copy_n(
            hwio.data() + (int64_t(tap) * M + r) * M + blk * cols, cols,
            packed.data() + ((int64_t(blk) * taps + tap) * M + r) * cols);
      }
    }
  }
  return packed;
}

void CausalConv(const CausalConvJob* jobs, int n_jobs, int S, int M, int kL) {
  // Each tap is one small GEMM: the modules of a position (rows M apart)
  // against the tap's M x M kernel, so a kernel row loaded once serves every
  // module. Items are (job, position, ConvColumns(M) output columns),
  // independent of each other; every job of the batch shares one fork/join.
  const int cols = ConvColumns(M), blocks = M / cols;
  struct Item {
    int job, item;        // item: t * blocks + block
    int64_t taps_before;  // kernel columns (kS) of the items before it
  };
  // The calling thread's, reused every layer.
  thread_local std::vector<Item> items;
  items.clear();
  int64_t taps = 0;
  for (int j = 0; j < n_jobs; ++j) {
    for (int i = 0; i < jobs[j].T * blocks; ++i) {
      items.push_back({j, i, taps});
      taps += jobs[j].kS;
    }
  }
  const int64_t work = taps * cols * S * M * kL;
  const bool parallel = work >= (int64_t(1) << 17);
  // The team reads the calling thread's list, not its own thread_local one.
  const Item* list = items.data();
  const int64_t n_items = static_cast<int64_t>(items.size());
  // Each thread runs a contiguous share of the items (its weights one stream)
  // of equal taps rather than equal count: a 3x3 item (Q, K) costs three 3x1
  // ones (V), and equal counts left one thread 54 of a layer's 84 GEMMs.
  ParallelRegion(parallel, [&](int t, int team) {
    for (int64_t i = 0; i < n_items; ++i) {
      if (list[i].taps_before * team / taps != t) continue;
      const CausalConvJob& job = jobs[list[i].job];
      ConvItem(job, list[i].item / blocks, (list[i].item % blocks) * cols, cols,
               S, M, kL);
    }
  });
}

}  // namespace terraserve::engine::kernels
