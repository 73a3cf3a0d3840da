// Engine implementation over TerraformerModel (engine layer).
// Thread-compatible.
#ifndef TERRASERVE_ENGINE_TERRAFORMER_ENGINE_H_
#define TERRASERVE_ENGINE_TERRAFORMER_ENGINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/engine.h"
#include "engine/kv_cache/kv_block_pool.h"
#include "engine/model/terraformer_model.h"

namespace terraserve::engine {

class TerraformerEngine final : public Engine {
 public:
  // Builds the model from `weights` (copied; the source may be dropped
  // afterwards). tokenizer may be null for engine-only benchmarks and tests.
  static absl::StatusOr<std::unique_ptr<TerraformerEngine>> Create(
      const ModelConfig& config, WeightSource& weights,
      std::unique_ptr<Tokenizer> tokenizer, const EngineOptions& options,
      const std::string& model_id);

  const ModelInfo& model_info() const override { return info_; }
  const Tokenizer& tokenizer() const override { return *tokenizer_; }
  absl::Status AddSequence(SequenceId id, int64_t max_tokens) override;
  void RemoveSequence(SequenceId id) override;
  absl::Status Encode(SequenceId id,
                      const std::vector<int32_t>& source) override;
  absl::StatusOr<StepOutput> Step(const StepInput& input) override;
  int free_kv_blocks() const override { return pool_->free_blocks(); }
  int64_t BlocksFor(int64_t tokens) const override {
    return pool_->BlocksFor(tokens);
  }
  int64_t decode_bytes_per_token() const override {
    return model_->decode_bytes_per_token();
  }
  int64_t decode_macs_per_token(int64_t context) const override {
    return model_->decode_macs_per_token(context);
  }

  TerraformerModel& model() { return *model_; }

 private:
  TerraformerEngine() = default;
  absl::Status Prepare(const StepInput& input, BatchContext* batch);
  // Sizes the calling thread's team (options.num_threads): its ThreadTeam
  // and, for oneDNN, its OpenMP team.
  void UseThreads() const;
  // INVALID_ARGUMENT for an id outside the vocabulary.
  absl::Status CheckTokens(const std::vector<int32_t>& tokens) const;

  ModelInfo info_;
  int num_threads_ = 0;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<TerraformerModel> model_;
  std::unique_ptr<KvBlockPool> pool_;
  absl::flat_hash_map<SequenceId, std::unique_ptr<SequenceState>> sequences_;
  std::vector<int32_t> ids_, positions_;
  std::vector<int64_t> logit_rows_;
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_TERRAFORMER_ENGINE_H_
