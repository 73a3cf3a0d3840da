"""Model configuration shared by the PyTorch reference and the C++ engine.

The same fields are written to a model directory's config.json; engine/model/
model_config.cc reads them. Every field has a default so a config can be small.
"""

import dataclasses
import json
from typing import Any, Dict


@dataclasses.dataclass
class ModelConfig:
  # "decoder_lm": prompt -> continuation (Scaling Transformer LM / ReformerLM-like).
  # "encoder_decoder": Terraformer encoder + decoder over [encoder output; decoder].
  architecture: str = "decoder_lm"
  vocab_size: int = 256
  d_model: int = 64
  n_heads: int = 4
  n_layers: int = 2  # decoder blocks
  n_encoder_layers: int = 0  # encoder blocks (encoder_decoder only)
  max_len: int = 512  # rows of each positional table
  # Attention sublayers per decoder block: trax's n_decoder_attention_layers (2 in the
  # Terraformer); 1 gives the classic block.
  attn_per_block: int = 1
  # "dense" (Q, K, V, O projections with bias) or "sparse_qkv" (FactoredDense + causal
  # convolutions, no output projection; spec section 2).
  attention: str = "dense"
  qkv_modules: int = 0  # S of Sparse QKV
  conv_length_kernel: int = 3  # kL
  # "dense" (Dense_f, ReLU, Dense_d, both with bias) or "sparse" (spec section 1).
  ff: str = "dense"
  d_ff: int = 256
  ff_block_size: int = 0  # N: units per block of Sparse FF
  ff_lowrank: int = 0  # r: controller rank
  multiply_by_controller_output: bool = False
  # SRU branch added to the FF (spec 4.4): width u (0 = off) and number of SRU layers.
  sru_width: int = 0
  sru_layers: int = 1
  # "dense" (Dense_V with bias), "tied" (embedding transposed, no bias) or
  # "factored" (FactoredDense(S_l, d, V), the sparse loss).
  output: str = "dense"
  loss_modules: int = 0  # S_l
  # Two residual streams with half-residuals and swaps (spec 4.2) or plain pre-LN.
  reversible: bool = False
  center_layernorm: bool = True
  # "learned" (trainable table, trax pos_type None), or "none".
  pos_type: str = "learned"
  bos_id: int = 1
  eos_id: int = 2
  pad_id: int = 0
  unk_id: int = 3

  def validate(self) -> None:
    c = self
    assert c.architecture in ("decoder_lm", "encoder_decoder"), c.architecture
    assert c.d_model % c.n_heads == 0, "d_model must be divisible by n_heads"
    assert c.attention in ("dense", "sparse_qkv"), c.attention
    if c.attention == "sparse_qkv":
      assert c.qkv_modules > 0 and c.d_model % c.qkv_modules == 0
    assert c.ff in ("dense", "sparse"), c.ff
    if c.ff == "sparse":
      assert c.ff_block_size > 0 and c.d_ff % c.ff_block_size == 0
      assert c.ff_lowrank > 0
    assert c.output in ("dense", "tied", "factored"), c.output
    if c.output == "factored":
      assert c.loss_modules > 0 and c.vocab_size % c.loss_modules == 0
    assert c.pos_type in ("learned", "none"), c.pos_type
    if c.architecture == "encoder_decoder":
      assert c.n_encoder_layers > 0

  @property
  def head_dim(self) -> int:
    return self.d_model // self.n_heads

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @staticmethod
  def from_json(d: Dict[str, Any]) -> "ModelConfig":
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = set(d) - known
    if unknown:
      raise ValueError(f"unknown config fields: {sorted(unknown)}")
    c = ModelConfig(**d)
    c.validate()
    return c

  def save(self, path: str) -> None:
    with open(path, "w") as f:
      json.dump(self.to_json(), f, indent=2, sort_keys=True)
      f.write("\n")

  @staticmethod
  def load(path: str) -> "ModelConfig":
    with open(path) as f:
      return ModelConfig.from_json(json.load(f))
