#include "engine/tokenizer/sentencepiece_model.h"

#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace terraserve::engine {
namespace {

// A bounds-checked protobuf wire-format reader over one message's bytes.
class WireReader {
 public:
  explicit WireReader(absl::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  absl::StatusOr<uint64_t> Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size())
        return absl::InvalidArgumentError("truncated varint");
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= uint64_t(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return absl::InvalidArgumentError("varint longer than 10 bytes");
  }

  absl::StatusOr<absl::string_view> Bytes() {
    TS_ASSIGN_OR_RETURN(uint64_t n, Varint());
    if (n > data_.size() - pos_)
      return absl::InvalidArgumentError("field runs past the end");
    absl::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  absl::StatusOr<uint32_t> Fixed32() {
    if (data_.size() - pos_ < 4)
      return absl::InvalidArgumentError("truncated fixed32");
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
      v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += 4;
    return v;
  }

  absl::Status Skip(int wire_type) {
    switch (wire_type) {
      case 0:
        return Varint().status();
      case 1:
        if (data_.size() - pos_ < 8)
          return absl::InvalidArgumentError("truncated fixed64");
        pos_ += 8;
        return absl::OkStatus();
      case 2:
        return Bytes().status();
      case 5:
        return Fixed32().status();
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("unsupported wire type ", wire_type));
    }
  }

 private:
  absl::string_view data_;
  size_t pos_ = 0;
};

// Calls `on_field(number, wire_type, reader)` for every field; the callback
// must consume the field's value (or return false to have it skipped).
absl::Status ForEachField(
    absl::string_view bytes,
    const std::function<absl::StatusOr<bool>(int, int, WireReader&)>&
        on_field) {
  WireReader r(bytes);
  while (!r.done()) {
    TS_ASSIGN_OR_RETURN(uint64_t key, r.Varint());
    const int number = static_cast<int>(key >> 3),
              wire = static_cast<int>(key & 7);
    TS_ASSIGN_OR_RETURN(bool consumed, on_field(number, wire, r));
    if (!consumed) TS_RETURN_IF_ERROR(r.Skip(wire));
  }
  return absl::OkStatus();
}

absl::StatusOr<SentencePieceModel::Piece> ParsePiece(absl::string_view bytes) {
  SentencePieceModel::Piece p;
  TS_RETURN_IF_ERROR(ForEachField(
      bytes, [&](int n, int w, WireReader& r) -> absl::StatusOr<bool> {
        if (n == 1 && w == 2) {
          TS_ASSIGN_OR_RETURN(absl::string_view s, r.Bytes());
          p.piece = std::string(s);
        } else if (n == 2 && w == 5) {
          TS_ASSIGN_OR_RETURN(uint32_t bits, r.Fixed32());
          std::memcpy(&p.score, &bits, 4);
        } else if (n == 3 && w == 0) {
          TS_ASSIGN_OR_RETURN(uint64_t t, r.Varint());
          if (t < 1 || t > 6)
            return absl::InvalidArgumentError(absl::StrCat("piece type ", t));
          p.type = static_cast<SentencePieceModel::PieceType>(t);
        } else {
          return false;
        }
        return true;
      }));
  return p;
}

}  // namespace

absl::StatusOr<SentencePieceModel> SentencePieceModel::Parse(
    absl::string_view bytes) {
  SentencePieceModel m;
  auto varint_field = [](WireReader& r, auto* out) -> absl::Status {
    TS_ASSIGN_OR_RETURN(uint64_t v, r.Varint());
    *out = static_cast<std::remove_pointer_t<decltype(out)>>(v);
    return absl::OkStatus();
  };
  TS_RETURN_IF_ERROR(ForEachField(
      bytes, [&](int n, int w, WireReader& r) -> absl::StatusOr<bool> {
        if (w != 2 || (n != 1 && n != 2 && n != 3)) return false;
        TS_ASSIGN_OR_RETURN(absl::string_view sub, r.Bytes());
        if (n == 1) {
          TS_ASSIGN_OR_RETURN(Piece p, ParsePiece(sub));
          m.pieces.push_back(std::move(p));
          return true;
        }
        if (n == 2) {  // TrainerSpec
          TS_RETURN_IF_ERROR(ForEachField(
              sub, [&](int f, int fw, WireReader& t) -> absl::StatusOr<bool> {
                if (fw != 0) return false;
                switch (f) {
                  case 3:
                    TS_RETURN_IF_ERROR(varint_field(t, &m.model_type));
                    return true;
                  case 24:
                    TS_RETURN_IF_ERROR(
                        varint_field(t, &m.treat_whitespace_as_suffix));
                    return true;
                  case 35:
                    TS_RETURN_IF_ERROR(varint_field(t, &m.byte_fallback));
                    return true;
                  case 40:
                    TS_RETURN_IF_ERROR(varint_field(t, &m.unk_id));
                    return true;
                  case 41:
                    TS_RETURN_IF_ERROR(varint_field(t, &m.bos_id));
                    return true;
                  case 42:
                    TS_RETURN_IF_ERROR(varint_field(t, &m.eos_id));
                    return true;
                  case 43:
                    TS_RETURN_IF_ERROR(varint_field(t, &m.pad_id));
                    return true;
                  default:
                    return false;
                }
              }));
          return true;
        }
        // NormalizerSpec
        TS_RETURN_IF_ERROR(ForEachField(
            sub, [&](int f, int fw, WireReader& t) -> absl::StatusOr<bool> {
              if (f == 1 && fw == 2) {
                TS_ASSIGN_OR_RETURN(absl::string_view s, t.Bytes());
                m.normalizer_name = std::string(s);
                return true;
              }
              if (f == 2 && fw == 2) {
                TS_ASSIGN_OR_RETURN(absl::string_view s, t.Bytes());
                m.has_precompiled_charsmap = !s.empty();
                return true;
              }
              if (fw != 0) return false;
              switch (f) {
                case 3:
                  TS_RETURN_IF_ERROR(varint_field(t, &m.add_dummy_prefix));
                  return true;
                case 4:
                  TS_RETURN_IF_ERROR(
                      varint_field(t, &m.remove_extra_whitespaces));
                  return true;
                case 5:
                  TS_RETURN_IF_ERROR(varint_field(t, &m.escape_whitespaces));
                  return true;
                default:
                  return false;
              }
            }));
        return true;
      }));
  if (m.pieces.empty())
    return absl::InvalidArgumentError("the model has no pieces");
  return m;
}

}  // namespace terraserve::engine
