"""Terraformer layers in PyTorch, written from shared/docs/terraformer-spec.md.

Every layer works on [B, T, d] and takes an optional per-layer `state` dict for
incremental decoding (KV cache, convolution buffer, SRU carry). When a state is
given, the T new positions continue the sequence it holds, so a prefill may be
split into chunks and decoding is T = 1.

Weight layouts match the safetensors names in export.py and what the C++ engine
loads; dense matrices are stored [d_in, d_out] (y = x @ W + b), as trax stores them.
"""

import math
from typing import Dict, Optional

import torch
from torch import nn
import torch.nn.functional as F

State = Optional[Dict[str, torch.Tensor]]


class LayerNorm(nn.Module):
  """trax LayerNorm: eps 1e-6; center=False is the RMS variant (bias kept, unused)."""

  def __init__(self, d: int, center: bool = True):
    super().__init__()
    self.scale = nn.Parameter(torch.ones(d))
    self.bias = nn.Parameter(torch.zeros(d))
    self.center = center

  def forward(self, x):
    if self.center:
      mean = x.mean(-1, keepdim=True)
      var = ((x - mean) ** 2).mean(-1, keepdim=True)
      return (x - mean) / torch.sqrt(var + 1e-6) * self.scale + self.bias
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * self.scale


class Dense(nn.Module):
  """y = x @ weight + bias, weight stored [d_in, d_out]."""

  def __init__(self, d_in: int, d_out: int, bias: bool = True):
    super().__init__()
    self.weight = nn.Parameter(torch.randn(d_in, d_out) / math.sqrt(d_in))
    self.bias = nn.Parameter(torch.zeros(d_out)) if bias else None

  def forward(self, x):
    y = x @ self.weight
    return y + self.bias if self.bias is not None else y


