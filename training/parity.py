"""Writes reference logits that the C++ engine's parity tests compare against.

  /usr/bin/python3 training/parity.py --out DIR [--model_dir models/terraformer-tiny]

For every configuration in CONFIGS (small random-weight models exercising each layer
option) it writes DIR/<name>/{config.json, model.safetensors, parity.safetensors}; with
--model_dir it also writes DIR/<model name>/parity.safetensors for that model.
parity.safetensors holds, for sequence i, "tokens.i" (I32 [T]) and "logits.i" (F32
[T, V]): the full-sequence forward's logits at every position; encoder-decoder models
also have "source.i" (I32 [L]), the encoder input the decoder tokens continue. Deterministic for a
given seed. With --model_dir, DIR/<model name>/tokenizer.json also holds SentencePiece's
own encoding and decoding of sample texts, for the engine's tokenizer tests.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from terraformer import ModelConfig, TerraformerModel  # noqa: E402
from terraformer.export import export_model, import_model  # noqa: E402
from terraformer.safetensors_io import save_file  # noqa: E402

_BASE = dict(vocab_size=96, d_model=32, n_heads=4, n_layers=2, max_len=64, d_ff=64)
_SPARSE_FF = dict(ff="sparse", ff_block_size=8, ff_lowrank=6)
_SPARSE_QKV = dict(attention="sparse_qkv", qkv_modules=4)

# name -> overrides of _BASE; together they cover every option the engine supports.
CONFIGS = {
    "dense_plain": dict(),
    "dense_tied_rms": dict(output="tied", center_layernorm=False),
    "dense_reversible": dict(reversible=True, attn_per_block=2),
    "sparse_ff": dict(**_SPARSE_FF),
    "sparse_ff_multiply": dict(**_SPARSE_FF, multiply_by_controller_output=True),
    "sparse_qkv": dict(**_SPARSE_QKV),
    "sparse_loss": dict(output="factored", loss_modules=4),
    "sru": dict(sru_width=8, sru_layers=2),
    "all_sparse_reversible": dict(**_SPARSE_FF, **_SPARSE_QKV, output="factored",
                                  loss_modules=4, sru_width=8, reversible=True,
                                  attn_per_block=2),
    "sparse_qkv_s8_no_pos": dict(attention="sparse_qkv", qkv_modules=8, pos_type="none",
                                 n_heads=2),
    "encdec_all_sparse": dict(**_SPARSE_FF, **_SPARSE_QKV, output="factored", loss_modules=4,
                              sru_width=8, reversible=True, attn_per_block=2,
                              architecture="encoder_decoder", n_encoder_layers=2),
    "encdec_dense_plain": dict(architecture="encoder_decoder", n_encoder_layers=1),
}


def sequences(vocab: int, seed: int, lengths=(1, 7, 23)):
  g = torch.Generator().manual_seed(seed)
  return [torch.randint(0, vocab, (n,), generator=g) for n in lengths]


def write_parity(model: TerraformerModel, path: str, seqs, sources=None) -> None:
  tensors = {}
  with torch.no_grad():
    for i, toks in enumerate(seqs):
      src = sources[i].unsqueeze(0) if sources else None
      logits = model.forward_full(toks.unsqueeze(0), src)[0]
      tensors[f"tokens.{i}"] = toks.to(torch.int32)
      tensors[f"logits.{i}"] = logits.float()
      if sources:
        tensors[f"source.{i}"] = sources[i].to(torch.int32)
  save_file(tensors, path, metadata={"count": str(len(seqs))})


TOKENIZER_SAMPLES = [
    "Hello world", " leading space", "trailing space ", "two  spaces", "\n", "a\nb\n\nc",
    "Emoji: 🙂🚀 and accents: héllo naïve café", "日本語のテキスト", "1234567890 3.14159",
    "<s> </s> <unk> <pad> look like control tokens", "tabs\tand\r\nCRLF", "x",
    "A very long word: pneumonoultramicroscopicsilicovolcanoconiosis",
    "Punctuation!?... (parens) [brackets] {braces} 'quotes' \"double\"",
]


def write_tokenizer_vectors(model_dir: str, path: str) -> None:
  import sentencepiece as spm  # Debian's python3-sentencepiece
  from terraformer.corpus import load_fortunes
  sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
  texts = TOKENIZER_SAMPLES + load_fortunes()[:300]
  cases = [{"text": t, "ids": sp.encode(t), "decoded": sp.decode(sp.encode(t))} for t in texts]
  with open(path, "w") as f:
    json.dump(cases, f, ensure_ascii=False)


def randomize(model: TerraformerModel, seed: int) -> None:
  """Random values everywhere, biases and LayerNorm parameters too, so no term of
  the computation is trivially zero or one."""
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in sorted(model.named_parameters()):
      noise = torch.randn(p.shape, generator=g)
      if name.endswith("ln.scale"):
        p.copy_(1 + 0.2 * noise)
      elif p.dim() == 1:
        p.copy_(0.2 * noise)
      else:
        p.copy_(noise / p.shape[0] ** 0.5)


def main():
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--out", required=True)
  ap.add_argument("--model_dir", default=None)
  ap.add_argument("--seed", type=int, default=7)
  args = ap.parse_args()
  torch.manual_seed(args.seed)
  for name, overrides in CONFIGS.items():
    config = ModelConfig(**{**_BASE, **overrides})
    model = TerraformerModel(config).eval()
    randomize(model, args.seed)
    out = os.path.join(args.out, name)
    export_model(model, out, tokenizer_model=None)
    sources = (sequences(config.vocab_size, args.seed + 1, lengths=(9, 1, 30))
               if config.architecture == "encoder_decoder" else None)
    write_parity(model, os.path.join(out, "parity.safetensors"),
                 sequences(config.vocab_size, args.seed), sources)
  if args.model_dir:
    model = import_model(args.model_dir)
    out = os.path.join(args.out, os.path.basename(os.path.normpath(args.model_dir)))
    os.makedirs(out, exist_ok=True)
    write_parity(model, os.path.join(out, "parity.safetensors"),
                 sequences(model.config.vocab_size, args.seed, lengths=(5, 40)))
    write_tokenizer_vectors(args.model_dir, os.path.join(out, "tokenizer.json"))
  print(f"wrote parity vectors to {args.out}")


if __name__ == "__main__":
  main()
