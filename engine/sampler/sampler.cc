#include "engine/sampler/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "engine/kernels/vector_ops.h"

namespace terraserve::engine {
namespace {

absl::Status Range(const char* field, double v, const char* range) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be in ", range, ", got ", v));
}

}  // namespace

absl::Status SamplingParams::Validate(int vocab_size) const {
  if (!(temperature >= 0 && temperature <= 100)) {
    return Range("sampling.temperature", temperature, "[0, 100]");
  }
  if (top_k < 0 || top_k > vocab_size) {
    return Range("sampling.top_k", top_k,
                 absl::StrCat("[0, ", vocab_size, "]").c_str());
  }
  if (!(top_p > 0 && top_p <= 1))
    return Range("sampling.top_p", top_p, "(0, 1]");
  if (!(min_p >= 0 && min_p <= 1))
    return Range("sampling.min_p", min_p, "[0, 1]");
  if (!(repetition_penalty > 0 && repetition_penalty <= 10)) {
    return Range("sampling.repetition_penalty", repetition_penalty, "(0, 10]");
  }
  if (!(frequency_penalty >= -2 && frequency_penalty <= 2)) {
    return Range("sampling.frequency_penalty", frequency_penalty, "[-2, 2]");
  }
  if (!(presence_penalty >= -2 && presence_penalty <= 2)) {
    return Range("sampling.presence_penalty", presence_penalty, "[-2, 2]");
  }
  if (top_logprobs < 0)
    return Range("output.top_logprobs", top_logprobs, ">= 0");
  return absl::OkStatus();
}

Sampler::Sampler(const SamplingParams& params,
                 const std::vector<int32_t>& prompt)
    : params_(params), rng_(params.seed), seen_(prompt) {}

void Sampler::ApplyPenalties(std::vector<float>& l) const {
  if (params_.repetition_penalty != 1.0f) {
    std::vector<bool> done(l.size(), false);
    for (int32_t id : seen_) {
      if (id < 0 || id >= static_cast<int32_t>(l.size()) || done[id]) continue;
      done[id] = true;
      l[id] = l[id] > 0 ? l[id] / params_.repetition_penalty
                        : l[id] * params_.repetition_penalty;
    }
  }
  if (params_.frequency_penalty != 0 || params_.presence_penalty != 0) {
    for (const auto& [id, count] : output_counts_) {
      l[id] -= params_.frequency_penalty * count + params_.presence_penalty;
    }
  }
}

namespace {

// The calling thread's scratch, reused by every token of every sequence it
// samples (the scheduler thread's, in the server): a vocabulary's worth of
// floats or ids each, so no allocation per token.
thread_local std::vector<float> tl_logprobs, tl_probs;
thread_local std::vector<int32_t> tl_ids, tl_nucleus, tl_rest;

// The walk order: most likely first, ties by id.
struct MoreLikely {
  const std::vector<float>& logprobs;
  bool operator()(int32_t a, int32_t b) const {
    return logprobs[a] > logprobs[b] || (logprobs[a] == logprobs[b] && a < b);
  }
};

// The first of `ids` in walk order at which the running sum of `weight`
// reaches `target` (the last if rounding leaves it short). What a walk over
// the sorted ids returns, without sorting them: a quickselect on the summed
// weight, expected O(n), reorders `ids`.
int32_t Crossing(std::vector<int32_t>& ids, double target,
                 const std::vector<float>& weight, MoreLikely before) {
  std::vector<int32_t>& rest = tl_rest;
  size_t n = ids.size();
  // A bounded number of passes: whatever is left after them is sorted, so
  // no order of the ids can make this quadratic.
  for (int pass = 0; n > 32 && pass < 48; ++pass) {
    int32_t pivot;
    if (n > 4096) {
      // A pivot near the top: the second most likely of 64 spread-out ids.
      // A model's mass sits in its few most likely tokens, so the walk's end
      // is usually among the ~3% before it, and the next passes are short.
      int32_t sample[64];
      for (int i = 0; i < 64; ++i) sample[i] = ids[i * n / 64];
      std::partial_sort(sample, sample + 2, sample + 64, before);
      pivot = sample[1];
    } else {
      // Median of three spread-out ids, for a balanced split on any order.
      int32_t a = ids[0], b = ids[n / 2], c = ids[n - 1];
      if (before(b, a)) std::swap(a, b);
      if (before(c, b)) std::swap(b, c);
      if (before(b, a)) std::swap(a, b);
      pivot = b;
    }
    // ids[0:m) go before the pivot, rest after it. Branch-free: which side
    // an id falls is a coin toss the branch predictor would lose.
    const float pivot_lp = before.logprobs[pivot];
    size_t m = 0, r = 0;
    double mass = 0;
    rest.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int32_t id = ids[i];
      const float lp = before.logprobs[id];
      const bool first = (lp > pivot_lp) | ((lp == pivot_lp) & (id < pivot));
      ids[m] = id;
      rest[r] = id;
      m += first;
      r += !first & (id != pivot);
      mass += double(weight[id]) * first;
    }
    if (mass >= target) {
      if (m == 0) return pivot;  // target <= 0: the first in the order
      n = m;
      continue;
    }
    target -= mass + weight[pivot];
    if (target <= 0) return pivot;
    std::copy(rest.begin(), rest.begin() + r, ids.begin());
    n = r;
    if (n == 0) return pivot;
  }
  std::sort(ids.begin(), ids.begin() + n, before);
  double cum = 0;
  for (size_t i = 0; i < n; ++i) {
    cum += weight[ids[i]];
    if (cum >= target) return ids[i];
  }
  return ids[n - 1];
}

}  // namespace

