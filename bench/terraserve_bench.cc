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
// GEMM peak) for that step. The host's speed drifts by tens of percent
// between minutes, so the headline ratios (--interleave, the FF layer) come
// from both sides timed in turn.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
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
ABSL_FLAG(int, kv_block_size, terraserve::engine::EngineOptions().kv_block_size,
          "Positions per KV-cache block (EngineOptions::kv_block_size).");
ABSL_FLAG(bool, bf16_sparse_controller, false,
          "Hold Sparse FF controller weights in bf16 "
          "(EngineOptions::bf16_sparse_controller).");
ABSL_FLAG(bool, bf16_sparse_ff_rows, false,
          "Hold Sparse FF W1 / W2 rows in bf16 "
          "(EngineOptions::bf16_sparse_ff_rows).");
ABSL_FLAG(bool, bf16_output_layer, false,
          "Hold the output layer's weights in bf16, both models "
          "(EngineOptions::bf16_output_layer).");
ABSL_FLAG(std::string, dense_kernels, "auto",
          "Comma-separated dense matmul kernels to run each config with: auto, "
          "onednn, packed (EngineOptions::dense_kernel). With more than one, "
          "rows are labelled config/kernel.");
ABSL_FLAG(std::string, kv_cache_dtypes, "f32",
          "Comma-separated KV-cache precisions to run each config with: f32, "
          "bf16 (EngineOptions::bf16_kv_cache). With more than one, rows are "
          "labelled config/dtype.");
ABSL_FLAG(bool, interleave, false,
          "Also time the first two --configs (e.g. medium-dense against "
          "medium-sparse) at batch 1 and the first context with both engines "
          "loaded, 4 steps of one then 4 of the other, so the host's drift "
          "falls on both alike.");
ABSL_FLAG(bool, ff_layers, true,
          "Also time one FF layer alone at the medium shape, dense against "
          "Sparse FF, both f 6144, a pass of each in turn.");

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

