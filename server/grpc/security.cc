#include "server/grpc/security.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace terraserve::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     const char* flag) {
  std::ifstream in(path);
  if (!in)
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty())
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", path, " is empty"));
  return ss.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& o) {
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key must be given together");
  }
  if (!o.tls_client_ca_file.empty() && o.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca needs --tls_cert and --tls_key");
  }
  if (o.tls_cert_file.empty()) {
    creds = grpc::InsecureServerCredentials();
  } else {
    grpc::SslServerCredentialsOptions ssl;
    TS_ASSIGN_OR_RETURN(std::string cert,
                        ReadFile(o.tls_cert_file, "tls_cert"));
    TS_ASSIGN_OR_RETURN(std::string key, ReadFile(o.tls_key_file, "tls_key"));
    ssl.pem_key_cert_pairs.push_back({key, cert});
    if (!o.tls_client_ca_file.empty()) {
      TS_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                          ReadFile(o.tls_client_ca_file, "tls_client_ca"));
      ssl.client_certificate_request =
          GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    creds = grpc::SslServerCredentials(ssl);
  }
  return creds;
}

absl::StatusOr<std::string> LoadAuthToken(const SecurityOptions& o) {
  if (o.auth_token_file.empty()) return std::string();
  TS_ASSIGN_OR_RETURN(std::string token,
                      ReadFile(o.auth_token_file, "auth_token_file"));
  token = std::string(
      absl::StripAsciiWhitespace(token.substr(0, token.find('\n'))));
  if (token.empty())
    return absl::InvalidArgumentError("--auth_token_file: the token is empty");
  return token;
}

grpc::Status CheckBearerToken(const grpc::CallbackServerContext& context,
                              const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing \"authorization: Bearer <token>\" metadata");
  }
  if (absl::string_view(it->second.data(), it->second.size()) !=
      absl::StrCat("Bearer ", token)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "invalid bearer token");
  }
  return grpc::Status::OK;
}

}  // namespace terraserve::server
