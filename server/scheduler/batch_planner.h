// Chooses what each running sequence feeds the next engine step
// (server/scheduler layer). A pure function of its inputs, so it is
// table-tested.
//
// Policy: every decoding sequence gets its one token first (decodes keep their
// inter-token latency), then prefilling sequences in admission order get prompt
// chunks of at most `prefill_chunk_tokens`, until `max_batch_tokens` is used
// up.
#ifndef TERRASERVE_SERVER_SCHEDULER_BATCH_PLANNER_H_
#define TERRASERVE_SERVER_SCHEDULER_BATCH_PLANNER_H_

#include <vector>

namespace terraserve::server {

struct PlanRequest {
  bool prefilling = false;
  int remaining_prompt = 0;  // tokens of prompt still to prefill
};

struct PlanOptions {
  int max_batch_tokens = 512;
  int prefill_chunk_tokens = 256;
};

// Returns, for each entry of `seqs` (in order), how many tokens it feeds this
// step (0 = skipped this step). Decoding sequences always get 1, even past the
// budget, so a full batch of decodes can never starve.
std::vector<int> PlanBatch(const std::vector<PlanRequest>& seqs,
                           const PlanOptions& options);

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_SCHEDULER_BATCH_PLANNER_H_
