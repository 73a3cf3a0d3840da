// kernels::Attention (declared in cpu_kernels.h).
//
// A decode query reads its sequence's whole cache once, so its speed is the
// rate at which the keys and values stream from memory. A head's keys are
// contiguous only within a KV block (block_size x head_dim floats, 4 KB at the
// medium shape) and the next block is elsewhere in the pool, which streams at
// a third of the machine's bandwidth when walked head by head. So a one-query
// job is split by position instead: each item covers a chunk of whole blocks
// for every head, reading each block's keys and then its values as single
// contiguous runs, and leaves a partial softmax (max, sum, weighted values) per
// head that a short merge combines. A prefill chunk has one item per
// (sequence, head): it transposes the head's keys once, then takes its queries
// twelve at a time, whose scores and weighted values are small GEMMs, so each
// key and value read serves twelve queries (one query at a time, as dot
// products, ran at half the rate on long prompts). A bf16 cache
// (KvView::bf16) is widened in registers as a decode query reads it (two
// instructions per vector, in pair order: bf16_pairs.h), and a block run at a
// time into scratch for a prefill chunk's GEMMs, which read each run many
// times.
#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/base/logging.h"
#include "engine/base/thread_team.h"
#include "engine/kernels/bf16_pairs.h"
#include "engine/kernels/cpu_kernels.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine::kernels {
namespace {

// Most positions per item of a one-query job (rounded to whole blocks):
// enough to keep a stream going, few enough that one sequence still feeds the
// team.
constexpr int64_t kChunkPositions = 64;

// Blocks per item of a one-query job over `blocks` KV blocks: kChunkPositions'
// worth, or fewer where that would leave one of the team's threads without an
// item.
int64_t BlocksPerItem(int64_t blocks, int block_size, int team) {
  const int64_t per = std::max<int64_t>(1, kChunkPositions / block_size);
  return std::max<int64_t>(1, std::min(per, (blocks + team - 1) / team));
}

// `run` rows of head h from position p (within one block) as f32: in place for
// an f32 cache, else widened into this thread's scratch (a few KB, from L1),
// so the prefill GEMMs serve both precisions. A decode query reads each run
// once, so it widens in registers instead (the bf16 Dot, GemvAccumulateBf16):
// through scratch, a bf16 run took as long as an f32 run of twice the bytes.
const float* RunF32(const KvView& kv, int64_t p, int h, int64_t run,
                    bool values) {
  if (!kv.bf16) return values ? kv.value(p, h) : kv.key(p, h);
  thread_local std::vector<float> wide;
  const int64_t n = run * kv.head_dim;
  wide.resize(static_cast<size_t>(n));
  const uint16_t* src = values ? kv.value16(p, h) : kv.key16(p, h);
  for (int64_t i = 0; i < n; ++i) wide[i] = Bf16ToFloat(src[i]);
  return wide.data();
}

// scores[i] = (qh . key(p0 + i, h)) / sqrt(dh) for positions [p0, p1); qh
// in pair order where `pairs` (a bf16 cache, bf16_pairs.h).
void Scores(const float* qh, int64_t p0, int64_t p1, int h, const KvView& kv,
            bool pairs, float* scores) {
  const int dh = kv.head_dim;
  for (int64_t p = p0; p < p1;) {
    const int64_t run =
        std::min<int64_t>(p1 - p, kv.block_size - p % kv.block_size);
    float* sc = scores + (p - p0);
    if (pairs) {
      DotsBf16Pairs(qh, kv.key16(p, h), run, dh, dh, sc);
    } else if (kv.bf16) {
      const uint16_t* keys = kv.key16(p, h);
      for (int64_t i = 0; i < run; ++i) sc[i] = Dot(qh, keys + i * dh, dh);
    } else {
      const float* keys = kv.key(p, h);
      int64_t i = 0;
      for (; i + 8 <= run; i += 8) Dot8(qh, keys + i * dh, dh, dh, sc + i);
      for (; i < run; ++i) sc[i] = Dot(qh, keys + i * dh, dh);
    }
    p += run;
  }
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(dh));
  for (int64_t i = 0; i < p1 - p0; ++i) scores[i] *= inv_sqrt;
}