class FactoredDense(nn.Module):
  """trax FactoredDense(S, d_in, d_out): y[s, m] = sum_i x_i D[s, i] E[i, m] + bias.

  Output is flattened s-major (index s * (d_out / S) + m). Same weights for the
  multiplicative layer of Sparse QKV and the sparse loss.
  """

  def __init__(self, modules: int, d_in: int, d_out: int):
    super().__init__()
    assert d_out % modules == 0
    self.modules_ = modules
    self.D = nn.Parameter(torch.randn(modules, d_in) / math.sqrt(modules))
    self.E = nn.Parameter(torch.randn(d_in, d_out // modules) / math.sqrt(d_in))
    self.bias = nn.Parameter(torch.zeros(d_out))

  def forward(self, x):
    # (x * D[s]) @ E for every s: [..., S, d_in] @ [d_in, Mo] -> [..., S, Mo].
    y = (x.unsqueeze(-2) * self.D) @ self.E
    return y.flatten(-2) + self.bias


class LocallyConvDense(nn.Module):
  """Causal convolution over (length, module) as trax LocallyConvDense (spec 2.2).

  out[t, s, o] = b[o] + sum_{i<kL, j<kS, c} y[t-(kL-1)+i, s-half+j, c] W[i, j, c, o]
  with zeros outside the sequence start and the module range (cross-correlation, no
  flip). Decode state: the last kL-1 inputs, zeros at the start (= trax _RememberPad).
  """

  def __init__(self, modules: int, width: int, length_kernel: int, module_kernel: int):
    super().__init__()
    self.S, self.M, self.kL, self.kS = modules, width, length_kernel, module_kernel
    fan_in = length_kernel * module_kernel * width
    self.weight = nn.Parameter(
        torch.randn(length_kernel, module_kernel, width, width) / math.sqrt(fan_in))
    self.bias = nn.Parameter(torch.zeros(width))

  def forward(self, y, history):
    """y: [B, T, S*M]; history: [B, kL-1, S*M] (previous inputs). Returns output and
    the new history."""
    B, T, _ = y.shape
    full = torch.cat([history, y], dim=1).view(B, T + self.kL - 1, self.S, self.M)
    half = (self.kS - 1) // 2
    # conv2d on NCHW with H = length, W = modules, C = M; PyTorch conv2d is also a
    # cross-correlation, so the kernel is used as stored (HWIO -> OIHW).
    x = full.permute(0, 3, 1, 2)
    w = self.weight.permute(3, 2, 0, 1)
    out = F.conv2d(x, w, self.bias, padding=(0, half))  # [B, M, T, S]
    out = out.permute(0, 2, 3, 1).reshape(B, T, self.S * self.M)
    new_history = full.view(B, T + self.kL - 1, -1)[:, T:, :]
    return out, new_history


def causal_attention(q, k_all, v_all, n_heads: int, start: int):
  """Scaled dot-product attention of T new queries over all cached positions.

  q: [B, T, d]; k_all, v_all: [B, L, d] with the new positions last (L = start + T).
  Query t (absolute position start + t) sees keys 0..start+t.
  """
  B, T, d = q.shape
  L = k_all.shape[1]
  dh = d // n_heads
  qh = q.view(B, T, n_heads, dh).transpose(1, 2)
  kh = k_all.view(B, L, n_heads, dh).transpose(1, 2)
  vh = v_all.view(B, L, n_heads, dh).transpose(1, 2)
  scores = qh @ kh.transpose(-1, -2) / math.sqrt(dh)
  qpos = torch.arange(T).unsqueeze(1) + start
  kpos = torch.arange(L).unsqueeze(0)
  scores = scores.masked_fill(kpos > qpos, -1e9)
  out = torch.softmax(scores, dim=-1) @ vh
  return out.transpose(1, 2).reshape(B, T, d)


def _append_kv(state: State, k, v):
  """Appends new keys and values to the cache in `state` and returns the full ones."""
  if state is None:
    return k, v, 0
  start = state["k"].shape[1] if "k" in state else 0
  if "k" in state:
    k = torch.cat([state["k"], k], dim=1)
    v = torch.cat([state["v"], v], dim=1)
  state["k"], state["v"] = k, v
  return k, v, start


class DenseAttention(nn.Module):
  """trax CausalAttention: dense Q, K, V, O with biases."""

  def __init__(self, d: int, n_heads: int):
    super().__init__()
    self.n_heads = n_heads
    self.q, self.k, self.v, self.o = (Dense(d, d) for _ in range(4))

  def forward(self, x, state: State = None):
    k, v, start = _append_kv(state, self.k(x), self.v(x))
    return self.o(causal_attention(self.q(x), k, v, self.n_heads, start))


class SparseQKVAttention(nn.Module):
  """trax MultiplicativeConvCausalAttention (the paper's Sparse QKV), spec 2.3.

  One FactoredDense shared by Q, K, V; Q and K get 3x3 (length x module) causal
  convolutions, V a kL x 1 one; heads split the s-major vector; no output projection.
  """

  def __init__(self, d: int, n_heads: int, modules: int, length_kernel: int):
    super().__init__()
    self.n_heads, self.d, self.kL = n_heads, d, length_kernel
    m = d // modules
    self.fd = FactoredDense(modules, d, d)
    self.conv_q = LocallyConvDense(modules, m, length_kernel, 3)
    self.conv_k = LocallyConvDense(modules, m, length_kernel, 3)
    self.conv_v = LocallyConvDense(modules, m, length_kernel, 1)

  def forward(self, x, state: State = None):
    y = self.fd(x)
    B = x.shape[0]
    if state is not None and "conv" in state:
      history = state["conv"]
    else:
      history = torch.zeros(B, self.kL - 1, self.d, dtype=x.dtype)
    q, new_history = self.conv_q(y, history)
    k, _ = self.conv_k(y, history)
    v, _ = self.conv_v(y, history)
    if state is not None:
      state["conv"] = new_history
    k, v, start = _append_kv(state, k, v)
    return causal_attention(q, k, v, self.n_heads, start)


class DenseFF(nn.Module):
  """Dense_f, ReLU, Dense_d (both with bias)."""

  def __init__(self, d: int, f: int):
    super().__init__()
    self.w1 = nn.Parameter(torch.randn(d, f) / math.sqrt(d))
    self.b1 = nn.Parameter(torch.zeros(f))
    self.w2 = nn.Parameter(torch.randn(f, d) / math.sqrt(f))
    self.b2 = nn.Parameter(torch.zeros(d))

  def forward(self, x):
    return F.relu(x @ self.w1 + self.b1) @ self.w2 + self.b2


class SparseFF(nn.Module):
  """trax SparseFF (spec section 1), stored shapes of spec 1.1.

  m1 [d, r], m2 [r, d1, N], mb [d1, N], w1 [d, d1, N], w2 [N, d1, d], b2 [d]; unit
  (b, e) <-> w1[:, b, e] <-> w2[e, b, :]. No b1. One unit per block is active.
  """

  def __init__(self, d: int, f: int, block: int, lowrank: int,
               multiply_by_controller_output: bool = False,
               temperature: float = 0.1, quant_prob: float = 0.3):
    super().__init__()
    self.d1, self.d2 = f // block, block
    self.m1 = nn.Parameter(torch.randn(d, lowrank) / math.sqrt(d))
    self.m2 = nn.Parameter(torch.randn(lowrank, self.d1, self.d2) / math.sqrt(lowrank))
    self.mb = nn.Parameter(torch.zeros(self.d1, self.d2))
    self.w1 = nn.Parameter(torch.randn(d, self.d1, self.d2) / math.sqrt(d))
    self.w2 = nn.Parameter(torch.randn(self.d2, self.d1, d) / math.sqrt(self.d1))
    self.b2 = nn.Parameter(torch.zeros(d))
    self.multiply = multiply_by_controller_output
    self.temperature, self.quant_prob = temperature, quant_prob

  def controller_logits(self, x):
    # Low rank, no nonlinearity between the factors, bias per unit.
    return torch.einsum("...r,rbe->...be", x @ self.m1, self.m2) + self.mb

  def choice(self, x):
    """Index of the active unit per block: argmax, first index on ties."""
    return self.controller_logits(x).argmax(-1)

  def _mask(self, x):
    logits = self.controller_logits(x)
    p = torch.softmax(logits, dim=-1)
    if self.training:
      # trax: Gumbel noise scaled by the temperature (logits are not divided), then a
      # straight-through one-hot with probability quant_prob, else the soft mask.
      if torch.rand(()) < self.quant_prob:
        u = torch.rand_like(p).clamp(1e-6, 1 - 1e-6)
        g = -torch.log(-torch.log(u))
        idx = (torch.log(p + 1e-9) + g * self.temperature).argmax(-1)
        hard = F.one_hot(idx, self.d2).to(p.dtype)
        return hard + p - p.detach(), p
      return p, p
    return F.one_hot(logits.argmax(-1), self.d2).to(p.dtype), p

  def forward(self, x):
    """Masked dense form: the same result as the gather form at inference."""
    mask, p = self._mask(x)
    h = F.relu(torch.einsum("...i,ibe->...be", x, self.w1)) * mask
    if self.multiply and not self.training:
      h = h * p
    return torch.einsum("...be,ebd->...d", h, self.w2) + self.b2

  def forward_gather(self, x):
    """Inference by gathering only the chosen rows (what the C++ decode path does)."""
    idx = self.choice(x)  # [..., d1]
    blocks = torch.arange(self.d1)
    u = self.w1[:, blocks, idx]  # [d, ..., d1] -> moved below
    u = u.movedim(0, -1)  # [..., d1, d]
    v = self.w2[idx, blocks, :]  # [..., d1, d]
    h = F.relu((x.unsqueeze(-2) * u).sum(-1))  # [..., d1]
    if self.multiply:
      p = torch.softmax(self.controller_logits(x), -1)
      h = h * p.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
    return (h.unsqueeze(-1) * v).sum(-2) + self.b2


class SRUBranch(nn.Module):
  """FF-parallel SRU branch (spec 4.4): Dense_d(SRU^n(Dense_u(LN(c)))).

  SRU cell: [r~, f~, y~] = x W + b; r, f = sigmoid; c_t = f c_{t-1} + (1 - f) y~;
  h_t = c_t r + x (1 - r) sqrt(3). No activation on c. Carry c per SRU layer.
  """

  def __init__(self, d: int, width: int, layers: int, center: bool):
    super().__init__()
    self.ln = LayerNorm(d, center)
    self.inp = Dense(d, width)
    self.cells = nn.ModuleList(Dense(width, 3 * width) for _ in range(layers))
    self.out = Dense(width, d)
    self.width = width

  def forward(self, x, state: State = None):
    h = self.inp(self.ln(x))
    B, T, _ = h.shape
    for n, cell in enumerate(self.cells):
      key = f"sru{n}"
      c = state[key] if state is not None and key in state else torch.zeros(B, self.width)
      rfy = cell(h)
      r, f, y = torch.sigmoid(rfy[..., :self.width]), torch.sigmoid(
          rfy[..., self.width:2 * self.width]), rfy[..., 2 * self.width:]
      outs = []
      for t in range(T):
        c = f[:, t] * c + (1 - f[:, t]) * y[:, t]
        outs.append(c * r[:, t] + h[:, t] * (1 - r[:, t]) * math.sqrt(3))
      h = torch.stack(outs, dim=1)
      if state is not None:
        state[key] = c
    return self.out(h)
