"""Generates text with the PyTorch reference from a model directory.

  /usr/bin/python3 training/sample.py models/terraformer-tiny "A wise man" "The cat"

Prints the greedy continuation and three sampled ones (temperature 0.8, top-k 40, seeds
1..3) for every prompt, decoding incrementally with the KV cache.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from terraformer import DecodeState  # noqa: E402
from terraformer.export import import_model  # noqa: E402
import sentencepiece as spm  # noqa: E402


@torch.no_grad()
def generate(model, sp, prompt, max_new=40, temperature=0.0, top_k=0, seed=0):
  g = torch.Generator().manual_seed(seed)
  ids = [sp.bos_id()] + sp.encode(prompt)
  state = DecodeState()
  logits = model(torch.tensor([ids]), state)[0, -1]
  out = []
  for _ in range(max_new):
    if temperature == 0:
      tok = int(logits.argmax())
    else:
      l = logits / temperature
      if top_k:
        kth = torch.topk(l, top_k).values[-1]
        l = torch.where(l < kth, torch.full_like(l, -float("inf")), l)
      tok = int(torch.multinomial(torch.softmax(l, -1), 1, generator=g))
    if tok == sp.eos_id():
      break
    out.append(tok)
    logits = model(torch.tensor([[tok]]), state)[0, -1]
  return sp.decode(ids[1:] + out)


def main():
  model_dir, prompts = sys.argv[1], sys.argv[2:] or ["A wise man"]
  model = import_model(model_dir)
  sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
  for p in prompts:
    print(f"greedy:  {generate(model, sp, p)!r}")
    for seed in (1, 2, 3):
      print(f"seed {seed}:  {generate(model, sp, p, temperature=0.8, top_k=40, seed=seed)!r}")


if __name__ == "__main__":
  main()