// scores -> exp(scores - max); returns {max, sum of the exps}.
std::pair<float, float> Exponentiate(float* scores, int64_t n) {
  const float mx = MaxOf(scores, n);
  return {mx, ExpShifted(scores, n, mx)};
}

// oh += sum_i weights[i] * value(p0 + i, h) over positions [p0, p1); oh in
// pair order where `pairs`.
void WeightedValues(const float* weights, int64_t p0, int64_t p1, int h,
                    const KvView& kv, bool pairs, float* oh) {
  const int dh = kv.head_dim;
  for (int64_t p = p0; p < p1;) {
    const int64_t run =
        std::min<int64_t>(p1 - p, kv.block_size - p % kv.block_size);
    if (pairs) {
      AccumulateBf16Pairs(weights + (p - p0), kv.value16(p, h), run, dh, dh,
                          oh);
    } else if (kv.bf16) {
      GemvAccumulateBf16(weights + (p - p0), kv.value16(p, h), run, dh, dh, oh);
    } else {
      GemvAccumulate(weights + (p - p0), kv.value(p, h), run, dh, dh, oh);
    }
    p += run;
  }
}

thread_local std::vector<float> tl_scores;

// Queries of a prefill chunk attended together: the AVX-512 GEMM tile's rows
// (two of the AVX2 tile's), so each key and value read serves them all.
constexpr int kQueryTile = 12;

// `len` rounded up to whole vectors of 16 floats.
int64_t Columns(int64_t len) { return (len + 15) / 16 * 16; }

// A row stride of at least Columns(len) floats and an odd number of cache
// lines, so that the rows a GEMM reads together do not all fall in the same
// cache sets (with a multiple of 4 KB the prefill kernel ran at 48-51 G
// multiply-adds/s instead of 78-93).
int64_t RowStride(int64_t len) {
  const int64_t c = Columns(len);
  return c / 16 % 2 == 0 ? c + 16 : c;
}

// Keys [0, len) of head h as columns, [dh, RowStride(len)] (zero past len),
// scaled by 1 / sqrt(dh): the right-hand side of every tile's scores, built
// once per (sequence, head) of a prefill chunk. Returns the row stride.
int64_t TransposeKeys(const KvView& kv, int h, int64_t len,
                      std::vector<float>* kt) {
  const int dh = kv.head_dim;
  const int64_t ld = RowStride(len);
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(dh));
  kt->resize(static_cast<size_t>(dh * ld));
  // Only the padding: every column before len is written below.
  for (int i = 0; i < dh; ++i)
    std::fill(kt->begin() + i * ld + len, kt->begin() + (i + 1) * ld, 0.0f);
  for (int64_t p = 0; p < len;) {
    const int64_t run =
        std::min<int64_t>(len - p, kv.block_size - p % kv.block_size);
    const float* keys = RunF32(kv, p, h, run, /*values=*/false);
    for (int64_t r = 0; r < run; ++r) {
      for (int i = 0; i < dh; ++i)
        (*kt)[i * ld + p + r] = keys[r * dh + i] * inv_sqrt;
    }
    p += run;
  }
  return ld;
}

