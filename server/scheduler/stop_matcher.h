// Stop-sequence matching on streamed text (server/scheduler layer).
//
// Text arrives in pieces; a stop sequence may be split across them. Text that
// could still turn into a stop sequence is held back; it is released once it
// cannot, or dropped when the stop sequence completes. Thread-compatible (one
// per request).
#ifndef TERRASERVE_SERVER_SCHEDULER_STOP_MATCHER_H_
#define TERRASERVE_SERVER_SCHEDULER_STOP_MATCHER_H_

#include <optional>
#include <string>
#include <vector>

namespace terraserve::server {

class StopMatcher {
 public:
  StopMatcher(std::vector<std::string> stop_sequences,
              bool include_stop_sequence);

  struct Result {
    std::string text;  // safe to show now
    std::optional<std::string>
        matched;  // the stop sequence that completed, if any
  };
  // Adds new text. When `matched` is set, generation must stop and `text` is
  // the last text to show (with the stop sequence only if
  // include_stop_sequence).
  Result Add(const std::string& text);
  // Everything still held (call when generation ends for another reason).
  std::string Flush();

 private:
  std::vector<std::string> stops_;
  bool include_;
  std::string pending_;  // held back: could be the start of a stop sequence
};

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_SCHEDULER_STOP_MATCHER_H_
