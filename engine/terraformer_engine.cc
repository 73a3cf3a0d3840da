#include "engine/terraformer_engine.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "engine/base/status_macros.h"
#include "engine/weights/safetensors.h"

namespace terraserve::engine {
namespace {

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string BaseName(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  size_t slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

// ModelInfo::dtype: "f32", or "f32+bf16:" and the weights held in bf16 (the
// Sparse FF options only where the model has Sparse FF layers).
std::string WeightDtype(const ModelConfig& c, const EngineOptions& o) {
  const bool sparse = c.ff == FfKind::kSparse;
  std::vector<std::string> bf16;
  if (sparse && o.bf16_sparse_controller) bf16.push_back("sparse_controller");
  if (sparse && o.bf16_sparse_ff_rows) bf16.push_back("sparse_ff_rows");
  if (o.bf16_output_layer) bf16.push_back("output_layer");
  if (bf16.empty()) return "f32";
  return absl::StrCat("f32+bf16:", absl::StrJoin(bf16, ","));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TerraformerEngine>> TerraformerEngine::Create(
    const ModelConfig& config, WeightSource& weights,
    std::unique_ptr<Tokenizer> tokenizer, const EngineOptions& options,
    const std::string& model_id) {
  std::unique_ptr<TerraformerEngine> e(new TerraformerEngine());
  // oneDNN sizes each primitive's thread team when the primitive is created, so
  // the thread count must be set before the model builds them (and again per
  // Step, for the calling thread).
  if (options.num_threads > 0) omp_set_num_threads(options.num_threads);
  ModelConfig model_config = config;
  model_config.bf16_sparse_controller = options.bf16_sparse_controller;
  model_config.bf16_sparse_ff_rows = options.bf16_sparse_ff_rows;
  model_config.bf16_output_layer = options.bf16_output_layer;
  model_config.dense_kernel = options.dense_kernel;
  TS_ASSIGN_OR_RETURN(e->model_, TerraformerModel::Load(model_config, weights));
  e->tokenizer_ = std::move(tokenizer);
  if (options.kv_block_size <= 0) {
    return absl::InvalidArgumentError("kv_block_size must be > 0");
  }
  const int64_t bytes_per_token = KvBlockPool::BytesPerToken(
      config.n_attention_sublayers(), config.d_model, options.bf16_kv_cache);
  int64_t tokens = options.kv_cache_tokens;
  if (tokens <= 0 && options.kv_cache_bytes > 0)
    tokens = options.kv_cache_bytes / bytes_per_token;
  if (tokens <= 0) tokens = int64_t(config.max_len) * 16;
  const int64_t blocks =
      (tokens + options.kv_block_size - 1) / options.kv_block_size;
  if (blocks > (1 << 30))
    return absl::InvalidArgumentError("KV cache too large");
  TS_ASSIGN_OR_RETURN(
      e->pool_,
      KvBlockPool::Create(static_cast<int>(blocks), options.kv_block_size,
                          config.n_attention_sublayers(), config.d_model,
                          options.bf16_kv_cache));
  e->num_threads_ = options.num_threads;
  e->info_.model_id = model_id;
  e->info_.config = model_config;
  e->info_.dtype = WeightDtype(config, options);
  e->info_.parameters = e->model_->parameter_count();
  e->info_.max_context = config.learned_positions ? config.max_len : (1 << 20);
  e->info_.kv_block_size = options.kv_block_size;
  e->info_.kv_total_blocks = static_cast<int>(blocks);
  e->info_.kv_cache_bytes = e->pool_->bytes();
  return e;
}

absl::Status TerraformerEngine::AddSequence(SequenceId id, int64_t max_tokens) {
  if (sequences_.count(id))
    return absl::AlreadyExistsError(absl::StrCat("sequence ", id, " exists"));
  if (max_tokens <= 0 || max_tokens > info_.max_context) {
    return absl::InvalidArgumentError(
        absl::StrCat("a sequence may hold 1..", info_.max_context,
                     " positions, asked for ", max_tokens));
  }
  TS_ASSIGN_OR_RETURN(KvLease lease, pool_->Reserve(max_tokens));
  auto state = std::make_unique<SequenceState>(model_->NewSequenceState());
  state->kv = std::move(lease);
  sequences_[id] = std::move(state);
  return absl::OkStatus();
}

void TerraformerEngine::RemoveSequence(SequenceId id) { sequences_.erase(id); }

absl::Status TerraformerEngine::Encode(SequenceId id,
                                       const std::vector<int32_t>& source) {
  const ModelConfig& c = info_.config;
  if (c.architecture != "encoder_decoder") {
    return absl::FailedPreconditionError(absl::StrCat("model '", info_.model_id,
                                                      "' is ", c.architecture,
                                                      " and has no encoder"));
  }
  auto it = sequences_.find(id);
  if (it == sequences_.end())
    return absl::InvalidArgumentError(absl::StrCat("unknown sequence ", id));
  SequenceState* st = it->second.get();
  if (st->kv_len > 0 || st->prefix_len > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("sequence ", id, " is already encoded or stepped"));
  }
  const int64_t L = static_cast<int64_t>(source.size());
  const int64_t most = c.learned_positions ? c.max_len : INT32_MAX;
  if (L == 0 || L > most || L >= st->kv.capacity_tokens()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the source is ", L, " tokens; 1..",
                     std::min<int64_t>(most, st->kv.capacity_tokens() - 1),
                     " fit the encoder and the sequence's reserved positions"));
  }
  TS_RETURN_IF_ERROR(CheckTokens(source));
  UseThreads();
  return model_->Encode(source, st);
}

void TerraformerEngine::UseThreads() const {
  // Per calling thread: sets the team size of this thread's parallel regions.
  if (num_threads_ > 0) omp_set_num_threads(num_threads_);
}

absl::Status TerraformerEngine::CheckTokens(
    const std::vector<int32_t>& tokens) const {
  const int vocab = info_.config.vocab_size;
  for (int32_t tok : tokens) {
    if (tok < 0 || tok >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("token id ", tok, " outside [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status TerraformerEngine::Prepare(const StepInput& input,
                                        BatchContext* batch) {
  ids_.clear();
  positions_.clear();
  logit_rows_.clear();
  batch->kv = pool_.get();
  absl::flat_hash_set<SequenceId> seen;
  for (const StepItem& item : input.items) {
    auto it = sequences_.find(item.id);
    if (it == sequences_.end())
      return absl::InvalidArgumentError(
          absl::StrCat("unknown sequence ", item.id));
    if (!seen.insert(item.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", item.id, " twice in one step"));
    }
    if (item.tokens.empty())
      return absl::InvalidArgumentError("step item without tokens");
    SequenceState* st = it->second.get();
    const int64_t T = static_cast<int64_t>(item.tokens.size());
    // Decoder positions count from 0 after an encoder prefix (spec 4.5);
    // prefix rows take the encoder's output, not an embedding.
    const int64_t first = st->kv_len - st->prefix_len;
    if (st->kv_len + T > st->kv.capacity_tokens() ||
        first + T > info_.max_context) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", item.id, " would exceed its ",
                       st->kv.capacity_tokens(), " reserved positions"));
    }
    TS_RETURN_IF_ERROR(CheckTokens(item.tokens));
    batch->seqs.push_back({batch->rows, static_cast<int>(T), st->kv_len, st});
    for (int64_t t = 0; t < T; ++t) {
      ids_.push_back(item.tokens[t]);
      positions_.push_back(
          static_cast<int32_t>(std::max<int64_t>(0, first + t)));
    }
    batch->rows += T;
    if (item.need_logits) logit_rows_.push_back(batch->rows - 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<StepOutput> TerraformerEngine::Step(const StepInput& input) {
  const absl::Time start = absl::Now();
  UseThreads();
  BatchContext batch;
  TS_RETURN_IF_ERROR(Prepare(input, &batch));
  StepOutput out;
  out.logits.resize(logit_rows_.size() * size_t(info_.config.vocab_size));
  for (size_t i = 0; i < input.items.size(); ++i) {
    if (input.items[i].need_logits)
      out.logit_items.push_back(static_cast<int>(i));
  }
  if (batch.rows > 0) {
    TS_RETURN_IF_ERROR(model_->Forward(ids_, positions_, batch, logit_rows_,
                                       out.logits.data()));
  }
  for (const SeqSlice& s : batch.seqs) {
    s.state->kv_len += s.T;
    if (!s.state->prefix1.empty() && s.state->kv_len >= s.state->prefix_len) {
      // The prefix is in the KV cache now; its inputs are needed no more.
      std::vector<float>().swap(s.state->prefix1);
      std::vector<float>().swap(s.state->prefix2);
    }
    (s.T > 1 ? out.stats.prefill_tokens : out.stats.decode_tokens) += s.T;
  }
  out.stats.sequences = static_cast<int>(batch.seqs.size());
  out.stats.duration = absl::Now() - start;
  return out;
}

absl::StatusOr<std::unique_ptr<Engine>> LoadEngine(
    const std::string& model_dir, const EngineOptions& options) {
  TS_ASSIGN_OR_RETURN(std::string config_text,
                      ReadText(model_dir + "/config.json"));
  auto config = ModelConfig::FromJson(config_text);
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_dir, "/", config.status().message()));
  }
  TS_ASSIGN_OR_RETURN(auto tokenizer,
                      Tokenizer::Load(model_dir + "/tokenizer.model"));
  if (tokenizer->vocab_size() != config->vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        model_dir, ": tokenizer.model has ", tokenizer->vocab_size(),
        " pieces but config.json vocab_size is ", config->vocab_size));
  }
  std::unique_ptr<SafetensorsFile> file;
  std::unique_ptr<WeightSource> weights;
  if (options.dummy_weights) {
    weights = std::make_unique<RandomWeights>(/*seed=*/1);
  } else {
    TS_ASSIGN_OR_RETURN(
        file, SafetensorsFile::Open(model_dir + "/model.safetensors"));
    weights = std::make_unique<WeightLoader>(file.get());
  }
  auto engine = TerraformerEngine::Create(
      *config, *weights, std::move(tokenizer), options, BaseName(model_dir));
  if (!engine.ok()) {
    return absl::Status(
        engine.status().code(),
        absl::StrCat(model_dir, ": ", engine.status().message()));
  }
  return std::unique_ptr<Engine>(std::move(*engine));
}

}  // namespace terraserve::engine
