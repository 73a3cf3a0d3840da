#include "engine/tokenizer/tokenizer.h"

#include <fstream>
#include <queue>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/base/status_macros.h"

namespace terraserve::engine {
namespace {

using PieceType = SentencePieceModel::PieceType;

constexpr char kSpaceSymbol[] =
    "\xE2\x96\x81";  // U+2581, SentencePiece's space
constexpr char kUnknownSurface[] =
    " \xE2\x81\x87 ";  // how SentencePiece shows <unk>

// Expected length of a UTF-8 sequence from its lead byte; 0 for a continuation
// or invalid lead byte.
int Utf8Length(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 0;
}

std::string Normalize(absl::string_view text, const SentencePieceModel& m) {
  std::string s;
  if (m.remove_extra_whitespaces) {
    bool space = true;  // drops leading spaces and collapses runs
    for (char c : text) {
      if (c == ' ') {
        if (!space) s.push_back(c);
        space = true;
      } else {
        s.push_back(c);
        space = false;
      }
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
  } else {
    s = std::string(text);
  }
  if (s.empty()) return s;
  if (m.add_dummy_prefix) s = m.treat_whitespace_as_suffix ? s + " " : " " + s;
  if (m.escape_whitespaces) s = absl::StrReplaceAll(s, {{" ", kSpaceSymbol}});
  return s;
}

}  // namespace

size_t CompleteUtf8Prefix(absl::string_view s) {
  // Look back at most 3 bytes for the lead byte of a possibly unfinished
  // character.
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    unsigned char c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking
    int len = Utf8Length(c);
    if (len > static_cast<int>(back))
      return s.size() - back;  // incomplete tail
    return s.size();
  }
  return s.size();
}

std::string SanitizeUtf8(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    int len = Utf8Length(static_cast<unsigned char>(s[i]));
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot open tokenizer ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto t = FromBytes(ss.str());
  if (!t.ok())
    return absl::Status(t.status().code(),
                        absl::StrCat(path, ": ", t.status().message()));
  return t;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromBytes(
    absl::string_view bytes) {
  auto parsed = SentencePieceModel::Parse(bytes);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a SentencePiece model: ", parsed.status().message()));
  }
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->model_ = std::move(*parsed);
  const SentencePieceModel& m = t->model_;
  if (m.model_type != 2) {
    return absl::UnimplementedError(
        absl::StrCat("SentencePiece model type ", m.model_type,
                     " is not supported (BPE, type 2, is)"));
  }
  if (m.has_precompiled_charsmap) {
    return absl::UnimplementedError(
        absl::StrCat("SentencePiece normalization '", m.normalizer_name,
                     "' is not supported; train the tokenizer with "
                     "normalization_rule_name=identity"));
  }
  std::fill(std::begin(t->byte_ids_), std::end(t->byte_ids_), -1);
  for (int32_t id = 0; id < static_cast<int32_t>(m.pieces.size()); ++id) {
    const auto& p = m.pieces[id];
    const bool normal = p.type == PieceType::kNormal ||
                        p.type == PieceType::kUserDefined ||
                        p.type == PieceType::kUnused;
    (normal ? t->pieces_ : t->reserved_).emplace(p.piece, id);
    if (p.type == PieceType::kUserDefined) t->user_defined_.push_back(p.piece);
    if (p.type == PieceType::kByte && p.piece.size() == 6 &&
        p.piece.rfind("<0x", 0) == 0) {
      t->byte_ids_[std::stoi(p.piece.substr(3, 2), nullptr, 16) & 0xff] = id;
    }
  }
  for (int32_t id : {m.unk_id, m.bos_id, m.eos_id, m.pad_id}) {
    if (id >= static_cast<int32_t>(m.pieces.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token id ", id, " outside the vocabulary"));
    }
  }
  return t;
}

size_t Tokenizer::MatchUserDefined(absl::string_view text) const {
  size_t best = 0;
  for (const std::string& u : user_defined_) {
    if (u.size() > best && text.substr(0, u.size()) == u) best = u.size();
  }
  return best;
}

std::vector<int32_t> Tokenizer::Encode(absl::string_view text) const {
  const std::string norm = Normalize(text, model_);
  // Symbols as a linked list over the normalised text.
  struct Symbol {
    int prev, next;
    absl::string_view piece;
  };
  std::vector<Symbol> sym;
  absl::string_view rest(norm);
  while (!rest.empty()) {
    size_t n = MatchUserDefined(rest);
    if (n == 0) {
      n = std::max(1, Utf8Length(static_cast<unsigned char>(rest[0])));
      n = std::min(n, rest.size());
    }
    const int i = static_cast<int>(sym.size());
    sym.push_back({i - 1, -1, rest.substr(0, n)});
    if (i > 0) sym[i - 1].next = i;
    rest.remove_prefix(n);
  }
  struct Pair {
    int left, right;
    float score;
    size_t size;
  };
  auto worse = [](const Pair& a, const Pair& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
  auto add_pair = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string merged = absl::StrCat(sym[left].piece, sym[right].piece);
    auto it = pieces_.find(merged);
    if (it == pieces_.end() || TypeOf(it->second) == PieceType::kUnused) return;
    agenda.push({left, right, model_.pieces[it->second].score, merged.size()});
  };
  for (size_t i = 1; i < sym.size(); ++i)
    add_pair(static_cast<int>(i - 1), static_cast<int>(i));
  while (!agenda.empty()) {
    Pair top = agenda.top();
    agenda.pop();
    Symbol &l = sym[top.left], &r = sym[top.right];
    // Stale if either side was merged away or changed since the pair was
    // queued.
    if (l.piece.empty() || r.piece.empty() || l.next != top.right ||
        l.piece.size() + r.piece.size() != top.size) {
      continue;
    }
    l.piece =
        absl::string_view(l.piece.data(), l.piece.size() + r.piece.size());
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = top.left;
    r.piece = absl::string_view();
    add_pair(l.prev, top.left);
    add_pair(top.left, l.next);
  }
  std::vector<int32_t> ids;
  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    const std::string piece(sym[i].piece);
    int32_t id = -1;
    if (auto r = reserved_.find(piece); r != reserved_.end()) {
      id = r->second;
    } else if (auto p = pieces_.find(piece); p != pieces_.end()) {
      id = p->second;
    }
    if (id >= 0) {
      ids.push_back(id);
    } else if (model_.byte_fallback) {
      for (unsigned char c : piece)
        ids.push_back(byte_ids_[c] >= 0 ? byte_ids_[c] : model_.unk_id);
    } else if (ids.empty() || ids.back() != model_.unk_id) {
      ids.push_back(model_.unk_id);  // runs of unknowns become one <unk>
    }
  }
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids,
                              bool keep_special) const {
  std::string out, bytes;
  bool at_start = true;
  auto flush_bytes = [&] {
    out += SanitizeUtf8(bytes);
    bytes.clear();
  };
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    const auto& p = model_.pieces[id];
    if (p.type == PieceType::kByte) {
      bytes += TokenBytes(id);
      at_start = false;
      continue;
    }
    flush_bytes();
    if (p.type == PieceType::kControl) {
      if (keep_special) out += p.piece;
      continue;
    }
    std::string text = TokenBytes(id);
    // SentencePiece drops the dummy-prefix space of the first piece.
    if (at_start && model_.add_dummy_prefix && !text.empty() &&
        text[0] == ' ' && p.type == PieceType::kNormal) {
      text.erase(0, 1);
    }
    at_start = false;
    out += text;
  }
  flush_bytes();
  return SanitizeUtf8(out);
}

