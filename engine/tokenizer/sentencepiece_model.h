// Reads a SentencePiece model file (serialized sentencepiece.ModelProto)
// without libsentencepiece (engine/tokenizer layer).
//
// Why our own reader: Debian 12's libsentencepiece exports a bundled
// protobuf-lite 3.14 that clashes with libprotobuf 3.21 in any process that
// also serves gRPC (the server crashes at start-up or in sentencepiece's
// version check). The file format is plain protobuf wire format; only the
// fields below are read.
//
// Thread-safety: immutable after Parse.
#ifndef TERRASERVE_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_H_
#define TERRASERVE_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace terraserve::engine {

struct SentencePieceModel {
  enum class PieceType {
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6
  };
  struct Piece {
    std::string piece;
    float score = 0;
    PieceType type = PieceType::kNormal;
  };
  std::vector<Piece> pieces;
  int model_type = 1;  // 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  std::string normalizer_name;
  bool has_precompiled_charsmap = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;

  // INVALID_ARGUMENT for malformed bytes (never reads out of bounds).
  static absl::StatusOr<SentencePieceModel> Parse(absl::string_view bytes);
};

}  // namespace terraserve::engine

#endif  // TERRASERVE_ENGINE_TOKENIZER_SENTENCEPIECE_MODEL_H_