// Rows [t0, t0 + n) of `job` (n <= kQueryTile), head h, against kt from
// TransposeKeys: the tile's scores are one GEMM (queries x kt), and its
// outputs the softmax weights times each run of values, another. Each row
// weighs only the keys it may see; the tile's other keys get weight 0.
void AttendTile(const AttentionJob& job, int h, int t0, int n, const float* kt,
                int64_t ldk) {
  const KvView& kv = job.kv;
  const int dh = kv.head_dim;
  const int64_t len = job.causal ? job.start + t0 + n : job.start + job.T;
  const int64_t ld = Columns(len);
  // [n, ld]: each query's scores, then its softmax weights (unnormalised).
  tl_scores.assign(static_cast<size_t>(n * ld), 0.0f);
  float* sc = tl_scores.data();
  GemmAccumulate(job.q + int64_t(t0) * kv.d + int64_t(h) * dh, kv.d, kt, ldk,
                 dh, ld, sc, ld, n);
  float inv_sum[kQueryTile];
  for (int j = 0; j < n; ++j) {
    const int64_t seen = job.causal ? job.start + t0 + j + 1 : len;
    inv_sum[j] = 1.0f / Exponentiate(sc + j * ld, seen).second;
    std::fill(sc + j * ld + seen, sc + (j + 1) * ld, 0.0f);
  }
  float* out = job.out + int64_t(t0) * kv.d + int64_t(h) * dh;
  for (int j = 0; j < n; ++j) std::fill_n(out + j * kv.d, dh, 0.0f);
  for (int64_t p = 0; p < len;) {
    const int64_t run =
        std::min<int64_t>(len - p, kv.block_size - p % kv.block_size);
    GemmAccumulate(sc + p, ld, RunF32(kv, p, h, run, /*values=*/true), dh, run,
                   dh, out, kv.d, n);
    p += run;
  }
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < dh; ++i) out[j * kv.d + i] *= inv_sum[j];
  }
}

// Whether a one-query job over `kv` takes the pair-order kernels: a bf16
// cache whose heads are whole pair chunks. Its query is then put in pair
// order once per job, its chunks' weighted values stay in pair order through
// the merge, and the merged output is put back once.
bool PairOrder(const KvView& kv) {
  return kv.bf16 && kv.head_dim % kBf16PairChunk == 0;
}

// Every head of one query over positions [p0, p1), block by block so each
// block's keys, then its values, are read as one run. partial: per head
// {max, sum, head_dim weighted values}, unnormalised. q and the weighted
// values in pair order where `pairs`.
void AttendChunk(const float* q, int64_t p0, int64_t p1, int n_heads,
                 const KvView& kv, bool pairs, float* partial) {
  const int dh = kv.head_dim;
  const int64_t n = p1 - p0;
  tl_scores.resize(static_cast<size_t>(n_heads * n));
  float* sc = tl_scores.data();
  for (int64_t b = p0; b < p1; b += kv.block_size) {
    const int64_t e = std::min(p1, b + kv.block_size);
    for (int h = 0; h < n_heads; ++h) {
      Scores(q + h * dh, b, e, h, kv, pairs, sc + h * n + (b - p0));
    }
  }
  for (int h = 0; h < n_heads; ++h) {
    float* ph = partial + h * (dh + 2);
    std::tie(ph[0], ph[1]) = Exponentiate(sc + h * n, n);
    std::fill(ph + 2, ph + 2 + dh, 0.0f);
  }
  for (int64_t b = p0; b < p1; b += kv.block_size) {
    const int64_t e = std::min(p1, b + kv.block_size);
    for (int h = 0; h < n_heads; ++h) {
      WeightedValues(sc + h * n + (b - p0), b, e, h, kv, pairs,
                     partial + h * (dh + 2) + 2);
    }
  }
}

// out = the softmax-weighted values over all `chunks` partials of one query,
// their values in pair order where `pairs` (put back here).
void MergeChunks(const float* partials, int chunks, int n_heads, int dh,
                 bool pairs, float* out) {
  const int64_t stride = int64_t(n_heads) * (dh + 2);
  thread_local std::vector<float> merged;
  merged.resize(static_cast<size_t>(dh));
  for (int h = 0; h < n_heads; ++h) {
    float mx = -INFINITY;
    for (int c = 0; c < chunks; ++c)
      mx = std::max(mx, partials[c * stride + h * (dh + 2)]);
    float* oh = out + h * dh;
    float* acc = pairs ? merged.data() : oh;
    std::fill(acc, acc + dh, 0.0f);
    float sum = 0;
    for (int c = 0; c < chunks; ++c) {
      const float* ph = partials + c * stride + h * (dh + 2);
      const float scale = std::exp(ph[0] - mx);
      sum += scale * ph[1];
      Axpy(scale, ph + 2, acc, dh);
    }
    for (int i = 0; i < dh; ++i) acc[i] /= sum;
    if (pairs) FromPairOrder(acc, dh, oh);
  }
}

