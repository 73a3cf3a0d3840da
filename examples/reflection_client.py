"""Uses terraserve with nothing but server reflection: no .proto, no generated
terraserve stubs. Lists the services, builds the message classes from the descriptors
the server sends, and calls every RPC: GetModelInfo, Tokenize, Detokenize, Generate and
GenerateStream.

  PYTHONPATH=build/release/python /usr/bin/python3 examples/reflection_client.py --addr 127.0.0.1:50051

(Only the reflection service's own stubs are needed; CMake generates them from Debian's
grpc-proto package.)
"""

import argparse
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import reflection_pb2  # generated flat from grpc-proto's reflection.proto (see CMakeLists)
import reflection_pb2_grpc

SERVICE = "terraserve.v1.TextGeneration"


def reflect(channel, **request):
  stub = reflection_pb2_grpc.ServerReflectionStub(channel)
  return next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(**request)]),
                                        timeout=10))


def main():
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--addr", default="127.0.0.1:50051")
  args = ap.parse_args()
  channel = grpc.insecure_channel(args.addr)

  services = [s.name for s in reflect(channel, list_services="").list_services_response.service]
  print("services:", ", ".join(sorted(services)))
  if SERVICE not in services:
    return 1
  pool = descriptor_pool.DescriptorPool()
  files = reflect(channel, file_containing_symbol=SERVICE).file_descriptor_response
  for raw in files.file_descriptor_proto:
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(raw))
  service = pool.FindServiceByName(SERVICE)
  factory = message_factory.MessageFactory(pool)

  def call(method, **fields):
    m = service.FindMethodByName(method)
    req_cls = factory.GetPrototype(m.input_type)
    resp_cls = factory.GetPrototype(m.output_type)
    path = f"/{SERVICE}/{method}"
    if m.server_streaming:
      rpc = channel.unary_stream(path, req_cls.SerializeToString, resp_cls.FromString)
    else:
      rpc = channel.unary_unary(path, req_cls.SerializeToString, resp_cls.FromString)
    return rpc(req_cls(**fields), timeout=60)

  info = call("GetModelInfo")
  print("model:", info.model_id)
  ids = list(call("Tokenize", text="Hello world").ids)
  print("tokens:", ids)
  print("detokenized:", repr(call("Detokenize", ids=ids).text))
  out = call("Generate", text="A wise man", stopping={"max_new_tokens": 8})
  print("generated:", repr(out.text), "tokens:", len(out.token_ids))
  text = "".join(m.text for m in call("GenerateStream", text="A wise man", stopping={"max_new_tokens": 8}))
  print("streamed:", repr(text))
  return 0 if text == out.text else 1


if __name__ == "__main__":
  sys.exit(main())
