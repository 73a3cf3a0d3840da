#include "server/server.h"

#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>
#include <prometheus/exposer.h>

#include "absl/strings/str_cat.h"
#include "engine/base/logging.h"
#include "engine/base/status_macros.h"
#include "server/grpc/generation_service.h"

namespace terraserve::server {
namespace {

constexpr char kServiceName[] = "terraserve.v1.TextGeneration";

std::string JoinHostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::Status WritePortFile(const std::string& path, int port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << port << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
  }
  // rename is atomic, so a reader never sees a half-written file.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Server> server(new Server());
  server->options_ = options;
  server->service_ = std::make_unique<GenerationService>();

  if (options.metrics_port >= 0) {
    std::string addr = JoinHostPort(options.host, options.metrics_port);
    try {
      server->exposer_ = std::make_unique<prometheus::Exposer>(addr);
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", addr, ": ", e.what()));
    }
    auto ports = server->exposer_->GetListeningPorts();
    server->metrics_port_ = ports.empty() ? options.metrics_port : ports.front();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(JoinHostPort(options.host, options.port),
                           grpc::InsecureServerCredentials(), &server->grpc_port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.RegisterService(server->service_.get());
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on ", JoinHostPort(options.host, options.port)));
  }
  auto* health = server->grpc_server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  // The model service stays NOT_SERVING until a model is loaded and warmed up.
  health->SetServingStatus(kServiceName, false);

  if (!options.port_file.empty()) {
    TS_RETURN_IF_ERROR(WritePortFile(options.port_file, server->grpc_port_));
  }
  TS_LOG(Info) << "gRPC listening on " << JoinHostPort(options.host, server->grpc_port_)
               << "; metrics on "
               << (server->metrics_port_ >= 0
                       ? JoinHostPort(options.host, server->metrics_port_) + "/metrics"
                       : std::string("(off)"));
  return server;
}

void Server::Shutdown(absl::Duration grace) {
  if (grpc_server_ == nullptr) return;
  grpc_server_->GetHealthCheckService()->Shutdown();
  service_->StartDraining();
  grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  grpc_server_->Wait();
  grpc_server_.reset();
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

}  // namespace terraserve::server
