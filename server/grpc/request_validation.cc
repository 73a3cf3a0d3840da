#include "server/grpc/request_validation.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace terraserve::server {
namespace {

// trax shifts decoder inputs right with 0, so decoding starts from token 0.
constexpr int32_t kDecoderStartToken = 0;

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::StatusOr<engine::SamplingParams> ToSampling(const v1::SamplingParams& p,
                                                  const RequestLimits& limits,
                                                  uint64_t seed) {
  engine::SamplingParams s;
  s.temperature = p.temperature();
  s.top_k = static_cast<int>(std::min<uint32_t>(p.top_k(), 1u << 30));
  s.top_p = p.top_p() == 0 ? 1.0f : p.top_p();
  s.min_p = p.min_p();
  s.repetition_penalty =
      p.repetition_penalty() == 0 ? 1.0f : p.repetition_penalty();
  s.frequency_penalty = p.frequency_penalty();
  s.presence_penalty = p.presence_penalty();
  s.seed = p.has_seed() ? p.seed() : seed;
  TS_RETURN_IF_ERROR(s.Validate(limits.vocab_size));
  return s;
}

// Fills out->prompt and, for encoder-decoder models, out->source_tokens.
absl::Status ToPrompt(const v1::GenerateRequest& r,
                      const engine::Tokenizer& tokenizer,
                      const RequestLimits& limits, GenerationRequest* out) {
  std::vector<int32_t>* prompt = &out->prompt;
  switch (r.input_case()) {
    case v1::GenerateRequest::kText: {
      if (r.text().empty()) return Invalid("text", "must not be empty");
      TS_RETURN_IF_ERROR(ValidUtf8(r.text(), "text"));
      if (r.text().size() > size_t(limits.max_input_tokens) * 64) {
        return Invalid("text", "is far longer than max_input_tokens allows");
      }
      if ((!r.has_add_bos() || r.add_bos()) && tokenizer.bos_id() >= 0) {
        prompt->push_back(tokenizer.bos_id());
      }
      std::vector<int32_t> ids = tokenizer.Encode(r.text());
      prompt->insert(prompt->end(), ids.begin(), ids.end());
      break;
    }
    case v1::GenerateRequest::kTokenIds: {
      const auto& ids = r.token_ids().ids();
      if (ids.empty()) return Invalid("token_ids.ids", "must not be empty");
      TS_RETURN_IF_ERROR(
          ValidateTokenIds(ids, limits.vocab_size, "token_ids.ids"));
      prompt->assign(ids.begin(), ids.end());
      break;
    }
    default:
      return Invalid("input", "set exactly one of text or token_ids");
  }
  if (limits.encoder_decoder) {
    out->source_tokens = static_cast<int>(prompt->size());
    prompt->push_back(kDecoderStartToken);
  }
  if (static_cast<int>(prompt->size()) > limits.max_input_tokens) {
    return Invalid("input",
                   absl::StrCat("the prompt is ", prompt->size(),
                                " tokens; at most max_input_tokens = ",
                                limits.max_input_tokens, " are allowed"));
  }
  return absl::OkStatus();
}

absl::Status ToStopping(const v1::StoppingCriteria& st,
                        const RequestLimits& limits, int prompt_tokens,
                        GenerationRequest* out) {
  const int room = limits.max_total_tokens - prompt_tokens;
  if (room < 1) {
    return Invalid(
        "input",
        absl::StrCat("the prompt (", prompt_tokens,
                     " tokens) leaves no room under max_total_tokens = ",
                     limits.max_total_tokens));
  }
  if (st.max_new_tokens() > static_cast<uint32_t>(room)) {
    return Invalid("stopping.max_new_tokens",
                   absl::StrCat(st.max_new_tokens(), " is over the ", room,
                                " allowed for this prompt (max_total_tokens = ",
                                limits.max_total_tokens, ")"));
  }
  out->max_new_tokens = st.max_new_tokens() > 0
                            ? static_cast<int>(st.max_new_tokens())
                            : std::min(limits.default_max_new_tokens, room);
  if (st.min_new_tokens() > static_cast<uint32_t>(out->max_new_tokens)) {
    return Invalid(
        "stopping.min_new_tokens",
        absl::StrCat(st.min_new_tokens(),
                     " is over max_new_tokens = ", out->max_new_tokens));
  }
  out->min_new_tokens = static_cast<int>(st.min_new_tokens());
  if (st.stop_sequences_size() > limits.max_stop_sequences) {
    return Invalid("stopping.stop_sequences",
                   absl::StrCat(st.stop_sequences_size(), " given; at most ",
                                limits.max_stop_sequences));
  }
  for (int i = 0; i < st.stop_sequences_size(); ++i) {
    const std::string field = absl::StrCat("stopping.stop_sequences[", i, "]");
    const std::string& s = st.stop_sequences(i);
    if (s.empty()) return Invalid(field, "must not be empty");
    if (static_cast<int>(s.size()) > limits.max_stop_sequence_bytes) {
      return Invalid(field, absl::StrCat("is ", s.size(), " bytes; at most ",
                                         limits.max_stop_sequence_bytes));
    }
    TS_RETURN_IF_ERROR(ValidUtf8(s, field));
    out->stop_sequences.push_back(s);
  }
  if (st.stop_token_ids_size() > limits.max_stop_token_ids) {
    return Invalid("stopping.stop_token_ids",
                   absl::StrCat("at most ", limits.max_stop_token_ids));
  }
  TS_RETURN_IF_ERROR(ValidateTokenIds(st.stop_token_ids(), limits.vocab_size,
                                      "stopping.stop_token_ids"));
  out->stop_token_ids.assign(st.stop_token_ids().begin(),
                             st.stop_token_ids().end());
  out->ignore_eos = st.ignore_eos();
  out->include_stop_sequence = st.include_stop_sequence();
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidUtf8(const std::string& s, const std::string& field) {
  if (engine::SanitizeUtf8(s) != s) return Invalid(field, "is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status ValidateTokenIds(
    const google::protobuf::RepeatedField<uint32_t>& ids, int vocab_size,
    const char* field) {
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] >= static_cast<uint32_t>(vocab_size)) {
      return Invalid(absl::StrCat(field, "[", i, "]"),
                     absl::StrCat(ids[i], " is not a token id (vocab_size = ",
                                  vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GenerationRequest>> ToGenerationRequest(
    const v1::GenerateRequest& r, const engine::Tokenizer& tokenizer,
    const RequestLimits& limits, absl::Time deadline, uint64_t seed) {
  auto out = std::make_unique<GenerationRequest>();
  if (static_cast<int>(r.request_id().size()) > limits.max_request_id_bytes) {
    return Invalid(
        "request_id",
        absl::StrCat("at most ", limits.max_request_id_bytes, " bytes"));
  }
  TS_RETURN_IF_ERROR(ValidUtf8(r.request_id(), "request_id"));
  out->request_id = r.request_id();
  TS_RETURN_IF_ERROR(ToPrompt(r, tokenizer, limits, out.get()));
  TS_ASSIGN_OR_RETURN(out->sampling, ToSampling(r.sampling(), limits, seed));
  TS_RETURN_IF_ERROR(ToStopping(
      r.stopping(), limits, static_cast<int>(out->prompt.size()), out.get()));
  const v1::OutputOptions& o = r.output();
  if (o.top_logprobs() > static_cast<uint32_t>(limits.max_top_logprobs)) {
    return Invalid("output.top_logprobs",
                   absl::StrCat(o.top_logprobs(), " is over the cap of ",
                                limits.max_top_logprobs));
  }
  if (o.top_logprobs() > 0 && !o.logprobs()) {
    return Invalid("output.top_logprobs", "needs output.logprobs = true");
  }
  out->logprobs = o.logprobs();
  out->sampling.top_logprobs = static_cast<int>(o.top_logprobs());
  out->skip_special_tokens =
      !o.has_skip_special_tokens() || o.skip_special_tokens();
  out->deadline = deadline;
  return out;
}

}  // namespace terraserve::server
