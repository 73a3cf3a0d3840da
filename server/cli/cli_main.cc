// terraserve-cli: command-line client for a terraserve server.
//
//   terraserve-cli [--addr=127.0.0.1:50051] health [--service=NAME]
//   terraserve-cli info
//   terraserve-cli tokenize "some text"
//   terraserve-cli generate [--max_new_tokens=N --temperature=T --seed=S]
//   "prompt" TLS: --tls_ca=ca.pem [--tls_cert=c.pem --tls_key=k.pem]; auth:
//   --token_file=F
//
// Exit status: 0 on success, 1 on an RPC error (printed with its code), 2 on
// bad usage.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/grpc/status_util.h"
#include "terraserve/v1/generation.grpc.pb.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:50051", "Server address host:port.");
ABSL_FLAG(std::string, service, "",
          "health: service to check; empty = whole server.");
ABSL_FLAG(double, timeout, 30, "Deadline of each call, seconds.");
ABSL_FLAG(uint32_t, max_new_tokens, 64, "generate: most tokens to generate.");
ABSL_FLAG(float, temperature, 0, "generate: 0 = greedy.");
ABSL_FLAG(uint32_t, top_k, 0, "generate: 0 = off.");
ABSL_FLAG(float, top_p, 1, "generate: 1 = off.");
ABSL_FLAG(int64_t, seed, -1, "generate: -1 = server picks.");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA to trust; enables TLS.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate (mTLS), with --tls_key.");
ABSL_FLAG(std::string, tls_key, "", "PEM client key (mTLS).");
ABSL_FLAG(std::string, tls_server_name, "",
          "Expected server name, if not the host of --addr.");
ABSL_FLAG(std::string, token_file, "",
          "File whose first line is the bearer token to send.");

namespace {

using terraserve::v1::TextGeneration;

int Fail(const grpc::Status& status) {
  std::fprintf(stderr, "error: %s: %s\n",
               terraserve::server::GrpcCodeName(status.error_code()),
               status.error_message().c_str());
  return 1;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "error: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Token() {
  static const std::string token = [] {
    if (absl::GetFlag(FLAGS_token_file).empty()) return std::string();
    std::string t = ReadFileOrDie(absl::GetFlag(FLAGS_token_file));
    return std::string(absl::StripAsciiWhitespace(t.substr(0, t.find('\n'))));
  }();
  return token;
}

// Deadline and, if configured, the bearer token.
void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(
                        absl::GetFlag(FLAGS_timeout) * 1000)));
  if (!Token().empty()) ctx->AddMetadata("authorization", "Bearer " + Token());
}

std::shared_ptr<grpc::Channel> MakeChannel() {
  if (absl::GetFlag(FLAGS_tls_ca).empty()) {
    return grpc::CreateChannel(absl::GetFlag(FLAGS_addr),
                               grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileOrDie(absl::GetFlag(FLAGS_tls_ca));
  if (!absl::GetFlag(FLAGS_tls_cert).empty()) {
    ssl.pem_cert_chain = ReadFileOrDie(absl::GetFlag(FLAGS_tls_cert));
    ssl.pem_private_key = ReadFileOrDie(absl::GetFlag(FLAGS_tls_key));
  }
  grpc::ChannelArguments args;
  if (!absl::GetFlag(FLAGS_tls_server_name).empty()) {
    args.SetSslTargetNameOverride(absl::GetFlag(FLAGS_tls_server_name));
  }
  return grpc::CreateCustomChannel(absl::GetFlag(FLAGS_addr),
                                   grpc::SslCredentials(ssl), args);
}

int Health(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(absl::GetFlag(FLAGS_service));
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) return Fail(s);
  std::string status =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
  std::printf("%s\n", status.c_str());
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0
                                                                         : 1;
}

int Info(TextGeneration::Stub* stub) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  terraserve::v1::ModelInfo info;
  grpc::Status s =
      stub->GetModelInfo(&ctx, terraserve::v1::GetModelInfoRequest(), &info);
  if (!s.ok()) return Fail(s);
  std::cout << info.DebugString();
  return 0;
}

int Tokenize(TextGeneration::Stub* stub, const std::string& text) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  terraserve::v1::TokenizeRequest req;
  req.set_text(text);
  terraserve::v1::TokenizeResponse resp;
  grpc::Status s = stub->Tokenize(&ctx, req, &resp);
  if (!s.ok()) return Fail(s);
  for (int i = 0; i < resp.ids_size(); ++i) {
    std::printf("%u\t%s\n", resp.ids(i), resp.pieces(i).c_str());
  }
  return 0;
}

int Generate(TextGeneration::Stub* stub, const std::string& prompt) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  terraserve::v1::GenerateRequest req;
  req.set_text(prompt);
  req.mutable_stopping()->set_max_new_tokens(
      absl::GetFlag(FLAGS_max_new_tokens));
  auto* sampling = req.mutable_sampling();
  sampling->set_temperature(absl::GetFlag(FLAGS_temperature));
  sampling->set_top_k(absl::GetFlag(FLAGS_top_k));
  sampling->set_top_p(absl::GetFlag(FLAGS_top_p));
  if (absl::GetFlag(FLAGS_seed) >= 0)
    sampling->set_seed(absl::GetFlag(FLAGS_seed));
  auto reader = stub->GenerateStream(&ctx, req);
  terraserve::v1::GenerateStreamResponse msg;
  terraserve::v1::Final final;
  std::printf("%s", prompt.c_str());
  while (reader->Read(&msg)) {
    std::printf("%s", msg.text().c_str());
    std::fflush(stdout);
    if (msg.has_final()) final = msg.final();
  }
  std::printf("\n");
  std::fflush(stdout);
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Fail(s);
  std::fprintf(
      stderr, "[%s, %u prompt + %u generated tokens, seed %llu, %.1f ms]\n",
      terraserve::v1::FinishReason_Name(final.finish_reason()).c_str(),
      final.usage().prompt_tokens(), final.usage().completion_tokens(),
      static_cast<unsigned long long>(final.seed()), final.timing().total_ms());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Client for terraserve.\nUsage: terraserve-cli [flags] "
      "health | info | tokenize TEXT | generate PROMPT");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() < 2) {
    std::fprintf(
        stderr,
        "usage: terraserve-cli [--addr=H:P] health|info|tokenize|generate\n");
    return 2;
  }
  std::string command = rest[1];
  std::vector<std::string> words(rest.begin() + 2, rest.end());
  std::string text = absl::StrJoin(words, " ");
  auto channel = MakeChannel();
  auto stub = TextGeneration::NewStub(channel);
  if (command == "health") return Health(channel);
  if (command == "info") return Info(stub.get());
  if (command == "tokenize") return Tokenize(stub.get(), text);
  if (command == "generate") return Generate(stub.get(), text);
  std::fprintf(stderr,
               "unknown command '%s' (health, info, tokenize, generate)\n",
               command.c_str());
  return 2;
}
