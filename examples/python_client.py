"""A terraserve client in Python with Debian's python3-grpcio.

  PYTHONPATH=build/release/python /usr/bin/python3 examples/python_client.py \
      --addr 127.0.0.1:50051 "Once upon a time"

The stubs (terraserve/v1/generation_pb2*.py, and health_pb2*.py from Debian's grpc-proto,
generated as top-level modules because a `grpc` package would shadow grpcio) are generated
at build time by CMake with the system protoc and grpc_python_plugin into
build/<preset>/python.
"""

import argparse
import sys

import grpc

import health_pb2  # generated flat from grpc-proto's health.proto (see CMakeLists)
import health_pb2_grpc
from terraserve.v1 import generation_pb2, generation_pb2_grpc


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("prompt")
  ap.add_argument("--addr", default="127.0.0.1:50051")
  ap.add_argument("--max_new_tokens", type=int, default=32)
  ap.add_argument("--temperature", type=float, default=0.0)
  ap.add_argument("--seed", type=int, default=None)
  args = ap.parse_args()

  channel = grpc.insecure_channel(args.addr)
  health = health_pb2_grpc.HealthStub(channel).Check(
      health_pb2.HealthCheckRequest(service="terraserve.v1.TextGeneration"), timeout=10)
  print("health:", health_pb2.HealthCheckResponse.ServingStatus.Name(health.status))

  stub = generation_pb2_grpc.TextGenerationStub(channel)
  info = stub.GetModelInfo(generation_pb2.GetModelInfoRequest(), timeout=10)
  print(f"model: {info.model_id} (vocab {info.vocab_size}, sparse FF {info.architecture.sparse_ff})")

  req = generation_pb2.GenerateRequest(text=args.prompt)
  req.stopping.max_new_tokens = args.max_new_tokens
  req.sampling.temperature = args.temperature
  if args.seed is not None:
    req.sampling.seed = args.seed
  sys.stdout.write(args.prompt)
  final = None
  try:
    for msg in stub.GenerateStream(req, timeout=60):
      sys.stdout.write(msg.text)
      sys.stdout.flush()
      if msg.HasField("final"):
        final = msg.final
  except grpc.RpcError as e:
    print(f"\nerror: {e.code().name}: {e.details()}", file=sys.stderr)
    return 1
  print()
  print(f"finish: {generation_pb2.FinishReason.Name(final.finish_reason)}, "
        f"{final.usage.completion_tokens} tokens, seed {final.seed}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
