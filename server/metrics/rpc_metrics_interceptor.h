// Counts every finished gRPC call by method and status code (server/metrics
// layer), as a server interceptor, so no handler has to remember to.
// Thread-safe.
#ifndef TERRASERVE_SERVER_METRICS_RPC_METRICS_INTERCEPTOR_H_
#define TERRASERVE_SERVER_METRICS_RPC_METRICS_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "server/metrics/server_metrics.h"

namespace terraserve::server {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRpcMetricsInterceptorFactory(ServerMetrics* metrics);

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_METRICS_RPC_METRICS_INTERCEPTOR_H_