// Adds sequences 0 .. batch-1 with room for `steps` more tokens and prefills
// each with `context` random tokens; returns the seconds it took.
absl::StatusOr<double> Prefill(engine::TerraformerEngine& eng, int batch,
                               int context, int steps, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> tok(
      4, eng.model_info().config.vocab_size - 1);
  for (int b = 0; b < batch; ++b) {
    TS_RETURN_IF_ERROR(eng.AddSequence(b, context + steps + 1));
  }
  auto t0 = Clock::now();
  for (int b = 0; b < batch; ++b) {
    for (int done = 0; done < context; done += 512) {
      engine::StepInput in;
      in.items.push_back({b, {}, true});
      for (int i = done; i < std::min(context, done + 512); ++i)
        in.items[0].tokens.push_back(tok(rng));
      TS_RETURN_IF_ERROR(eng.Step(in).status());
    }
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// `n` decode steps of sequences 0 .. batch-1, each step's milliseconds
// appended to `ms` (when not null).
absl::Status Decode(engine::TerraformerEngine& eng, int batch, int n,
                    std::mt19937& rng, std::vector<double>* ms) {
  std::uniform_int_distribution<int32_t> tok(
      4, eng.model_info().config.vocab_size - 1);
  for (int s = 0; s < n; ++s) {
    engine::StepInput in;
    for (int b = 0; b < batch; ++b) in.items.push_back({b, {tok(rng)}, true});
    auto t = Clock::now();
    TS_RETURN_IF_ERROR(eng.Step(in).status());
    if (ms != nullptr)
      ms->push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  return absl::OkStatus();
}

absl::StatusOr<CaseResult> RunCase(engine::TerraformerEngine& eng,
                                   bool bf16_kv_cache, const std::string& name,
                                   int batch, int context,
                                   const MachineLimits& limits) {
  const engine::ModelConfig& c = eng.model_info().config;
  const int steps = absl::GetFlag(FLAGS_decode_steps),
            warmup = absl::GetFlag(FLAGS_warmup_steps);
  std::mt19937 rng(batch * 7919 + context);
  TS_ASSIGN_OR_RETURN(const double prefill_s,
                      Prefill(eng, batch, context, steps + warmup, rng));
  std::vector<double> ms;
  TS_RETURN_IF_ERROR(Decode(eng, batch, warmup, rng, nullptr));
  TS_RETURN_IF_ERROR(Decode(eng, batch, steps, rng, &ms));
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

// One FF sublayer (LayerNorm + FF) on one row, timed per call over 24 layers
// in turn so the weights come from memory as in a real model.
struct FfLayers {
  int d = 0;
  std::vector<std::unique_ptr<engine::FfSublayer>> layers;
  engine::Scratch scratch;  // shared by the layers, as in a model
  std::vector<double> us;

  double median_us() const { return Percentile(us, 0.5); }
  double mb() const { return layers[0]->decode_bytes_per_token() / 1e6; }
};

absl::StatusOr<FfLayers> LoadFfLayers(engine::ModelConfig c) {
  c.bf16_sparse_controller = absl::GetFlag(FLAGS_bf16_sparse_controller);
  c.bf16_sparse_ff_rows = absl::GetFlag(FLAGS_bf16_sparse_ff_rows);
  engine::RandomWeights weights(2);
  FfLayers f;
  f.d = c.d_model;
  for (int i = 0; i < 24; ++i) {
    TS_ASSIGN_OR_RETURN(auto l, engine::FfSublayer::Load(weights, "ff", c, 0));
    f.layers.push_back(std::move(l));
  }
  return f;
}

// One call of each of the 24 layers on a new random row.
absl::Status TimeFfPass(FfLayers& f, std::mt19937& rng) {
  std::vector<float> x(f.d), y(f.d);
  std::normal_distribution<float> n(0, 1);
  engine::BatchContext batch;
  batch.rows = 1;
  for (auto& l : f.layers) {
    for (float& v : x) v = n(rng);
    auto t = Clock::now();
    TS_RETURN_IF_ERROR(l->Forward(x.data(), batch, &f.scratch, y.data()));
    f.us.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  return absl::OkStatus();
}

// The dense FF layer against the Sparse FF one of the same d_ff (6144), a pass
// of each in turn so host drift falls on both alike.
void RunFfLayers(nlohmann::json& j) {
  auto sparse_config = BenchConfig("medium-sparse");
  auto dense_config = BenchConfig("medium-dense");
  dense_config->d_ff = sparse_config->d_ff;
  auto dense = LoadFfLayers(*dense_config),
       sparse = LoadFfLayers(*sparse_config);
  std::mt19937 rng(3);
  absl::Status s = dense.status();
  if (s.ok()) s = sparse.status();
  for (int rep = 0; rep < 20 && s.ok(); ++rep) {
    s = TimeFfPass(*dense, rng);
    if (s.ok()) s = TimeFfPass(*sparse, rng);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "FF layer timing failed: %s\n", s.ToString().c_str());
    return;
  }
  const double d_us = dense->median_us(), s_us = sparse->median_us();
  std::printf(
      "FF layer alone, batch 1, d 1024, f 6144: dense %.1f us (%.1f MB), "
      "Sparse FF N 64 %.1f us (%.2f MB): %.1fx\n",
      d_us, dense->mb(), s_us, sparse->mb(), d_us / s_us);
  j["ff_layer"] = {{"dense_us", d_us},
                   {"dense_mb", dense->mb()},
                   {"sparse_us", s_us},
                   {"sparse_mb", sparse->mb()},
                   {"sparse_vs_dense", d_us / s_us}};
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

// An engine of `config` on random weights, its cache sized for `batch`
// sequences of `context` tokens plus the decode steps.
absl::StatusOr<std::unique_ptr<engine::TerraformerEngine>> MakeEngine(
    const engine::ModelConfig& config, const std::string& label,
    const Variant& variant, int batch, int context) {
  engine::EngineOptions options;
  options.bf16_sparse_controller = absl::GetFlag(FLAGS_bf16_sparse_controller);
  options.bf16_sparse_ff_rows = absl::GetFlag(FLAGS_bf16_sparse_ff_rows);
  options.bf16_output_layer = absl::GetFlag(FLAGS_bf16_output_layer);
  options.num_threads = absl::GetFlag(FLAGS_threads);
  options.kv_block_size = absl::GetFlag(FLAGS_kv_block_size);
  options.dense_kernel = variant.kernel;
  options.bf16_kv_cache = variant.bf16_kv_cache;
  options.kv_cache_tokens =
      int64_t(batch) * (context + absl::GetFlag(FLAGS_decode_steps) +
                        absl::GetFlag(FLAGS_warmup_steps) + 32);
  engine::RandomWeights weights(1);
  return engine::TerraformerEngine::Create(config, weights, nullptr, options,
                                           label);
}

// The first two of `names` (a baseline, then the one compared; Main checks
// there are two) at batch 1, both loaded, decoded 4 steps at a time in turn:
// the ratio of their medians then sees the same host.
absl::Status RunInterleaved(const std::vector<std::string>& names,
                            const Variant& variant, nlohmann::json* j) {
  const int context = ParseInts(absl::GetFlag(FLAGS_contexts)).front();
  const int steps = absl::GetFlag(FLAGS_decode_steps),
            warmup = absl::GetFlag(FLAGS_warmup_steps);
  std::unique_ptr<engine::TerraformerEngine> engines[2];
  std::mt19937 rng(7);
  for (int i = 0; i < 2; ++i) {
    TS_ASSIGN_OR_RETURN(engine::ModelConfig config, BenchConfig(names[i]));
    TS_ASSIGN_OR_RETURN(engines[i], MakeEngine(config, names[i] + variant.label,
                                               variant, 1, context));
    TS_RETURN_IF_ERROR(
        Prefill(*engines[i], 1, context, steps + warmup, rng).status());
    TS_RETURN_IF_ERROR(Decode(*engines[i], 1, warmup, rng, nullptr));
  }
  std::vector<double> ms[2];
  for (int done = 0; done < steps; done += 4) {
    for (int i = 0; i < 2; ++i) {
      TS_RETURN_IF_ERROR(
          Decode(*engines[i], 1, std::min(4, steps - done), rng, &ms[i]));
    }
  }
  const double base = Percentile(ms[0], 0.5), other = Percentile(ms[1], 0.5);
  std::printf(
      "interleaved%s, batch 1, context %d, %d steps each, 4 at a time: "
      "%s %.2f ms, %s %.2f ms: %.2fx faster\n",
      variant.label.c_str(), context, steps, names[0].c_str(), base,
      names[1].c_str(), other, base / other);
  (*j)["interleaved"].push_back({{"variant", variant.label},
                                 {"context", context},
                                 {"baseline", names[0]},
                                 {"baseline_ms", base},
                                 {"compared", names[1]},
                                 {"compared_ms", other},
                                 {"speedup", base / other}});
  return absl::OkStatus();
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
  TS_ASSIGN_OR_RETURN(auto eng,
                      MakeEngine(config, label, variant, max_b, max_c));
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
  // The largest step here was a prefill chunk of min(context, 512) rows.
  std::printf("%s: the layers' shared working buffers hold %.1f MB\n",
              label.c_str(), eng->model().scratch_bytes() / 1e6);
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
  const std::vector<std::string> configs =
      absl::StrSplit(absl::GetFlag(FLAGS_configs), ',', absl::SkipEmpty());
  if (absl::GetFlag(FLAGS_interleave) && configs.size() < 2) {
    std::fprintf(stderr, "--interleave needs two --configs\n");
    return 2;
  }
  std::vector<CaseResult> results;
  nlohmann::json layer_costs;
  for (const std::string& name : configs) {
    for (const Variant& v : *variants) {
      const std::string label = absl::StrCat(name, v.label);
      absl::Status s =
          RunConfig(name, label, v, limits, &results, &layer_costs);
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return absl::IsInvalidArgument(s) || absl::IsNotFound(s) ? 2 : 1;
      }
    }
  }
  nlohmann::json j = Summarize(results, limits, std::move(layer_costs));
  if (absl::GetFlag(FLAGS_interleave)) {
    for (const Variant& v : *variants) {
      if (absl::Status s = RunInterleaved(configs, v, &j); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
    }
  }
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
