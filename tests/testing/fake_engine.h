// An Engine whose logits are scripted, for scheduler tests (no model, no
// threads). Each sequence's i-th sampled position makes token script(id, i) the
// clear argmax. KV blocks are counted like the real engine's pool.
#ifndef TERRASERVE_TESTS_TESTING_FAKE_ENGINE_H_
#define TERRASERVE_TESTS_TESTING_FAKE_ENGINE_H_

#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"

namespace terraserve::testing {

class FakeEngine final : public engine::Engine {
 public:
  using Script = std::function<int32_t(engine::SequenceId, int)>;

  FakeEngine(std::unique_ptr<engine::Tokenizer> tokenizer, int total_blocks,
             int block_size, Script script)
      : tokenizer_(std::move(tokenizer)),
        script_(std::move(script)),
        free_(total_blocks) {
    info_.model_id = "fake";
    info_.config.vocab_size = tokenizer_->vocab_size();
    info_.config.eos_id = tokenizer_->eos_id();
    info_.max_context = 4096;
    info_.kv_block_size = block_size;
    info_.kv_total_blocks = total_blocks;
  }

  const engine::ModelInfo& model_info() const override { return info_; }
  const engine::Tokenizer& tokenizer() const override { return *tokenizer_; }

  absl::Status AddSequence(engine::SequenceId id, int64_t max_tokens) override {
    if (seqs_.count(id)) return absl::AlreadyExistsError("exists");
    const int64_t need = BlocksFor(max_tokens);
    if (need > free_) return absl::ResourceExhaustedError("KV cache full");
    free_ -= static_cast<int>(need);
    seqs_[id] = {static_cast<int>(need), 0};
    return absl::OkStatus();
  }
  void RemoveSequence(engine::SequenceId id) override {
    auto it = seqs_.find(id);
    if (it == seqs_.end()) return;
    free_ += it->second.first;
    seqs_.erase(it);
  }
  absl::Status Encode(engine::SequenceId id,
                      const std::vector<int32_t>& source) override {
    if (!encode_status_.ok()) return encode_status_;
    encoded_[id] = source;
    return absl::OkStatus();
  }
  absl::StatusOr<engine::StepOutput> Step(
      const engine::StepInput& input) override {
    ++steps_;
    if (fail_next_step_) {
      fail_next_step_ = false;
      return absl::InternalError("injected engine failure");
    }
    engine::StepOutput out;
    const int V = info_.config.vocab_size;
    for (size_t i = 0; i < input.items.size(); ++i) {
      const auto& item = input.items[i];
      auto it = seqs_.find(item.id);
      if (it == seqs_.end())
        return absl::InvalidArgumentError(absl::StrCat("unknown ", item.id));
      batch_sizes_.push_back(static_cast<int>(input.items.size()));
      if (!item.need_logits) continue;
      out.logit_items.push_back(static_cast<int>(i));
      std::vector<float> row(V, 0.0f);
      row[script_(item.id, it->second.second++)] = 50.0f;
      out.logits.insert(out.logits.end(), row.begin(), row.end());
    }
    out.stats.sequences = static_cast<int>(input.items.size());
    return out;
  }
  int free_kv_blocks() const override { return free_; }
  int64_t BlocksFor(int64_t tokens) const override {
    return (tokens + info_.kv_block_size - 1) / info_.kv_block_size;
  }
  int64_t decode_bytes_per_token() const override { return 0; }
  int64_t decode_macs_per_token(int64_t) const override { return 0; }

  int steps_ = 0;
  bool fail_next_step_ = false;
  std::vector<int> batch_sizes_;
  absl::Status encode_status_;  // what Encode returns when not OK
  std::map<engine::SequenceId, std::vector<int32_t>> encoded_;

 private:
  engine::ModelInfo info_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
  Script script_;
  int free_;
  std::map<engine::SequenceId, std::pair<int, int>>
      seqs_;  // blocks, sampled count
};

}  // namespace terraserve::testing

#endif  // TERRASERVE_TESTS_TESTING_FAKE_ENGINE_H_
