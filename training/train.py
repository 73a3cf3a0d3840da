"""Trains the bundled model (and its dense twin) on Debian's fortunes corpus.

  /usr/bin/python3 training/train.py --kind sparse --out models/terraformer-tiny
  /usr/bin/python3 training/train.py --kind dense  --out models/terraformer-tiny-dense

Seeded and reproducible on one machine (same seed, threads and library versions give
the same weights). Prints a progress bar and the validation loss every --eval_every
steps; writes the model directory (config.json, model.safetensors, tokenizer.model)
and train_log.json with the validation curve.
"""

import argparse
import json
import math
import os
import sys
import time

# One BLAS thread per process unless told otherwise: OpenBLAS otherwise starts its
# own pool beside torch's and the two oversubscribe the cores (toolchain.md 4d).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from terraformer import ModelConfig, TerraformerModel  # noqa: E402
from terraformer.corpus import load_fortunes, split_corpus  # noqa: E402
from terraformer.export import export_model  # noqa: E402
from terraformer.tokenizer import BOS_ID, EOS_ID, train_tokenizer  # noqa: E402
import sentencepiece as spm  # noqa: E402

VOCAB = 2048


def sparse_config() -> ModelConfig:
  """All sparse features: Sparse QKV, Sparse FF, SRU branch, factored loss, reversible."""
  return ModelConfig(vocab_size=VOCAB, d_model=256, n_heads=4, n_layers=4, max_len=512,
                     attn_per_block=2, attention="sparse_qkv", qkv_modules=4,
                     ff="sparse", d_ff=1024, ff_block_size=32, ff_lowrank=32,
                     sru_width=32, sru_layers=1, output="factored", loss_modules=4,
                     reversible=True)


def count_params(c: ModelConfig) -> int:
  return sum(p.numel() for p in TerraformerModel(c).parameters())


def dense_config() -> ModelConfig:
  """Dense twin: same depth and width, dense attention/FF/output, d_ff chosen so the
  parameter count matches the sparse model's as closely as a multiple of 16 allows."""
  target = count_params(sparse_config())
  best = None
  for f in range(16, 4096, 16):
    c = ModelConfig(vocab_size=VOCAB, d_model=256, n_heads=4, n_layers=4, max_len=512,
                    attn_per_block=2, attention="dense", ff="dense", d_ff=f,
                    output="dense", reversible=True)
    diff = abs(count_params(c) - target)
    if best is None or diff < best[0]:
      best = (diff, c)
  return best[1]


def encode_docs(sp, docs):
  stream = []
  for d in docs:
    stream += [BOS_ID] + sp.encode(d) + [EOS_ID]
  return torch.tensor(stream, dtype=torch.long)


def batches(stream, batch, seq, gen):
  starts = torch.randint(0, len(stream) - seq - 1, (batch,), generator=gen)
  x = torch.stack([stream[s:s + seq + 1] for s in starts])
  return x[:, :-1], x[:, 1:]


@torch.no_grad()
def evaluate(model, stream, seq, batch=32):
  """Mean next-token cross-entropy (nats/token) over all consecutive validation
  windows of `seq` tokens (the whole validation split)."""
  model.eval()
  n_windows = (len(stream) - 1) // seq
  total, count = 0.0, 0
  for w in range(0, n_windows, batch):
    idx = range(w, min(w + batch, n_windows))
    x = torch.stack([stream[i * seq:i * seq + seq + 1] for i in idx])
    logits = model.forward_full(x[:, :-1])
    total += torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum").item()
    count += x[:, 1:].numel()
  model.train()
  return total / count


def progress(step, steps, loss, t0, extra=""):
  width = 30
  done = int(width * step / steps)
  elapsed = time.time() - t0
  eta = elapsed / max(step, 1) * (steps - step)
  sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {step}/{steps} loss {loss:.3f} "
                   f"{elapsed:.0f}s eta {eta:.0f}s {extra}   ")
  sys.stderr.flush()


def main():
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--kind", choices=["sparse", "dense"], default="sparse")
  ap.add_argument("--out", required=True)
  ap.add_argument("--steps", type=int, default=2000)
  ap.add_argument("--batch", type=int, default=16)
  ap.add_argument("--seq", type=int, default=128)
  ap.add_argument("--lr", type=float, default=2e-3)
  ap.add_argument("--seed", type=int, default=1234)
  ap.add_argument("--eval_every", type=int, default=250)
  ap.add_argument("--threads", type=int, default=1)
  args = ap.parse_args()

  torch.manual_seed(args.seed)
  torch.set_num_threads(args.threads)
  os.makedirs(args.out, exist_ok=True)
  train_docs, valid_docs = split_corpus(load_fortunes(), args.seed)
  tok_path = train_tokenizer(train_docs, VOCAB, os.path.join(args.out, "tokenizer"), args.seed)
  sp = spm.SentencePieceProcessor(model_file=tok_path)
  train_stream, valid_stream = encode_docs(sp, train_docs), encode_docs(sp, valid_docs)

  config = sparse_config() if args.kind == "sparse" else dense_config()
  model = TerraformerModel(config)
  n_params = sum(p.numel() for p in model.parameters())
  print(f"{args.kind}: {n_params} parameters, {len(train_stream)} train / "
        f"{len(valid_stream)} valid tokens", file=sys.stderr)
  opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98),
                          weight_decay=0.01)
  warmup = max(1, args.steps // 20)
  sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warmup) * 0.5 *
                                            (1 + math.cos(math.pi * min(s, args.steps) /
                                                          args.steps)))
  gen = torch.Generator().manual_seed(args.seed)
  log = {"kind": args.kind, "parameters": n_params, "args": vars(args), "valid": []}
  t0, ema = time.time(), None
  model.train()
  for step in range(1, args.steps + 1):
    x, y = batches(train_stream, args.batch, args.seq, gen)
    logits = model.forward_full(x)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
    progress(step, args.steps, ema, t0)
    if step % args.eval_every == 0 or step == args.steps:
      v = evaluate(model, valid_stream, args.seq)
      log["valid"].append({"step": step, "loss": v, "train_loss_ema": ema})
      progress(step, args.steps, ema, t0, f"valid {v:.3f}\n")
  log["final_valid_loss"] = log["valid"][-1]["loss"]
  log["train_seconds"] = time.time() - t0
  model.eval()
  export_model(model, args.out, tok_path)
  os.remove(os.path.join(args.out, "tokenizer.vocab")) if os.path.exists(
      os.path.join(args.out, "tokenizer.vocab")) else None
  os.replace(tok_path, os.path.join(args.out, "tokenizer.model")) if tok_path != os.path.join(
      args.out, "tokenizer.model") else None
  with open(os.path.join(args.out, "train_log.json"), "w") as f:
    json.dump(log, f, indent=2)
  print(f"\nvalidation loss {log['final_valid_loss']:.4f} nats/token "
        f"(perplexity {math.exp(log['final_valid_loss']):.1f}); wrote {args.out}",
        file=sys.stderr)


if __name__ == "__main__":
  main()
