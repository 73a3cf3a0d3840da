"""Scaling Transformer LM and Terraformer encoder-decoder (spec sections 4.1-4.7).

Decode state (`DecodeState`) holds, per attention sublayer, the KV cache and the
convolution buffer, per FF sublayer the SRU carries, and the number of positions
seen. Passing the same state to successive `forward` calls continues the sequence:
that is incremental decoding, and chunked prefill.
"""

from typing import Dict, List, Optional

import torch
from torch import nn

from .config import ModelConfig
from .layers import (Dense, DenseAttention, DenseFF, FactoredDense, LayerNorm,
                     SparseFF, SparseQKVAttention, SRUBranch)


class DecodeState:
  """Per-sequence incremental state: one dict per sublayer, plus positions seen."""

  def __init__(self):
    self.layers: Dict[str, Dict[str, torch.Tensor]] = {}
    self.pos = 0  # decoder positions consumed (excluding an encoder prefix)

  def of(self, name: str) -> Dict[str, torch.Tensor]:
    return self.layers.setdefault(name, {})


class FeedForward(nn.Module):
  """trax FeedForwardWithOptions: FF(LN_f(x)) [+ SRU branch(x)]."""

  def __init__(self, c: ModelConfig):
    super().__init__()
    self.ln = LayerNorm(c.d_model, c.center_layernorm)
    if c.ff == "sparse":
      self.ff = SparseFF(c.d_model, c.d_ff, c.ff_block_size, c.ff_lowrank,
                         c.multiply_by_controller_output)
    else:
      self.ff = DenseFF(c.d_model, c.d_ff)
    self.sru = (SRUBranch(c.d_model, c.sru_width, c.sru_layers, c.center_layernorm)
                if c.sru_width else None)

  def forward(self, x, state=None):
    y = self.ff(self.ln(x))
    if self.sru is not None:
      y = y + self.sru(x, state)
    return y


class AttentionSublayer(nn.Module):
  """LN then causal attention (dense or Sparse QKV)."""

  def __init__(self, c: ModelConfig):
    super().__init__()
    self.ln = LayerNorm(c.d_model, c.center_layernorm)
    if c.attention == "sparse_qkv":
      self.attn = SparseQKVAttention(c.d_model, c.n_heads, c.qkv_modules,
                                     c.conv_length_kernel)
    else:
      self.attn = DenseAttention(c.d_model, c.n_heads)

  def forward(self, x, state=None):
    return self.attn(self.ln(x), state)


class EncoderAttentionSublayer(nn.Module):
  """LN then dense bidirectional attention (trax tl.Attention in the C4 configs)."""

  def __init__(self, c: ModelConfig):
    super().__init__()
    self.ln = LayerNorm(c.d_model, c.center_layernorm)
    self.n_heads = c.n_heads
    self.q, self.k, self.v, self.o = (Dense(c.d_model, c.d_model) for _ in range(4))

  def forward(self, x, state=None):
    h = self.ln(x)
    B, T, d = h.shape
    dh = d // self.n_heads
    split = lambda t: t.view(B, T, self.n_heads, dh).transpose(1, 2)
    q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
    a = torch.softmax(q @ k.transpose(-1, -2) / dh**0.5, -1) @ v
    return self.o(a.transpose(1, 2).reshape(B, T, d))


class Stack(nn.Module):
  """Sublayers applied as plain pre-LN residuals or as reversible half-residuals.

  Reversible (spec 4.2): streams (a, b); each sublayer does a <- a + F(b), then
  swaps, so the roles alternate.
  """

  def __init__(self, sublayers: List[nn.Module], reversible: bool, prefix: str):
    super().__init__()
    self.sublayers = nn.ModuleList(sublayers)
    self.reversible = reversible
    self.prefix = prefix

  def forward(self, x1, x2, state: Optional[DecodeState]):
    for i, f in enumerate(self.sublayers):
      s = state.of(f"{self.prefix}{i}") if state is not None else None
      if self.reversible:
        x1, x2 = x2, x1 + f(x2, s)
      else:
        x1 = x1 + f(x1, s)
    return x1, x2


