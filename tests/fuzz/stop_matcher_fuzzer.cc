// libFuzzer target: stop-sequence matching never loses or invents text.
// Everything added and released (plus the matched stop or the flushed tail)
// equals the input up to the first stop sequence.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "server/scheduler/stop_matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // First byte: number of stop sequences (1..3); each stop is 1..4 bytes; rest
  // is text in pieces whose lengths come from the data.
  size_t pos = 0;
  const int n_stops = 1 + data[pos++] % 3;
  std::vector<std::string> stops;
  for (int i = 0; i < n_stops && pos < size; ++i) {
    const size_t len = 1 + data[pos++] % 4;
    if (pos + len > size) return 0;
    stops.emplace_back(reinterpret_cast<const char*>(data + pos), len);
    pos += len;
  }
  const std::string text(reinterpret_cast<const char*>(data + pos), size - pos);
  terraserve::server::StopMatcher m(stops, false);
  std::string out;
  std::string fed;
  bool matched = false;
  for (size_t i = 0; i < text.size() && !matched;) {
    const size_t len = 1 + (static_cast<unsigned char>(text[i]) % 5);
    const std::string piece = text.substr(i, len);
    fed += piece;
    i += len;
    auto r = m.Add(piece);
    out += r.text;
    matched = r.matched.has_value();
  }
  if (!matched) {
    out += m.Flush();
    if (out != fed) __builtin_trap();  // nothing lost, nothing invented
  } else if (fed.compare(0, out.size(), out) != 0) {
    __builtin_trap();  // what was released is a prefix of the input
  }
  return 0;
}
