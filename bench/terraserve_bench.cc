// terraserve-bench: engine-only decode and prefill speed on random weights,
// side by side with this machine's memory-bandwidth and GEMM limits measured in
// the same run.
//
//   terraserve-bench --configs=medium-dense,medium-sparse
//   --batch_sizes=1,4,16,64
//       --contexts=256 --json_out=bench.json [--pytorch]
//
// For each config, batch B and context C: B sequences are prefilled with C
// random tokens, then decoded --decode_steps steps after --warmup_steps. One
// step produces one token for every sequence, so "ms/token" is the step time a
// stream sees between tokens. The bound is max(bytes read / bandwidth, flops /
// GEMM peak) for that step.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_configs.h"
#include "bench/machine_limits.h"
#include "engine/base/status_macros.h"
#include "engine/kernels/onednn_linear.h"
#include "engine/kernels/vector_ops.h"
#include "engine/layers/ff_sublayer.h"
#include "engine/terraformer_engine.h"

ABSL_FLAG(std::string, configs, "medium-dense,medium-sparse",
          "Comma-separated configs.");
ABSL_FLAG(std::string, batch_sizes, "1,4,16,64",
          "Comma-separated batch sizes.");
ABSL_FLAG(std::string, contexts, "256",
          "Comma-separated context lengths (prompt tokens).");
ABSL_FLAG(int, decode_steps, 32, "Measured decode steps per case.");
ABSL_FLAG(int, warmup_steps, 4, "Decode steps run before measuring.");
ABSL_FLAG(std::string, json_out, "", "Write results here as JSON.");
ABSL_FLAG(bool, pytorch, false,
          "Also time training/bench_torch.py on medium-dense at batch 1 and 16 "
          "(when in --batch_sizes) "
          "(same machine, same run).");
ABSL_FLAG(std::string, source_dir, ".", "Repository root (for --pytorch).");
ABSL_FLAG(
    int, threads, 0,
    "Engine threads per step (EngineOptions::num_threads); 0 = all cores.");
ABSL_FLAG(bool, bf16_sparse_controller, false,
          "Hold Sparse FF controller weights in bf16 "
          "(EngineOptions::bf16_sparse_controller).");
ABSL_FLAG(std::string, dense_kernels, "auto",
          "Comma-separated dense matmul kernels to run each config with: auto, "
          "onednn, packed (EngineOptions::dense_kernel). With more than one, "
          "rows are labelled config/kernel.");
ABSL_FLAG(std::string, kv_cache_dtypes, "f32",
          "Comma-separated KV-cache precisions to run each config with: f32, "
          "bf16 (EngineOptions::bf16_kv_cache). With more than one, rows are "
          "labelled config/dtype.");
ABSL_FLAG(bool, ff_layers, true,
          "Also time one FF layer alone at the medium shape: dense f 4096 vs "
          "Sparse FF f 6144.");

namespace terraserve::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<int> ParseInts(const std::string& s) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    int v = 0;
    if (absl::SimpleAtoi(part, &v) && v > 0) out.push_back(v);
  }
  return out;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

struct CaseResult {
  std::string config;
  int batch = 0, context = 0;
  double ms_median = 0, ms_p90 = 0, tokens_per_s = 0, prefill_tokens_per_s = 0;
  double mb_per_step = 0, gflop_per_step = 0, bound_ms = 0;
};

