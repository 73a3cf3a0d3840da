// Model shapes the benchmarks run on (bench layer): the trax
// decoding-timing-test "medium" pair and a tiny shape for smoke runs.
#ifndef TERRASERVE_BENCH_BENCH_CONFIGS_H_
#define TERRASERVE_BENCH_BENCH_CONFIGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"

namespace terraserve::bench {

// "medium-dense": 24 decoder layers, d 1024, H 16, f 4096, vocab 32000, dense.
// "medium-sparse": the same with Sparse FF (f 6144, N 64, r 96), Sparse QKV (S
// 16) and the factored output layer (S 4). "tiny-dense" / "tiny-sparse": 2
// layers, d 128. Anything else is read as a path to a config.json.
absl::StatusOr<engine::ModelConfig> BenchConfig(const std::string& name);

}  // namespace terraserve::bench

#endif  // TERRASERVE_BENCH_BENCH_CONFIGS_H_
