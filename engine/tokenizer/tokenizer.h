// SentencePiece BPE tokenizer with the model's special tokens (engine/tokenizer
// layer). Reads tokenizer.model itself (see sentencepiece_model.h for why) and
// encodes exactly as SentencePiece's BPE model does: whitespace escaped to
// U+2581 with a dummy prefix, user-defined symbols kept whole, the
// highest-scoring adjacent merge first (leftmost on ties), unknown pieces as
// byte-fallback tokens. Models with a normalisation table (nmt_nfkc, nfkc) or a
// non-BPE type are rejected as UNIMPLEMENTED. Thread-safe: immutable after
// Load.
#ifndef TERRASERVE_ENGINE_TOKENIZER_TOKENIZER_H_
#define TERRASERVE_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/sentencepiece_model.h"

namespace terraserve::engine {

class Tokenizer {
 public:
  // Loads a SentencePiece model file. INVALID_ARGUMENT if it cannot be parsed,
  // NOT_FOUND if missing.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(
      const std::string& path);
  // Same from the serialized model bytes.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromBytes(
      absl::string_view model);

  std::vector<int32_t> Encode(absl::string_view text) const;
  // Text of `ids`; special tokens (control symbols) are dropped unless
  // keep_special.
  std::string Decode(const std::vector<int32_t>& ids,
                     bool keep_special = false) const;
  // The piece string of one id ("▁the", "<0xE2>", "</s>").
  std::string Piece(int32_t id) const;
  // The bytes this id contributes to decoded text when it follows other tokens
  // (byte-fallback pieces give their raw byte; "▁" becomes a space).
  std::string TokenBytes(int32_t id) const;

  int vocab_size() const;
  int32_t bos_id() const;  // -1 if none
  int32_t eos_id() const;
  int32_t pad_id() const;
  int32_t unk_id() const;
  bool IsSpecial(int32_t id) const;

 private:
  Tokenizer() = default;
  SentencePieceModel::PieceType TypeOf(int32_t id) const {
    return model_.pieces[id].type;
  }
  size_t MatchUserDefined(absl::string_view text) const;
  SentencePieceModel model_;
  absl::flat_hash_map<std::string, int32_t>
      pieces_;  // normal, user-defined, unused
  absl::flat_hash_map<std::string, int32_t>
      reserved_;  // control, unknown, byte
  std::vector<std::string> user_defined_;
  int32_t byte_ids_[256];
};

// Turns a stream of token ids into text that never ends in a broken UTF-8
// sequence: bytes of an incomplete character are held until the character is
// complete. Thread-compatible (one per request).
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer* tokenizer, bool keep_special);
  // Appends a token; returns the newly complete text (possibly empty).
  std::string Add(int32_t id);
  // Whatever is still held at the end of the stream, invalid bytes as U+FFFD.
  std::string Flush();

 private:
  const Tokenizer* tokenizer_;
  bool keep_special_;
  std::string pending_;
};

// Length of the longest prefix of `s` that is complete UTF-8 followed only by
// an incomplete (but so far valid) tail; invalid bytes count as complete.
size_t CompleteUtf8Prefix(absl::string_view s);
// `s` with every invalid UTF-8 byte replaced by U+FFFD (protobuf strings must
// be valid UTF-8).
std::string SanitizeUtf8(absl::string_view s);

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_TOKENIZER_TOKENIZER_H_
