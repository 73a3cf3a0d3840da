#include "server/scheduler/batch_planner.h"

#include <algorithm>

namespace terraserve::server {

std::vector<int> PlanBatch(const std::vector<PlanRequest>& seqs,
                           const PlanOptions& options) {
  std::vector<int> plan(seqs.size(), 0);
  int budget = options.max_batch_tokens;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (!seqs[i].prefilling) {
      plan[i] = 1;
      --budget;
    }
  }
  for (size_t i = 0; i < seqs.size() && budget > 0; ++i) {
    if (!seqs[i].prefilling) continue;
    plan[i] = std::min(
        {seqs[i].remaining_prompt, options.prefill_chunk_tokens, budget});
    budget -= plan[i];
  }
  return plan;
}

}  // namespace terraserve::server
