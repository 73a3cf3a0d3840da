// Transport security and bearer-token auth for the gRPC server (server/grpc
// layer).
//
// TLS (optionally mutual) comes from PEM files; the bearer token from a file
// whose first line is the token. With a token set, every TextGeneration call
// must carry "authorization: Bearer <token>" or fails with UNAUTHENTICATED; the
// health and reflection services stay open, so Kubernetes probes work without
// secrets. (The check lives in the service because gRPC 1.51 cannot attach an
// auth processor to plaintext credentials.)
#ifndef TERRASERVE_SERVER_GRPC_SECURITY_H_
#define TERRASERVE_SERVER_GRPC_SECURITY_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace terraserve::server {

struct SecurityOptions {
  std::string tls_cert_file;       // PEM certificate chain; empty = plaintext
  std::string tls_key_file;        // PEM private key
  std::string tls_client_ca_file;  // PEM CA bundle: clients must present a cert
                                   // it signed
  std::string auth_token_file;     // first line = bearer token; empty = no auth
};

// Server credentials for `options`. INVALID_ARGUMENT naming the flag when a
// file is missing, empty or inconsistent (a key without a certificate, ...).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const SecurityOptions& options);

// The bearer token from options.auth_token_file ("" when auth is off).
absl::StatusOr<std::string> LoadAuthToken(const SecurityOptions& options);

// OK when `token` is empty or the call carries it; UNAUTHENTICATED otherwise.
grpc::Status CheckBearerToken(const grpc::CallbackServerContext& context,
                              const std::string& token);

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_GRPC_SECURITY_H_
