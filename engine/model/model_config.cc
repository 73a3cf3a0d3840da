#include "engine/model/model_config.h"

#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace terraserve::engine {
namespace {

using Json = nlohmann::json;

absl::Status Bad(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("config.json: ", field, ": ", what));
}

absl::Status ReadInt(const Json& v, const std::string& key, int* out) {
  if (!v.is_number_integer()) return Bad(key, "must be an integer");
  long long x = v.get<long long>();
  if (x < -1 || x > (1 << 30))
    return Bad(key, absl::StrCat("out of range: ", x));
  *out = static_cast<int>(x);
  return absl::OkStatus();
}

absl::Status ReadBool(const Json& v, const std::string& key, bool* out) {
  if (!v.is_boolean()) return Bad(key, "must be true or false");
  *out = v.get<bool>();
  return absl::OkStatus();
}

template <typename E>
absl::Status ReadEnum(const Json& v, const std::string& key,
                      const std::map<std::string, E>& names, E* out) {
  std::string allowed;
  for (const auto& [n, e] : names)
    absl::StrAppend(&allowed, allowed.empty() ? "" : ", ", n);
  if (!v.is_string()) return Bad(key, absl::StrCat("must be one of ", allowed));
  auto it = names.find(v.get<std::string>());
  if (it == names.end()) {
    return Bad(key, absl::StrCat("'", v.get<std::string>(), "' is not one of ",
                                 allowed));
  }
  *out = it->second;
  return absl::OkStatus();
}

absl::Status Positive(const std::string& field, int v) {
  return v > 0 ? absl::OkStatus()
               : Bad(field, absl::StrCat("must be > 0, got ", v));
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfig::FromJson(
    const std::string& json_text) {
  Json j = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("config.json is not a JSON object");
  }
  ModelConfig c;
  using Reader = std::function<absl::Status(const Json&, const std::string&)>;
  auto i = [](int* p) -> Reader {
    return
        [p](const Json& v, const std::string& k) { return ReadInt(v, k, p); };
  };
  auto b = [](bool* p) -> Reader {
    return
        [p](const Json& v, const std::string& k) { return ReadBool(v, k, p); };
  };
  const std::map<std::string, Reader> fields = {
      {"architecture",
       [&c](const Json& v, const std::string& k) {
         if (!v.is_string()) return Bad(k, "must be a string");
         c.architecture = v.get<std::string>();
         return absl::OkStatus();
       }},
      {"vocab_size", i(&c.vocab_size)},
      {"d_model", i(&c.d_model)},
      {"n_heads", i(&c.n_heads)},
      {"n_layers", i(&c.n_layers)},
      {"n_encoder_layers", i(&c.n_encoder_layers)},
      {"max_len", i(&c.max_len)},
      {"attn_per_block", i(&c.attn_per_block)},
      {"attention",
       [&c](const Json& v, const std::string& k) {
         return ReadEnum<AttentionKind>(
             v, k,
             {{"dense", AttentionKind::kDense},
              {"sparse_qkv", AttentionKind::kSparseQkv}},
             &c.attention);
       }},
      {"qkv_modules", i(&c.qkv_modules)},
      {"conv_length_kernel", i(&c.conv_length_kernel)},
      {"ff",
       [&c](const Json& v, const std::string& k) {
         return ReadEnum<FfKind>(
             v, k, {{"dense", FfKind::kDense}, {"sparse", FfKind::kSparse}},
             &c.ff);
       }},
      {"d_ff", i(&c.d_ff)},
      {"ff_block_size", i(&c.ff_block_size)},
      {"ff_lowrank", i(&c.ff_lowrank)},
      {"multiply_by_controller_output", b(&c.multiply_by_controller_output)},
      {"sru_width", i(&c.sru_width)},
      {"sru_layers", i(&c.sru_layers)},
      {"output",
       [&c](const Json& v, const std::string& k) {
         return ReadEnum<OutputKind>(v, k,
                                     {{"dense", OutputKind::kDense},
                                      {"tied", OutputKind::kTied},
                                      {"factored", OutputKind::kFactored}},
                                     &c.output);
       }},
      {"loss_modules", i(&c.loss_modules)},
      {"reversible", b(&c.reversible)},
      {"center_layernorm", b(&c.center_layernorm)},
      {"pos_type",
       [&c](const Json& v, const std::string& k) {
         return ReadEnum<bool>(v, k, {{"learned", true}, {"none", false}},
                               &c.learned_positions);
       }},
      {"bos_id", i(&c.bos_id)},
      {"eos_id", i(&c.eos_id)},
      {"pad_id", i(&c.pad_id)},
      {"unk_id", i(&c.unk_id)},
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    auto f = fields.find(it.key());
    if (f == fields.end()) return Bad(it.key(), "unknown field");
    TS_RETURN_IF_ERROR(f->second(it.value(), it.key()));
  }
  TS_RETURN_IF_ERROR(c.Validate());
  return c;
}

absl::Status ModelConfig::Validate() const {
  if (architecture != "decoder_lm" && architecture != "encoder_decoder") {
    return Bad("architecture",
               absl::StrCat("'", architecture,
                            "' is not decoder_lm or encoder_decoder"));
  }
  for (auto [name, v] : {std::pair<const char*, int>{"vocab_size", vocab_size},
                         {"d_model", d_model},
                         {"n_heads", n_heads},
                         {"n_layers", n_layers},
                         {"max_len", max_len},
                         {"attn_per_block", attn_per_block}}) {
    TS_RETURN_IF_ERROR(Positive(name, v));
  }
  if (d_model % n_heads != 0) {
    return Bad("n_heads", absl::StrCat("d_model ", d_model,
                                       " is not divisible by ", n_heads));
  }
  if (architecture == "encoder_decoder")
    TS_RETURN_IF_ERROR(Positive("n_encoder_layers", n_encoder_layers));
  if (attention == AttentionKind::kSparseQkv) {
    TS_RETURN_IF_ERROR(Positive("qkv_modules", qkv_modules));
    if (d_model % qkv_modules != 0) {
      return Bad("qkv_modules",
                 absl::StrCat("d_model ", d_model, " is not divisible by ",
                              qkv_modules));
    }
    TS_RETURN_IF_ERROR(Positive("conv_length_kernel", conv_length_kernel));
  }
  TS_RETURN_IF_ERROR(Positive("d_ff", d_ff));
  if (ff == FfKind::kSparse) {
    TS_RETURN_IF_ERROR(Positive("ff_block_size", ff_block_size));
    TS_RETURN_IF_ERROR(Positive("ff_lowrank", ff_lowrank));
    if (d_ff % ff_block_size != 0) {
      return Bad(
          "ff_block_size",
          absl::StrCat("d_ff ", d_ff, " is not divisible by ", ff_block_size));
    }
  }
  if (sru_width < 0) return Bad("sru_width", "must be >= 0");
  if (sru_width > 0) TS_RETURN_IF_ERROR(Positive("sru_layers", sru_layers));
  if (output == OutputKind::kFactored) {
    TS_RETURN_IF_ERROR(Positive("loss_modules", loss_modules));
    if (vocab_size % loss_modules != 0) {
      return Bad("loss_modules",
                 absl::StrCat("vocab_size ", vocab_size,
                              " is not divisible by ", loss_modules));
    }
  }
  for (auto [name, v] : {std::pair<const char*, int>{"bos_id", bos_id},
                         {"eos_id", eos_id},
                         {"pad_id", pad_id},
                         {"unk_id", unk_id}}) {
    if (v < -1 || v >= vocab_size) {
      return Bad(name, absl::StrCat(v, " is outside [-1, vocab_size)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace terraserve::engine