// An item of the team's loop: positions [p0, p1) of every head of a one-query
// job (head < 0), or one head of every query of a job.
struct Item {
  int job;
  int head;
  int64_t p0, p1;
  int64_t partial;  // offset of the item's partials, for one-query jobs
  int64_t query;    // offset of its query in pair order, or -1: job.q as is
};

// A one-query job's partials: `chunks` of them from offset `first`.
struct Merge {
  int job;
  int64_t first;
  int chunks;
  int64_t query;  // as Item::query
};

void RunItem(const Item& it, const AttentionJob* jobs, int n_heads,
             const float* pair_queries, float* partials) {
  const AttentionJob& job = jobs[it.job];
  if (it.head < 0) {
    const bool pairs = it.query >= 0;
    AttendChunk(pairs ? pair_queries + it.query : job.q, it.p0, it.p1, n_heads,
                job.kv, pairs, partials + it.partial);
    return;
  }
  thread_local std::vector<float> kt;
  const int64_t ldk = TransposeKeys(job.kv, it.head, job.start + job.T, &kt);
  for (int t = 0; t < job.T; t += kQueryTile)
    AttendTile(job, it.head, t, std::min(kQueryTile, job.T - t), kt.data(),
               ldk);
}

}  // namespace

void Attention(const AttentionJob* jobs, int n_jobs, int n_heads) {
  // The calling thread's lists, reused by every layer of every step.
  thread_local std::vector<Item> items;
  thread_local std::vector<Merge> merges;
  items.clear();
  merges.clear();
  int64_t work = 0, partial_floats = 0, query_floats = 0;
  const int team = TeamSize();
  for (int j = 0; j < n_jobs; ++j) {
    const AttentionJob& job = jobs[j];
    const KvView& kv = job.kv;
    TS_CHECK(kv.head_dim * n_heads == kv.d)
        << n_heads << " heads of " << kv.head_dim << " != " << kv.d;
    work += int64_t(job.T) * (job.start + job.T) * kv.d;
    if (job.T == 1) {
      const int64_t len = job.start + 1, bs = kv.block_size;
      const int64_t chunk = BlocksPerItem((len + bs - 1) / bs, bs, team) * bs;
      const bool pairs = PairOrder(kv);
      const int64_t query = pairs ? query_floats : -1;
      if (pairs) query_floats += kv.d;
      merges.push_back({j, partial_floats, 0, query});
      for (int64_t p = 0; p < len; p += chunk) {
        items.push_back(
            {j, -1, p, std::min(len, p + chunk), partial_floats, query});
        partial_floats += int64_t(n_heads) * (kv.head_dim + 2);
        ++merges.back().chunks;
      }
    } else {
      for (int h = 0; h < n_heads; ++h) items.push_back({j, h, 0, 0, 0, -1});
    }
  }
  // This thread's buffers, shared with the team.
  thread_local std::vector<float> partials, pair_queries;
  partials.resize(static_cast<size_t>(partial_floats));
  pair_queries.resize(static_cast<size_t>(query_floats));
  float* pa = partials.data();
  const float* pq = pair_queries.data();
  for (const Merge& m : merges) {
    if (m.query >= 0) {
      ToPairOrder(jobs[m.job].q, jobs[m.job].kv.d,
                  pair_queries.data() + m.query);
    }
  }
  // Split once the work outweighs the fork/join, about a microsecond: from a
  // block of one query (16 positions at d 1024, 128 KB of keys and values).
  // Dynamic: a prefill chunk's items are T times a decode's.
  const bool parallel = work >= (int64_t(1) << 14);
  // The team reads the calling thread's list, not its own thread_local one.
  const Item* list = items.data();
  const int64_t n_items = static_cast<int64_t>(items.size());
  ParallelFor(n_items, Schedule::kDynamic, parallel, [&](int64_t i, int64_t) {
    RunItem(list[i], jobs, n_heads, pq, pa);
  });
  for (const Merge& m : merges) {
    MergeChunks(pa + m.first, m.chunks, n_heads, jobs[m.job].kv.head_dim,
                m.query >= 0, jobs[m.job].out);
  }
}

}  // namespace terraserve::engine::kernels