int32_t Sampler::Draw(const std::vector<float>& logprobs,
                      const std::vector<float>& probs) {
  // probs are exp(logprob - max logprob): proportional to the probabilities,
  // 1 for the most likely token. The walks (top_p's, then the draw's) go most
  // likely first, ties by id; sorting the vocabulary for them was most of a
  // token's sampling (4.4 ms at 32000 ids), so each finds where its running
  // sum crosses its target by selection instead (Crossing).
  const int V = static_cast<int>(logprobs.size());
  const MoreLikely before{logprobs};
  std::vector<int32_t>& ids = tl_ids;
  // The candidates: the top_k most likely, less those under min_p times the
  // most likely.
  const double floor = params_.min_p;  // the most likely token weighs 1
  ids.clear();
  if (params_.top_k > 0 && params_.top_k < V) {
    ids.resize(V);
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + params_.top_k, ids.end(),
                      before);
    ids.resize(params_.top_k);
    while (ids.size() > 1 && probs[ids.back()] < floor) ids.pop_back();
  } else {
    for (int i = 0; i < V; ++i) {
      if (probs[i] >= floor) ids.push_back(i);
    }
    // The most likely token weighs exactly 1 (ExpShifted(0) is 1), so only
    // NaN logits leave no candidate.
    if (ids.empty()) {
      int32_t best = 0;
      for (int i = 1; i < V; ++i) best = before(i, best) ? i : best;
      ids.push_back(best);
    }
  }
  double total = 0;
  for (int32_t id : ids) total += probs[id];
  if (params_.top_p < 1) {
    // The nucleus: every candidate up to and including the one where the
    // running sum reaches top_p of the total.
    std::vector<int32_t>& work = tl_nucleus;
    work = ids;
    const int32_t last = Crossing(work, params_.top_p * total, probs, before);
    size_t n = 0;
    total = 0;
    for (int32_t id : ids) {
      if (!before(last, id)) {
        ids[n++] = id;
        total += probs[id];
      }
    }
    ids.resize(n);
  }
  // One uniform draw per token, from this sequence's own stream.
  const double u =
      std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * total;
  return Crossing(ids, u, probs, before);
}

SampledToken Sampler::Sample(const float* logits, int vocab_size,
                             const std::vector<int32_t>& banned) {
  std::vector<float>& l = tl_logprobs;
  l.assign(logits, logits + vocab_size);
  for (int32_t id : banned) {
    if (id >= 0 && id < vocab_size) l[id] = -INFINITY;
  }
  ApplyPenalties(l);
  if (params_.temperature > 0) {
    for (float& v : l) v /= params_.temperature;
  }
  const float mx = MaxOf(l.data(), vocab_size);  // vectorised
  std::vector<float>& probs = tl_probs;
  probs.assign(l.begin(), l.end());
  const float sum = ExpShifted(probs.data(), vocab_size, mx);  // vectorised
  const float log_z = mx + std::log(sum);
  for (float& v : l) v -= log_z;  // now log-probabilities

  SampledToken out;
  if (params_.temperature == 0) {
    out.id = static_cast<int32_t>(ArgmaxFirst(l.data(), vocab_size));
  } else {
    out.id = Draw(l, probs);
  }
  out.logprob = l[out.id];
  if (params_.top_logprobs > 0) {
    std::vector<int32_t>& ids = tl_ids;
    ids.resize(vocab_size);
    std::iota(ids.begin(), ids.end(), 0);
    const int n = std::min(params_.top_logprobs, vocab_size);
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(), MoreLikely{l});
    for (int i = 0; i < n; ++i) out.top.emplace_back(ids[i], l[ids[i]]);
  }
  ++output_counts_[out.id];
  seen_.push_back(out.id);
  return out;
}

}  // namespace terraserve::engine
