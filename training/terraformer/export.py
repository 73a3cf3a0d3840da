"""Model directory export and import: config.json, model.safetensors, tokenizer.model.

Tensor names are the PyTorch parameter names (e.g. "dec.3.ff.w1"); the C++ engine's
loader (engine/model/model_weights.cc) expects exactly these names and shapes.
"""

import os
import shutil
from typing import Optional

import torch

from .config import ModelConfig
from .model import TerraformerModel
from .safetensors_io import load_file, save_file


def state_tensors(model: TerraformerModel):
  """Parameter name -> tensor, with the tied output's alias dropped."""
  out = {}
  for name, p in model.named_parameters():
    if name.startswith("output.embedding"):
      continue
    out[name.replace("decoder.sublayers.", "dec.").replace("encoder.sublayers.", "enc.")] = p
  return out


def export_model(model: TerraformerModel, out_dir: str, tokenizer_model: Optional[str],
                 dtype: str = "F32") -> None:
  os.makedirs(out_dir, exist_ok=True)
  model.config.save(os.path.join(out_dir, "config.json"))
  save_file(state_tensors(model), os.path.join(out_dir, "model.safetensors"),
            metadata={"format": "terraserve"},
            dtype_override=None if dtype == "F32" else dtype)
  if tokenizer_model:
    dst = os.path.join(out_dir, "tokenizer.model")
    if os.path.abspath(tokenizer_model) != os.path.abspath(dst):
      shutil.copyfile(tokenizer_model, dst)


def import_model(model_dir: str) -> TerraformerModel:
  config = ModelConfig.load(os.path.join(model_dir, "config.json"))
  model = TerraformerModel(config)
  tensors, _ = load_file(os.path.join(model_dir, "model.safetensors"))
  expected = state_tensors(model)
  missing = set(expected) - set(tensors)
  extra = set(tensors) - set(expected)
  if missing or extra:
    raise ValueError(f"tensor names differ: missing {sorted(missing)}, extra {sorted(extra)}")
  with torch.no_grad():
    for name, p in expected.items():
      if tuple(tensors[name].shape) != tuple(p.shape):
        raise ValueError(f"{name}: expected shape {tuple(p.shape)}, found "
                         f"{tuple(tensors[name].shape)}")
      p.copy_(tensors[name])
  return model.eval()
