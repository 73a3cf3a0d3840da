// gRPC reactors for Generate (unary) and GenerateStream (server streaming), and
// the ResponseSinks the scheduler pushes into (server/grpc layer).
//
// Threading: the scheduler thread calls Push, which never blocks: it queues the
// update and, if no write is in flight, has the DeliveryThread start one (one
// StartWrite in flight at a time; a unary call's Finish goes the same way);
// OnWriteDone (a gRPC thread) starts the next. Updates that pile up
// while a write is in flight are merged into one message. A cancelled or
// disconnected call marks the sink closed and asks the scheduler to cancel;
// Finish is called exactly once. The reactor deletes itself in OnDone, after
// which the sink (kept alive by the scheduler's shared_ptr) drops further
// updates.
#ifndef TERRASERVE_SERVER_GRPC_GENERATE_REACTORS_H_
#define TERRASERVE_SERVER_GRPC_GENERATE_REACTORS_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "server/grpc/delivery_thread.h"
#include "server/scheduler/scheduler.h"
#include "terraserve/v1/generation.grpc.pb.h"

namespace terraserve::server {

// Starts a streaming generation; returns the reactor gRPC will drive.
grpc::ServerWriteReactor<v1::GenerateStreamResponse>* StartGenerateStream(
    std::unique_ptr<GenerationRequest> request, Scheduler* scheduler,
    const engine::Tokenizer* tokenizer, DeliveryThread* delivery);

// Starts a unary generation that fills `response` when done.
grpc::ServerUnaryReactor* StartGenerateUnary(
    std::unique_ptr<GenerationRequest> request, v1::GenerateResponse* response,
    Scheduler* scheduler, const engine::Tokenizer* tokenizer,
    DeliveryThread* delivery);

// Copies a FinalInfo into its proto.
void ToProto(const FinalInfo& f, v1::Final* out);
// Appends the tokens of an update to a repeated Token field.
void AppendTokens(const GenerationUpdate& u, const engine::Tokenizer& tokenizer,
                  google::protobuf::RepeatedPtrField<v1::Token>* out);

}  // namespace terraserve::server

#endif  // TERRASERVE_SERVER_GRPC_GENERATE_REACTORS_H_
