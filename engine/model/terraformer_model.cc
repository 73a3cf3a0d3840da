#include "engine/model/terraformer_model.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/kernels/cpu_kernels.h"
#include "engine/kernels/packed_linear.h"
#include "engine/kernels/vector_ops.h"
#include "engine/layers/attention_sublayer.h"
#include "engine/layers/ff_sublayer.h"
#include "engine/model/weight_loader.h"

namespace terraserve::engine {

absl::StatusOr<std::unique_ptr<TerraformerModel>> TerraformerModel::Load(
    const ModelConfig& c, WeightSource& loader) {
  TS_RETURN_IF_ERROR(c.Validate());
  auto m = std::make_unique<TerraformerModel>();
  m->config_ = c;
  const int d = c.d_model;
  TS_ASSIGN_OR_RETURN(m->embed_, loader.Take("embed", {c.vocab_size, d}));
  if (c.learned_positions) {
    TS_ASSIGN_OR_RETURN(m->pos_, loader.Take("pos", {c.max_len, d}));
  }
  int k = 0, attn_index = 0, ff_index = 0;
  for (int block = 0; block < c.n_layers; ++block) {
    for (int a = 0; a < c.attn_per_block; ++a, ++k) {
      TS_ASSIGN_OR_RETURN(
          auto s, AttentionSublayer::Load(loader, absl::StrCat("dec.", k), c,
                                          attn_index++));
      m->sublayers_.push_back(std::move(s));
    }
    TS_ASSIGN_OR_RETURN(
        auto f,
        FfSublayer::Load(loader, absl::StrCat("dec.", k++), c, ff_index++));
    m->ff_sublayers_.push_back(f.get());
    m->sublayers_.push_back(std::move(f));
  }
  if (c.architecture == "encoder_decoder") {
    if (c.learned_positions) {
      TS_ASSIGN_OR_RETURN(m->enc_pos_, loader.Take("enc_pos", {c.max_len, d}));
    }
    // Each encoder block: bidirectional attention, then FF (whose SRU carries,
    // if any, are the encoder's own: index i of a scratch state).
    for (int i = 0; i < c.n_encoder_layers; ++i) {
      TS_ASSIGN_OR_RETURN(auto a, AttentionSublayer::LoadEncoder(
                                      loader, absl::StrCat("enc.", 2 * i), c));
      m->encoder_.push_back(std::move(a));
      TS_ASSIGN_OR_RETURN(
          auto f,
          FfSublayer::Load(loader, absl::StrCat("enc.", 2 * i + 1), c, i));
      m->encoder_.push_back(std::move(f));
    }
  }
  TS_ASSIGN_OR_RETURN(m->final_scale_, loader.Take("final_ln.scale", {d}));
  TS_ASSIGN_OR_RETURN(m->final_bias_, loader.Take("final_ln.bias", {d}));
  // The output projection [d, vocab], in bf16 if asked.
  auto output_linear = [&](const std::vector<float>& w,
                           const std::vector<float>& b)
      -> absl::StatusOr<std::unique_ptr<Linear>> {
    if (c.bf16_output_layer) return MakePackedBf16Linear(w, b, d, c.vocab_size);
    return MakeLinear(w, b, d, c.vocab_size, c.dense_kernel);
  };
  if (c.output == OutputKind::kDense) {
    TS_ASSIGN_OR_RETURN(auto w,
                        loader.Take("output.proj.weight", {d, c.vocab_size}));
    TS_ASSIGN_OR_RETURN(auto b,
                        loader.Take("output.proj.bias", {c.vocab_size}));
    TS_ASSIGN_OR_RETURN(m->out_linear_, output_linear(w, b));
  } else if (c.output == OutputKind::kTied) {
    std::vector<float> t(m->embed_.size());
    for (int v = 0; v < c.vocab_size; ++v) {
      for (int i = 0; i < d; ++i)
        t[int64_t(i) * c.vocab_size + v] = m->embed_[int64_t(v) * d + i];
    }
    TS_ASSIGN_OR_RETURN(m->out_linear_, output_linear(t, {}));
  } else {
    TS_ASSIGN_OR_RETURN(
        m->out_fd_,
        FactoredDense::Load(loader, "output.proj", c.loss_modules, d,
                            c.vocab_size, c.dense_kernel, c.bf16_output_layer));
  }
  TS_RETURN_IF_ERROR(loader.CheckAllUsed());
  m->parameter_count_ = loader.elements_taken();
  return m;
}

SequenceState TerraformerModel::NewSequenceState() const {
  SequenceState s;
  const int n_attn = config_.n_attention_sublayers();
  if (config_.attention == AttentionKind::kSparseQkv) {
    s.conv_history.assign(
        n_attn, std::vector<float>(int64_t(config_.conv_length_kernel - 1) *
                                   config_.d_model));
  } else {
    s.conv_history.assign(n_attn, {});
  }
  s.sru_carry.assign(
      config_.n_layers,
      std::vector<float>(int64_t(config_.sru_layers) * config_.sru_width));
  return s;
}

absl::Status TerraformerModel::RunStack(
    const std::vector<std::unique_ptr<Sublayer>>& sublayers, bool reversible,
    const BatchContext& batch, int d, std::vector<float>* x1,
    std::vector<float>* x2, std::vector<float>* branch) {
  const int64_t n = batch.rows * d;
  branch->resize(n);
  for (auto& sub : sublayers) {
    // Reversible half-residual then swap (spec 4.2): x1 += F(x2); (x1, x2) =
    // (x2, x1).
    const float* in = reversible ? x2->data() : x1->data();
    TS_RETURN_IF_ERROR(sub->Forward(in, batch, &scratch_, branch->data()));
    Axpy(1.0f, branch->data(), x1->data(), n);
    if (reversible) x1->swap(*x2);
  }
  return absl::OkStatus();
}

absl::Status TerraformerModel::Encode(const std::vector<int32_t>& source,
                                      SequenceState* state) {
  const int d = config_.d_model;
  const int64_t L = static_cast<int64_t>(source.size());
  SequenceState scratch;
  scratch.sru_carry.assign(
      config_.n_encoder_layers,
      std::vector<float>(int64_t(config_.sru_layers) * config_.sru_width));
  BatchContext batch;
  batch.rows = L;
  batch.seqs.push_back({0, static_cast<int>(L), 0, &scratch});
  std::vector<int32_t> positions(L);
  for (int64_t i = 0; i < L; ++i) positions[i] = static_cast<int32_t>(i);
  std::vector<float> e1(L * d), e2, branch;
  kernels::Embed(embed_.data(), enc_pos_.empty() ? nullptr : enc_pos_.data(),
                 source.data(), positions.data(), L, d, e1.data());
  e2 = e1;
  // The encoder is always reversible; both streams feed the decoder.
  TS_RETURN_IF_ERROR(RunStack(encoder_, true, batch, d, &e1, &e2, &branch));
  state->prefix_len = L;
  state->prefix1 = std::move(e1);
  state->prefix2 = std::move(e2);
  return absl::OkStatus();
}

void TerraformerModel::PlacePrefixRows(const BatchContext& batch) {
  const int d = config_.d_model;
  for (const SeqSlice& s : batch.seqs) {
    const SequenceState& st = *s.state;
    const int64_t rows = std::min<int64_t>(s.T, st.prefix_len - s.start);
    if (rows <= 0) continue;
    const int64_t from = s.start * d, count = rows * d;
    std::copy_n(st.prefix1.data() + from, count, x1_.data() + s.row * d);
    // A non-reversible decoder reads only x1 (the reference's first stream).
    if (config_.reversible)
      std::copy_n(st.prefix2.data() + from, count, x2_.data() + s.row * d);
  }
}

absl::Status TerraformerModel::Forward(const std::vector<int32_t>& ids,
                                       const std::vector<int32_t>& positions,
                                       const BatchContext& batch,
                                       const std::vector<int64_t>& logit_rows,
                                       float* logits) {
  const int d = config_.d_model;
  x1_.resize(batch.rows * d);
  kernels::Embed(embed_.data(), pos_.empty() ? nullptr : pos_.data(),
                 ids.data(), positions.data(), batch.rows, d, x1_.data());
  if (config_.reversible) x2_.assign(x1_.begin(), x1_.end());
  if (!encoder_.empty()) PlacePrefixRows(batch);
  TS_RETURN_IF_ERROR(
      RunStack(sublayers_, config_.reversible, batch, d, &x1_, &x2_, &branch_));
  const int64_t out_rows = static_cast<int64_t>(logit_rows.size());
  picked_.resize(out_rows * d);
  for (int64_t i = 0; i < out_rows; ++i) {
    const float* a = x1_.data() + logit_rows[i] * d;
    float* p = picked_.data() + i * d;
    if (config_.reversible) {
      const float* b = x2_.data() + logit_rows[i] * d;
      for (int j = 0; j < d; ++j) p[j] = (a[j] + b[j]) * 0.5f;
    } else {
      std::memcpy(p, a, sizeof(float) * d);
    }
  }
  normed_.resize(out_rows * d);
  kernels::LayerNorm(picked_.data(), out_rows, d, final_scale_.data(),
                     final_bias_.data(),
                     /*center=*/true, normed_.data());
  return Output(normed_.data(), out_rows, logits);
}

absl::Status TerraformerModel::Output(const float* h, int64_t rows,
                                      float* logits) {
  if (rows == 0) return absl::OkStatus();
  if (out_fd_ != nullptr) return out_fd_->Forward(h, rows, &scratch_, logits);
  return out_linear_->Forward(h, rows, logits);
}

std::vector<TerraformerModel::LayerCost> TerraformerModel::DecodeCosts(
    int64_t context) const {
  const int64_t d = config_.d_model;
  std::vector<LayerCost> costs;
  costs.push_back({"embedding", d * 4 * (pos_.empty() ? 1 : 2), 0});
  for (const auto& s : sublayers_) {
    costs.push_back({s->kind(), s->decode_bytes_per_token(),
                     s->decode_macs_per_token(context)});
  }
  const char* output = out_fd_ ? "output (factored)"
                       : config_.output == OutputKind::kTied ? "output (tied)"
                                                             : "output (dense)";
  costs.push_back(
      {output, out_fd_ ? out_fd_->weight_bytes() : out_linear_->weight_bytes(),
       d * config_.vocab_size});
  return costs;
}

int64_t TerraformerModel::decode_bytes_per_token() const {
  int64_t b = 0;
  for (const LayerCost& c : DecodeCosts(0)) b += c.weight_bytes;
  return b;
}

int64_t TerraformerModel::decode_macs_per_token(int64_t context) const {
  int64_t m = 0;
  for (const LayerCost& c : DecodeCosts(context)) m += c.macs;
  return m;
}

void TerraformerModel::SetSparseFfPath(int path) {
  for (FfSublayer* ff : ff_sublayers_)
    ff->set_sparse_path(static_cast<SparseFf::Path>(path));
}

}  // namespace terraserve::engine
