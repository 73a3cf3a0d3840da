// libFuzzer target: the SentencePiece model reader on arbitrary bytes, and the
// bundled tokenizer's encode / decode / incremental decode on arbitrary text.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)terraserve::engine::Tokenizer::FromBytes(bytes);
  static const auto* tok =
      terraserve::engine::Tokenizer::Load(
          TERRASERVE_SOURCE_DIR "/models/terraformer-tiny/tokenizer.model")
          ->release();
  std::vector<int32_t> ids = tok->Encode(bytes);
  std::string text = tok->Decode(ids);
  if (terraserve::engine::SanitizeUtf8(text) != text) __builtin_trap();
  terraserve::engine::IncrementalDetokenizer d(tok, size % 2 == 0);
  std::string joined;
  for (int32_t id : ids) joined += d.Add(id);
  joined += d.Flush();
  if (terraserve::engine::SanitizeUtf8(joined) != joined) __builtin_trap();
  // Ids from the raw bytes too, in and out of range.
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 1 < size; i += 2)
    raw.push_back(int32_t(data[i]) << 4 | data[i + 1]);
  (void)tok->Decode(raw, true);
  return 0;
}
