"""SentencePiece tokenizer training with the special ids the engine expects."""

import io
from typing import List

import sentencepiece as spm

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


def train_tokenizer(docs: List[str], vocab_size: int, out_prefix: str, seed: int) -> str:
  """Trains a BPE model with byte fallback (any UTF-8 input is representable) and
  writes <out_prefix>.model; returns its path. BPE training over the whole corpus is
  deterministic, so `seed` is accepted for symmetry and unused."""
  del seed
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(docs), model_writer=model, vocab_size=vocab_size,
      model_type="bpe", byte_fallback=True, character_coverage=0.9995,
      pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID,
      pad_piece="<pad>", bos_piece="<s>", eos_piece="</s>", unk_piece="<unk>",
      max_sentence_length=16384, split_digits=True, num_threads=1, minloglevel=2,
      # Keep line breaks and runs of spaces: fortunes are often verse or tables.
      # Identity normalisation: the engine's tokenizer (engine/tokenizer) implements
      # SentencePiece BPE without the NFKC tables.
      user_defined_symbols=["\n"], remove_extra_whitespaces=False,
      normalization_rule_name="identity", input_sentence_size=0)
  path = out_prefix + ".model"
  with open(path, "wb") as f:
    f.write(model.getvalue())
  return path
