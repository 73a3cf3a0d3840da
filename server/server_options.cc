#include "server/server_options.h"

#include "absl/strings/str_cat.h"

namespace terraserve::server {

absl::Status ServerOptions::Validate() const {
  if (host.empty()) return absl::InvalidArgumentError("--host must not be empty");
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--port must be in [0, 65535], got ", port));
  }
  if (metrics_port < -1 || metrics_port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--metrics_port must be in [0, 65535] or -1 (off), got ", metrics_port));
  }
  if (port != 0 && port == metrics_port) {
    return absl::InvalidArgumentError(
        absl::StrCat("--port and --metrics_port are both ", port));
  }
  if (!(shutdown_grace_seconds >= 0 && shutdown_grace_seconds <= 3600)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shutdown_grace must be in [0, 3600] seconds, got ", shutdown_grace_seconds));
  }
  if (max_receive_message_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_receive_message_bytes must be at least 1024, got ",
        max_receive_message_bytes));
  }
  return absl::OkStatus();
}

}  // namespace terraserve::server