absl::StatusOr<CaseResult> RunCase(engine::TerraformerEngine& eng,
                                   bool bf16_kv_cache, const std::string& name,
                                   int batch, int context,
                                   const MachineLimits& limits) {
  const engine::ModelConfig& c = eng.model_info().config;
  const int steps = absl::GetFlag(FLAGS_decode_steps),
            warmup = absl::GetFlag(FLAGS_warmup_steps);
  std::mt19937 rng(batch * 7919 + context);
  std::uniform_int_distribution<int32_t> tok(4, c.vocab_size - 1);
  for (int b = 0; b < batch; ++b) {
    if (auto s = eng.AddSequence(b, context + steps + warmup + 1); !s.ok())
      return s;
  }
  auto t0 = Clock::now();
  for (int b = 0; b < batch; ++b) {
    for (int done = 0; done < context; done += 512) {
      engine::StepInput in;
      in.items.push_back({b, {}, true});
      for (int i = done; i < std::min(context, done + 512); ++i)
        in.items[0].tokens.push_back(tok(rng));
      if (auto out = eng.Step(in); !out.ok()) return out.status();
    }
  }
  const double prefill_s =
      std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> ms;
  for (int s = 0; s < warmup + steps; ++s) {
    engine::StepInput in;
    for (int b = 0; b < batch; ++b) in.items.push_back({b, {tok(rng)}, true});
    auto t = Clock::now();
    if (auto out = eng.Step(in); !out.ok()) return out.status();
    if (s >= warmup)
      ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  for (int b = 0; b < batch; ++b) eng.RemoveSequence(b);
  CaseResult r;
  r.config = name;
  r.batch = batch;
  r.context = context;
  r.ms_median = Percentile(ms, 0.5);
  r.ms_p90 = Percentile(ms, 0.9);
  r.tokens_per_s = batch * 1000.0 / r.ms_median;
  r.prefill_tokens_per_s = batch * context / prefill_s;
  const int64_t mid_context = context + warmup + steps / 2;
  const double kv_bytes =
      double(engine::KvBlockPool::BytesPerToken(c.n_attention_sublayers(),
                                                c.d_model, bf16_kv_cache)) *
      mid_context * batch;
  r.mb_per_step = (eng.decode_bytes_per_token() + kv_bytes) / 1e6;
  r.gflop_per_step = 2.0 * eng.decode_macs_per_token(mid_context) * batch / 1e9;
  r.bound_ms = std::max(r.mb_per_step / 1e3 / limits.read_gbps,
                        r.gflop_per_step / limits.gemm_gflops) *
               1e3;
  return r;
}

// Time of one FF sublayer (LayerNorm + FF) on one row, cycling through 24
// layers so the weights come from memory as in a real model, median over many
// tokens.
struct FfLayerResult {
  double us = 0;
  double mb = 0;
};

absl::StatusOr<FfLayerResult> TimeFfLayer(engine::ModelConfig c) {
  c.bf16_sparse_controller = absl::GetFlag(FLAGS_bf16_sparse_controller);
  engine::RandomWeights weights(2);
  std::vector<std::unique_ptr<engine::FfSublayer>> layers;
  for (int i = 0; i < 24; ++i) {
    auto l = engine::FfSublayer::Load(weights, "ff", c, 0);
    if (!l.ok()) return l.status();
    layers.push_back(std::move(*l));
  }
  std::vector<float> x(c.d_model), y(c.d_model);
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0, 1);
  engine::BatchContext batch;
  batch.rows = 1;
  std::vector<double> us;
  for (int rep = 0; rep < 20; ++rep) {
    for (auto& l : layers) {
      for (float& v : x) v = n(rng);
      auto t = Clock::now();
      if (auto s = l->Forward(x.data(), batch, y.data()); !s.ok()) return s;
      us.push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
  }
  return FfLayerResult{Percentile(us, 0.5),
                       layers[0]->decode_bytes_per_token() / 1e6};
}

void RunFfLayers(nlohmann::json& j) {
  auto sparse = BenchConfig("medium-sparse");
  auto dense = BenchConfig("medium-dense");
  dense->d_ff = sparse->d_ff;  // the dense FF of the same d_ff (6144)
  auto d = TimeFfLayer(*dense), s = TimeFfLayer(*sparse);
  if (!d.ok() || !s.ok()) {
    std::fprintf(stderr, "FF layer timing failed\n");
    return;
  }
  std::printf(
      "FF layer alone, batch 1, d 1024, f 6144: dense %.1f us (%.1f MB), "
      "Sparse FF N 64"
      " %.1f us (%.2f MB): %.1fx\n",
      d->us, d->mb, s->us, s->mb, d->us / s->us);
  j["ff_layer"] = {{"dense_us", d->us},
                   {"dense_mb", d->mb},
                   {"sparse_us", s->us},
                   {"sparse_mb", s->mb},
                   {"sparse_vs_dense", d->us / s->us}};
}

// Weight bytes and multiply-adds one decode token costs in each kind of layer
// of `model` (at `context` cached positions), printed and returned as JSON.
nlohmann::json LayerCosts(const std::string& name,
                          const engine::TerraformerModel& model, int context) {
  struct Kind {
    int count = 0;
    int64_t bytes = 0, macs = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Kind> kinds;
  for (const auto& c : model.DecodeCosts(context)) {
    if (!kinds.count(c.kind)) order.push_back(c.kind);
    Kind& k = kinds[c.kind];
    ++k.count;
    k.bytes += c.weight_bytes;
    k.macs += c.macs;
  }
  std::printf("%s, one decode token at context %d, by layer:\n", name.c_str(),
              context);
  std::printf("  %-34s %5s %10s %10s\n", "layer", "count", "MB each",
              "MMAC each");
  nlohmann::json j;
  for (const std::string& kind : order) {
    const Kind& k = kinds[kind];
    const double mb = k.bytes / 1e6 / k.count, mmac = k.macs / 1e6 / k.count;
    std::printf("  %-34s %5d %10.3f %10.3f\n", kind.c_str(), k.count, mb, mmac);
    j.push_back({{"layer", kind},
                 {"count", k.count},
                 {"mb_each", mb},
                 {"mmac_each", mmac}});
  }
  return j;
}

double RunPytorch(int context, int batch) {
  const std::string cmd =
      absl::StrCat("/usr/bin/python3 ", absl::GetFlag(FLAGS_source_dir),
                   "/training/bench_torch.py --config medium-dense --context ",
                   context, " --tokens 16 --batch ", batch);
  std::fprintf(stderr, "running: %s\n", cmd.c_str());
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char line[512];
  double ms = -1;
  while (std::fgets(line, sizeof(line), p)) {
    std::string l(line);
    if (l.rfind("ms_per_token=", 0) == 0) ms = std::stod(l.substr(13));
  }
  pclose(p);
  return ms;
}

// Results as JSON, plus the sparse-vs-dense, FF-layer and PyTorch comparisons
// printed as they are computed.
nlohmann::json Summarize(const std::vector<CaseResult>& results,
                         const MachineLimits& limits,
                         nlohmann::json layer_costs) {
  nlohmann::json j;
  j["layer_costs"] = std::move(layer_costs);
  j["machine"] = {{"read_gbps", limits.read_gbps},
                  {"read_gbps_1t", limits.read_gbps_1t},
                  {"gemm_gflops", limits.gemm_gflops},
                  {"vector_isa", engine::VectorIsa()}};
  std::map<std::pair<int, int>, std::map<std::string, double>> by_case;
  for (const auto& r : results) {
    j["results"].push_back({{"config", r.config},
                            {"batch", r.batch},
                            {"context", r.context},
                            {"ms_per_token_median", r.ms_median},
                            {"ms_per_token_p90", r.ms_p90},
                            {"tokens_per_s", r.tokens_per_s},
                            {"prefill_tokens_per_s", r.prefill_tokens_per_s},
                            {"mb_per_step", r.mb_per_step},
                            {"gflop_per_step", r.gflop_per_step},
                            {"bound_ms", r.bound_ms}});
    by_case[{r.batch, r.context}][r.config] = r.ms_median;
  }
  // medium-dense/V against medium-sparse/V, for each variant V.
  const std::string dense = "medium-dense", sparse = "medium-sparse";
  for (const auto& [key, ms] : by_case) {
    for (const auto& [label, dense_ms] : ms) {
      if (label.rfind(dense, 0) != 0) continue;
      const std::string variant = label.substr(dense.size());
      auto s = ms.find(sparse + variant);
      if (s == ms.end()) continue;
      const double x = dense_ms / s->second;
      std::printf(
          "sparse vs dense decode speedup%s at batch %d, context %d: %.2fx\n",
          variant.c_str(), key.first, key.second, x);
      j["speedups"].push_back({{"batch", key.first},
                               {"context", key.second},
                               {"variant", variant},
                               {"sparse_vs_dense", x}});
    }
  }
  if (absl::GetFlag(FLAGS_ff_layers)) RunFfLayers(j);
  if (absl::GetFlag(FLAGS_pytorch)) {
    const int context = ParseInts(absl::GetFlag(FLAGS_contexts)).front();
    for (int batch : ParseInts(absl::GetFlag(FLAGS_batch_sizes))) {
      if (batch != 1 && batch != 16) continue;
      const double torch_ms = RunPytorch(context, batch);
      nlohmann::json row = {
          {"batch", batch}, {"context", context}, {"ms_per_token", torch_ms}};
      if (by_case[{batch, context}].count("medium-dense") && torch_ms > 0) {
        const double ours = by_case[{batch, context}]["medium-dense"];
        std::printf(
            "PyTorch medium-dense batch %d: %.2f ms/step; terraserve %.2f "
            "ms/step: %.2fx faster\n",
            batch, torch_ms, ours, torch_ms / ours);
        row["terraserve_speedup"] = torch_ms / ours;
      }
      j["pytorch_medium_dense"].push_back(row);
    }
  }
  return j;
}

absl::StatusOr<engine::DenseKernel> ParseKernel(absl::string_view name) {
  if (name == "auto") return engine::DenseKernel::kAuto;
  if (name == "onednn") return engine::DenseKernel::kOnednn;
  if (name == "packed") return engine::DenseKernel::kPacked;
  return absl::InvalidArgumentError(absl::StrCat(
      "--dense_kernels: '", name, "' is not auto, onednn or packed"));
}

// One way to run every config: dense kernel and KV-cache precision.
struct Variant {
  std::string label;  // appended to the config name when there are several
  engine::DenseKernel kernel;
  bool bf16_kv_cache;
};

// Every combination of --dense_kernels and --kv_cache_dtypes, labelled by
// the lists that have more than one entry.
absl::StatusOr<std::vector<Variant>> ParseVariants() {
  const std::vector<std::string> kernels = absl::StrSplit(
      absl::GetFlag(FLAGS_dense_kernels), ',', absl::SkipEmpty());
  const std::vector<std::string> dtypes = absl::StrSplit(
      absl::GetFlag(FLAGS_kv_cache_dtypes), ',', absl::SkipEmpty());
  std::vector<Variant> variants;
  for (const std::string& k : kernels) {
    TS_ASSIGN_OR_RETURN(engine::DenseKernel kernel, ParseKernel(k));
    for (const std::string& dtype : dtypes) {
      if (dtype != "f32" && dtype != "bf16") {
        return absl::InvalidArgumentError(absl::StrCat(
            "--kv_cache_dtypes: '", dtype, "' is not f32 or bf16"));
      }
      std::string label;
      if (kernels.size() > 1) absl::StrAppend(&label, "/", k);
      if (dtypes.size() > 1) absl::StrAppend(&label, "/", dtype);
      variants.push_back({label, kernel, dtype == "bf16"});
    }
  }
  if (variants.empty())
    return absl::InvalidArgumentError(
        "no --dense_kernels or --kv_cache_dtypes");
  return variants;
}

// Every case of one config in one variant, printed as they finish.
absl::Status RunConfig(const std::string& name, const std::string& label,
                       const Variant& variant, const MachineLimits& limits,
                       std::vector<CaseResult>* results,
                       nlohmann::json* layer_costs) {
  TS_ASSIGN_OR_RETURN(engine::ModelConfig config, BenchConfig(name));
  const std::vector<int> batches = ParseInts(absl::GetFlag(FLAGS_batch_sizes));
  const std::vector<int> contexts = ParseInts(absl::GetFlag(FLAGS_contexts));
  const int max_b = *std::max_element(batches.begin(), batches.end());
  const int max_c = *std::max_element(contexts.begin(), contexts.end());
  engine::EngineOptions options;
  options.bf16_sparse_controller = absl::GetFlag(FLAGS_bf16_sparse_controller);
  options.num_threads = absl::GetFlag(FLAGS_threads);
  options.dense_kernel = variant.kernel;
  options.bf16_kv_cache = variant.bf16_kv_cache;
  options.kv_cache_tokens =
      int64_t(max_b) * (max_c + absl::GetFlag(FLAGS_decode_steps) +
                        absl::GetFlag(FLAGS_warmup_steps) + 32);
  engine::RandomWeights weights(1);
  TS_ASSIGN_OR_RETURN(auto eng, engine::TerraformerEngine::Create(
                                    config, weights, nullptr, options, label));
  (*layer_costs)[label] = LayerCosts(label, eng->model(), contexts.front());
  std::printf("%-21s %5s %7s %9s %9s %9s %11s %9s %9s %9s %7s\n", "config",
              "batch", "context", "ms/token", "p90", "tok/s", "prefill/s",
              "MB/step", "GFLOP", "bound_ms", "x_bound");
  for (int context : contexts) {
    for (int batch : batches) {
      TS_ASSIGN_OR_RETURN(CaseResult r, RunCase(*eng, variant.bf16_kv_cache,
                                                label, batch, context, limits));
      std::printf(
          "%-21s %5d %7d %9.2f %9.2f %9.1f %11.0f %9.1f %9.3f %9.2f %7.2f\n",
          r.config.c_str(), r.batch, r.context, r.ms_median, r.ms_p90,
          r.tokens_per_s, r.prefill_tokens_per_s, r.mb_per_step,
          r.gflop_per_step, r.bound_ms, r.ms_median / r.bound_ms);
      std::fflush(stdout);
      results->push_back(r);
    }
  }
  return absl::OkStatus();
}

int Main() {
  std::fprintf(stderr, "measuring machine limits...\n");
  const MachineLimits limits = MeasureMachineLimits();
  std::printf(
      "machine: read %.1f GB/s (1 thread %.1f), f32 GEMM %.0f GFLOP/s, "
      "vector ISA %s, oneDNN f32 matmul weights %s\n",
      limits.read_gbps, limits.read_gbps_1t, limits.gemm_gflops,
      engine::VectorIsa(),
      engine::OnednnMatmulKeepsWeightsPlain() ? "plain (auto = packed)"
                                              : "blocked (auto = onednn)");
  // Flags are checked before the first (minutes-long) case runs.
  absl::StatusOr<std::vector<Variant>> variants = ParseVariants();
  if (!variants.ok()) {
    std::fprintf(stderr, "%s\n", variants.status().ToString().c_str());
    return 2;
  }
  std::vector<CaseResult> results;
  nlohmann::json layer_costs;
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_configs), ',', absl::SkipEmpty())) {
    for (const Variant& v : *variants) {
      const std::string label = absl::StrCat(name, v.label);
      absl::Status s = RunConfig(std::string(name), label, v, limits, &results,
                                 &layer_costs);
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return absl::IsInvalidArgument(s) || absl::IsNotFound(s) ? 2 : 1;
      }
    }
  }
  nlohmann::json j = Summarize(results, limits, std::move(layer_costs));
  if (!absl::GetFlag(FLAGS_json_out).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_json_out)) << j.dump(2) << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace terraserve::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Engine decode/prefill benchmark on random weights.");
  absl::ParseCommandLine(argc, argv);
  return terraserve::bench::Main();
}