std::string Tokenizer::Piece(int32_t id) const {
  return id >= 0 && id < vocab_size() ? model_.pieces[id].piece : std::string();
}

std::string Tokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  const auto& p = model_.pieces[id];
  switch (p.type) {
    case PieceType::kControl:
      return "";
    case PieceType::kUnknown:
      return kUnknownSurface;
    case PieceType::kByte:
      return std::string(
          1, static_cast<char>(std::stoi(p.piece.substr(3, 2), nullptr, 16)));
    case PieceType::kUserDefined:
      return p.piece;
    default:
      return absl::StrReplaceAll(p.piece, {{kSpaceSymbol, " "}});
  }
}

int Tokenizer::vocab_size() const {
  return static_cast<int>(model_.pieces.size());
}
int32_t Tokenizer::bos_id() const { return model_.bos_id; }
int32_t Tokenizer::eos_id() const { return model_.eos_id; }
int32_t Tokenizer::pad_id() const { return model_.pad_id; }
int32_t Tokenizer::unk_id() const { return model_.unk_id; }

bool Tokenizer::IsSpecial(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return false;
  return TypeOf(id) == PieceType::kControl || TypeOf(id) == PieceType::kUnknown;
}

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer* tokenizer,
                                               bool keep_special)
    : tokenizer_(tokenizer), keep_special_(keep_special) {}

std::string IncrementalDetokenizer::Add(int32_t id) {
  if (keep_special_ && tokenizer_->IsSpecial(id)) {
    pending_ += tokenizer_->Piece(id);
  } else {
    pending_ += tokenizer_->TokenBytes(id);
  }
  size_t n = CompleteUtf8Prefix(pending_);
  std::string out = SanitizeUtf8(absl::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string IncrementalDetokenizer::Flush() {
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace terraserve::engine
