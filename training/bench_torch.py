"""Times the PyTorch reference decoding with its KV cache, for terraserve-bench.

  /usr/bin/python3 training/bench_torch.py --config medium-dense --context 256 --tokens 16 --batch 1

Random weights, f32, OpenBLAS with 2 threads. Prints ms_per_token=<median step time>.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from terraformer import DecodeState, ModelConfig, TerraformerModel  # noqa: E402

CONFIGS = {
    "medium-dense": dict(vocab_size=32000, d_model=1024, n_heads=16, n_layers=24, d_ff=4096,
                         max_len=2048),
    "tiny-dense": dict(vocab_size=2048, d_model=128, n_heads=4, n_layers=2, d_ff=512, max_len=2048),
}


def main():
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--config", default="medium-dense", choices=sorted(CONFIGS))
  ap.add_argument("--context", type=int, default=256)
  ap.add_argument("--tokens", type=int, default=16)
  ap.add_argument("--threads", type=int, default=2)
  ap.add_argument("--batch", type=int, default=1)
  args = ap.parse_args()
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  model = TerraformerModel(ModelConfig(**CONFIGS[args.config])).eval()
  state = DecodeState()
  with torch.no_grad():
    model(torch.randint(4, 1000, (args.batch, args.context)), state)
    times = []
    tok = torch.full((args.batch, 1), 5)
    for i in range(args.tokens + 2):
      t = time.perf_counter()
      logits = model(tok, state)
      tok = logits[:, -1:].argmax(-1)
      if i >= 2:
        times.append((time.perf_counter() - t) * 1000)
  print(f"ms_per_token={statistics.median(times):.3f}")


if __name__ == "__main__":
  main()
