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
// floats each, so no allocation per token.
thread_local std::vector<float> tl_logprobs, tl_probs;
thread_local std::vector<int32_t> tl_order;

}  // namespace

int32_t Sampler::Draw(const std::vector<float>& logprobs,
                      const std::vector<float>& probs) {
  // probs are exp(logprob - max logprob): proportional to the probabilities,
  // 1 for the most likely token. The candidates are walked most likely first,
  // ties by id. That order is needed only as far as the walks go, which for a
  // trained model's distribution is the first few hundred of its tens of
  // thousands of tokens, so it is sorted on demand, in growing steps (a full
  // sort was most of a token's sampling: 4.4 ms at 32000 tokens).
  const int V = static_cast<int>(logprobs.size());
  std::vector<int32_t>& order = tl_order;
  order.resize(V);
  std::iota(order.begin(), order.end(), 0);
  auto by_prob = [&](int32_t a, int32_t b) {
    return logprobs[a] > logprobs[b] || (logprobs[a] == logprobs[b] && a < b);
  };
  int sorted = 0;
  auto nth = [&](int i) {
    if (i >= sorted) {
      // Sort the next, four times larger, block of the rest.
      const int upto = std::min(V, std::max({i + 1, 4 * sorted, 64}));
      std::partial_sort(order.begin() + sorted, order.begin() + upto,
                        order.end(), by_prob);
      sorted = upto;
    }
    return order[i];
  };
  // The candidates: the top_k most likely, less those under min_p times the
  // most likely; `total` is their summed weight. They are a prefix of the
  // order.
  const double floor = params_.min_p;  // the most likely token weighs 1
  int keep = 0;
  double total = 0;
  if (params_.top_k > 0 && params_.top_k < V) {
    while (keep < params_.top_k && (keep == 0 || probs[nth(keep)] >= floor))
      total += probs[nth(keep++)];
  } else {
    for (int i = 0; i < V; ++i) {
      if (probs[i] >= floor) {
        ++keep;
        total += probs[i];
      }
    }
  }
  if (params_.top_p < 1) {
    double cum = 0;
    int n = 0;
    while (n < keep && cum < params_.top_p * total) cum += probs[nth(n++)];
    keep = std::max(n, 1);
    total = cum;
  }
  // One uniform draw per token, from this sequence's own stream.
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * total;
  for (int i = 0; i < keep; ++i) {
    if ((u -= probs[nth(i)]) <= 0) return order[i];
  }
  return nth(keep - 1);
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
  const float mx = *std::max_element(l.begin(), l.end());
  std::vector<float>& probs = tl_probs;
  probs.assign(l.begin(), l.end());
  const float sum = ExpShifted(probs.data(), vocab_size, mx);  // vectorised
  const float log_z = mx + std::log(sum);
  for (float& v : l) v -= log_z;  // now log-probabilities

  SampledToken out;
  if (params_.temperature == 0) {
    out.id =
        static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
  } else {
    out.id = Draw(l, probs);
  }
  out.logprob = l[out.id];
  if (params_.top_logprobs > 0) {
    std::vector<int32_t>& ids = tl_order;
    ids.resize(vocab_size);
    std::iota(ids.begin(), ids.end(), 0);
    const int n = std::min(params_.top_logprobs, vocab_size);
    std::partial_sort(ids.begin(), ids.begin() + n, ids.end(),
                      [&](int32_t a, int32_t b) {
                        return l[a] > l[b] || (l[a] == l[b] && a < b);
                      });
    for (int i = 0; i < n; ++i) out.top.emplace_back(ids[i], l[ids[i]]);
  }
  ++output_counts_[out.id];
  seen_.push_back(out.id);
  return out;
}

}  // namespace terraserve::engine
