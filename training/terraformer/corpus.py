"""The training corpus: Debian's `fortunes` and `fortunes-min` packages.

Why fortunes: it is real, varied English prose (quotations, jokes, short stories,
definitions), about 2.5 MB of text, licensed for redistribution, and installable from
Debian's archive, which is all this build machine can reach. Each fortune is one
document, separated by a line holding only "%". The offensive set (fortunes-off) is
not used.
"""

import glob
import os
import random
from typing import List, Tuple

FORTUNE_DIR = "/usr/share/games/fortunes"


def load_fortunes(directory: str = FORTUNE_DIR) -> List[str]:
  docs = []
  for path in sorted(glob.glob(os.path.join(directory, "*"))):
    if path.endswith((".dat", ".u8")) or os.path.isdir(path):
      continue
    with open(path, encoding="utf-8", errors="replace") as f:
      text = f.read()
    for doc in text.split("\n%\n"):
      doc = doc.strip("%\n ")
      if len(doc) >= 20:
        docs.append(doc)
  if not docs:
    raise RuntimeError(f"no fortunes found in {directory}: install the `fortunes` package "
                       "(deploy/install-deps.sh train)")
  return docs


def split_corpus(docs: List[str], seed: int,
                 valid_fraction: float = 0.05) -> Tuple[List[str], List[str]]:
  """Deterministic shuffle, then the last valid_fraction of documents is validation."""
  docs = list(docs)
  random.Random(seed).shuffle(docs)
  n_valid = max(1, int(len(docs) * valid_fraction))
  return docs[:-n_valid], docs[-n_valid:]
