"""PyTorch reference implementation of the Terraformer / Scaling Transformer."""

from .config import ModelConfig
from .model import DecodeState, TerraformerModel
