"""safetensors reader and writer, written from the public format description.

File = 8-byte little-endian u64 N, then N bytes of JSON header, then the data.
The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
(offsets relative to the start of the data), plus an optional "__metadata__" map of
strings. Data is raw little-endian, row-major. Tensors are laid out in name order,
each offset aligned to 8 bytes (the header is padded with spaces to keep the data
start aligned too).
"""

import json
import struct
from typing import Dict, Optional, Tuple

import numpy as np
import torch

_DTYPES = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "F16": np.float16}


def _to_bytes(t: torch.Tensor, dtype: str) -> bytes:
  t = t.detach().contiguous().cpu()
  if dtype == "BF16":
    # bf16 = the high 16 bits of the f32 pattern, rounded to nearest even.
    bits = t.float().numpy().view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2").tobytes()
  return t.numpy().astype(np.dtype(_DTYPES[dtype]).newbyteorder("<")).tobytes()


def _dtype_of(t: torch.Tensor) -> str:
  return {torch.float32: "F32", torch.int32: "I32", torch.int64: "I64",
          torch.float16: "F16"}[t.dtype]


def save_file(tensors: Dict[str, torch.Tensor], path: str,
              metadata: Optional[Dict[str, str]] = None,
              dtype_override: Optional[str] = None) -> None:
  """Writes `tensors`; dtype_override="BF16" stores float tensors as bfloat16."""
  header = {}
  blobs = []
  offset = 0
  for name in sorted(tensors):
    t = tensors[name]
    dtype = _dtype_of(t)
    if dtype_override and t.is_floating_point():
      dtype = dtype_override
    data = _to_bytes(t, dtype)
    pad = (-len(data)) % 8
    header[name] = {"dtype": dtype, "shape": list(t.shape),
                    "data_offsets": [offset, offset + len(data)]}
    blobs.append(data + b"\0" * pad)
    offset += len(data) + pad
  if metadata:
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
  h = json.dumps(header, separators=(",", ":")).encode()
  h += b" " * ((-len(h)) % 8)
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for b in blobs:
      f.write(b)


def load_file(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
  """Reads every tensor (bf16 widened to f32) and the metadata."""
  with open(path, "rb") as f:
    raw = f.read()
  (n,) = struct.unpack("<Q", raw[:8])
  header = json.loads(raw[8:8 + n])
  data = raw[8 + n:]
  meta = header.pop("__metadata__", {})
  out = {}
  for name, info in header.items():
    b, e = info["data_offsets"]
    buf = data[b:e]
    if info["dtype"] == "BF16":
      arr = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
    else:
      arr = np.frombuffer(buf, np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<"))
    out[name] = torch.from_numpy(arr.copy()).reshape(info["shape"])
  return out, meta
