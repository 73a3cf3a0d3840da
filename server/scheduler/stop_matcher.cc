#include "server/scheduler/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace terraserve::server {

StopMatcher::StopMatcher(std::vector<std::string> stop_sequences,
                         bool include_stop_sequence)
    : include_(include_stop_sequence) {
  for (auto& s : stop_sequences) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

StopMatcher::Result StopMatcher::Add(const std::string& text) {
  pending_ += text;
  Result result;
  // Earliest complete match wins (ties: the longer sequence).
  size_t best = std::string::npos, best_len = 0;
  for (const std::string& s : stops_) {
    size_t at = pending_.find(s);
    if (at != std::string::npos &&
        (at < best || (at == best && s.size() > best_len))) {
      best = at;
      best_len = s.size();
      result.matched = s;
    }
  }
  if (result.matched) {
    result.text = pending_.substr(0, best + (include_ ? best_len : 0));
    pending_.clear();
    return result;
  }
  // Hold back the longest suffix that is a proper prefix of some stop sequence.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    for (size_t n = std::min(s.size() - 1, pending_.size()); n > hold; --n) {
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  result.text = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return result;
}

std::string StopMatcher::Flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace terraserve::server
