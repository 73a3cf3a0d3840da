// Optimised CPU kernels used by the model. Each has a naive twin with the same
// signature in reference_kernels.h, and tests compare the two on random shapes.
// All functions are pure (write only their outputs) and thread-safe.
#ifndef TERRASERVE_ENGINE_KERNELS_CPU_KERNELS_H_
#define TERRASERVE_ENGINE_KERNELS_CPU_KERNELS_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "engine/kernels/kernel_types.h"

namespace terraserve::engine::kernels {

// y = LayerNorm(x) over rows of d: centred (x - mean) / sqrt(var + 1e-6) *
// scale + bias, or the RMS variant x / sqrt(mean(x^2) + 1e-6) * scale when
// !center.
void LayerNorm(const float* x, int64_t rows, int d, const float* scale,
               const float* bias, bool center, float* y);

// In-place softmax of each of `rows` rows of n values.
void Softmax(float* x, int64_t rows, int64_t n);

// out[i] = table[ids[i]] (+ pos_table[positions[i]] when pos_table is not
// null).
void Embed(const float* table, const float* pos_table, const int32_t* ids,
           const int32_t* positions, int64_t n, int d, float* out);

// Multi-head attention for each of n_jobs sequences (AttentionJob).
// Every (sequence, head) pair of the whole batch is shared over the thread team
// in one parallel region, so a decode step pays one fork/join per layer rather
// than one per sequence.
void Attention(const AttentionJob* jobs, int n_jobs, int n_heads);

// Sparse FF at inference for `rows` rows: for each row and block b the unit
// e = idx[b] is active (idx, probs: [rows, n_blocks]):
// y = sum_b relu(x . w1t[b*N+e]) * scale_b * w2[e, b] + b2, where scale_b is
// probs[b] if probs is not null, else 1. x, y: [rows, d]. Reads only the chosen
// rows, in place.
void SparseFfRows(const float* x, int64_t rows, const int32_t* idx,
                  const float* probs, const SparseFfWeights& w, float* y);

// The one-row case of SparseFfRows as a phase of a parallel region of the
// caller's, which may choose the units in the same phase: every thread t of
// the region's team calls it with the same `next` (zero before the region);
// the blocks are handed out in chunks, and for each chunk [b0, b1) the
// thread first calls choose(b0, b1), which must fill idx and probs of those
// blocks (or nothing, if they are known). h: [n_blocks], partials: [team, d]
// of scratch shared by the team. Ends, after a TeamBarrier, with y written.
void SparseFfRowPhase(const float* x, const int32_t* idx, const float* probs,
                      const SparseFfWeights& w,
                      absl::FunctionRef<void(int, int)> choose,
                      std::atomic<int64_t>* next, int t, int team, float* h,
                      float* partials, float* y);

// Whether one row is worth the team's fork/join (else its region should run
// on the calling thread alone).
bool SparseFfRowIsParallel(const SparseFfWeights& w);

// Per block of N logits of each of `rows` rows (logits [rows, n_blocks * N]):
// index of the largest (first on ties) and, if probs is not null, its softmax
// probability within the block (idx, probs: [rows, n_blocks]).
void BlockArgmax(const float* logits, int64_t rows, int n_blocks, int block,
                 int32_t* idx, float* probs);

// Causal convolution over (length, module), as trax LocallyConvDense
// (spec 2.2), for every job at once (CausalConvJob: one sequence and one
// kernel each); modules S of M channels, kL taps over length.
// Weights must be laid out by PackConvWeight: each item's columns of every
// tap contiguous, so it reads one stream rather than a line every M floats.
void CausalConv(const CausalConvJob* jobs, int n_jobs, int S, int M, int kL);

// A [kL, kS, M, M] (HWIO) kernel in the layout CausalConv reads:
// [M / c, kL * kS, M, c] with c = 32 output columns when M is a multiple of
// 32, else 16 when it is one of 16, else c = M (then the layout is
// unchanged).
std::vector<float> PackConvWeight(const std::vector<float>& hwio, int kL,
                                  int kS, int M);

}  // namespace terraserve::engine::kernels

#endif  // TERRASERVE_ENGINE_KERNELS_CPU_KERNELS_H_