def _decoder_sublayers(c: ModelConfig, n_blocks: int) -> List[nn.Module]:
  subs: List[nn.Module] = []
  for _ in range(n_blocks):
    subs += [AttentionSublayer(c) for _ in range(c.attn_per_block)]
    subs.append(FeedForward(c))
  return subs


class OutputLayer(nn.Module):
  def __init__(self, c: ModelConfig, embedding: nn.Parameter):
    super().__init__()
    self.kind = c.output
    if c.output == "dense":
      self.proj = Dense(c.d_model, c.vocab_size)
    elif c.output == "factored":
      self.proj = FactoredDense(c.loss_modules, c.d_model, c.vocab_size)
    self.embedding = embedding

  def forward(self, x):
    if self.kind == "tied":
      return x @ self.embedding.t()
    return self.proj(x)


class TerraformerModel(nn.Module):
  """decoder_lm or encoder_decoder, by config.architecture."""

  def __init__(self, c: ModelConfig):
    super().__init__()
    c.validate()
    self.config = c
    self.embed = nn.Parameter(torch.randn(c.vocab_size, c.d_model) * c.d_model**-0.5)
    if c.pos_type == "learned":
      self.pos = nn.Parameter(torch.randn(c.max_len, c.d_model) * 0.02)
    self.decoder = Stack(_decoder_sublayers(c, c.n_layers), c.reversible, "dec.")
    self.final_ln = LayerNorm(c.d_model, center=True)
    self.output = OutputLayer(c, self.embed)
    if c.architecture == "encoder_decoder":
      if c.pos_type == "learned":
        self.enc_pos = nn.Parameter(torch.randn(c.max_len, c.d_model) * 0.02)
      enc: List[nn.Module] = []
      for _ in range(c.n_encoder_layers):
        enc += [EncoderAttentionSublayer(c), FeedForward(c)]
      # The Terraformer encoder is always reversible here (reversible_encoder=True in
      # the C4 configs, two swaps per block), so its two streams feed the decoder.
      self.encoder = Stack(enc, True, "enc.")

  def embed_tokens(self, tokens, start: int, table: Optional[nn.Parameter]):
    x = self.embed[tokens]
    if table is not None:
      x = x + table[start:start + tokens.shape[1]]
    return x

  def _pos_table(self, name: str):
    return getattr(self, name) if self.config.pos_type == "learned" else None

  def _run_decoder(self, x1, x2, state):
    x1, x2 = self.decoder(x1, x2, state)
    out = (x1 + x2) / 2 if self.config.reversible else x1
    return self.output(self.final_ln(out))

  def forward(self, tokens, state: Optional[DecodeState] = None):
    """tokens [B, T] (decoder tokens) -> logits [B, T, V]."""
    start = state.pos if state is not None else 0
    if start + tokens.shape[1] > self.config.max_len:
      raise ValueError("sequence longer than max_len")
    x = self.embed_tokens(tokens, start, self._pos_table("pos"))
    if state is not None:
      state.pos += tokens.shape[1]
    return self._run_decoder(x, x, state)

  def encode_prefix(self, src_tokens, state: DecodeState):
    """encoder_decoder: runs the encoder over the (unpadded) source and the decoder
    stack over its output as a prefix, filling `state`. No logits (spec 4.6)."""
    e = self.embed_tokens(src_tokens, 0, self._pos_table("enc_pos"))
    e1, e2 = self.encoder(e, e, None)
    self.decoder(e1, e2, state)

  def forward_full(self, tokens, src_tokens=None):
    """Whole-sequence forward without state (training and parity checks)."""
    if self.config.architecture == "decoder_lm":
      return self.forward(tokens)
    e = self.embed_tokens(src_tokens, 0, self._pos_table("enc_pos"))
    e1, e2 = self.encoder(e, e, None)
    d = self.embed_tokens(tokens, 0, self._pos_table("pos"))
    z1, z2 = torch.cat([e1, d], 1), torch.cat([e2, d], 1)
    logits = self._run_decoder(z1, z2, None)
    return logits[:, src_tokens.shape[1]:]
