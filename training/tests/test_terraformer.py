"""Tests of the PyTorch reference: shapes, known values, incremental decoding,
sparse FF equivalences and the safetensors round trip.

  /usr/bin/python3 -m unittest discover -s training/tests -t training
"""

import json
import math
import os
import struct
import tempfile
import unittest

import torch

from terraformer import DecodeState, ModelConfig, TerraformerModel
from terraformer.export import export_model, import_model, state_tensors
from terraformer.layers import (FactoredDense, LayerNorm, LocallyConvDense, SparseFF,
                                SRUBranch)
from terraformer.safetensors_io import load_file, save_file

ALL_SPARSE = dict(vocab_size=64, d_model=32, n_heads=4, n_layers=2, max_len=32,
                  attn_per_block=2, attention="sparse_qkv", qkv_modules=4, ff="sparse",
                  d_ff=64, ff_block_size=8, ff_lowrank=4, sru_width=8,
                  output="factored", loss_modules=4, reversible=True)


class LayerTest(unittest.TestCase):

  def test_layernorm_known_values(self):
    ln = LayerNorm(4)
    y = ln(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    expected = (torch.tensor([1.0, 2.0, 3.0, 4.0]) - 2.5) / math.sqrt(1.25 + 1e-6)
    torch.testing.assert_close(y[0], expected)
    rms = LayerNorm(2, center=False)
    torch.testing.assert_close(rms(torch.tensor([[3.0, 4.0]]))[0],
                               torch.tensor([3.0, 4.0]) / math.sqrt(12.5 + 1e-6))

  def test_factored_dense_matches_formula(self):
    torch.manual_seed(0)
    fd = FactoredDense(3, 5, 6)
    x = torch.randn(5)
    y = fd(x)
    for s in range(3):
      for m in range(2):
        want = sum(x[i] * fd.D[s, i] * fd.E[i, m] for i in range(5)) + fd.bias[s * 2 + m]
        self.assertAlmostEqual(y[s * 2 + m].item(), want.item(), places=5)

  def test_conv_matches_formula_with_zero_padding(self):
    torch.manual_seed(1)
    S, M, kL, kS, T = 3, 2, 3, 3, 4
    conv = LocallyConvDense(S, M, kL, kS)
    y = torch.randn(1, T, S * M)
    out, hist = conv(y, torch.zeros(1, kL - 1, S * M))
    yv = y.view(T, S, M)
    for t in range(T):
      for s in range(S):
        for o in range(M):
          acc = conv.bias[o].item()
          for i in range(kL):
            for j in range(kS):
              tt, ss = t - (kL - 1) + i, s - 1 + j
              if 0 <= tt < T and 0 <= ss < S:
                acc += (yv[tt, ss] * conv.weight[i, j, :, o]).sum().item()
          self.assertAlmostEqual(out[0, t, s * M + o].item(), acc, places=4)
    torch.testing.assert_close(hist[0], y[0, -2:])

  def test_sparse_ff_gather_equals_masked_dense(self):
    torch.manual_seed(2)
    for multiply in (False, True):
      ff = SparseFF(16, 64, 8, 4, multiply_by_controller_output=multiply).eval()
      x = torch.randn(5, 16)
      torch.testing.assert_close(ff(x), ff.forward_gather(x), rtol=1e-5, atol=1e-5)

  def test_sparse_ff_uses_one_unit_per_block(self):
    torch.manual_seed(3)
    ff = SparseFF(8, 32, 4, 2).eval()
    x = torch.randn(8)
    idx = ff.choice(x)
    self.assertEqual(idx.shape, (8,))
    # Perturbing an unchosen unit's W1 column does not change the output.
    y = ff(x)
    with torch.no_grad():
      other = (idx[0] + 1) % 4
      ff.w1[:, 0, other] += 100
    torch.testing.assert_close(ff(x), y)

  def test_sparse_ff_training_is_differentiable(self):
    torch.manual_seed(4)
    ff = SparseFF(8, 32, 4, 2).train()
    ff(torch.randn(3, 8)).sum().backward()
    self.assertIsNotNone(ff.m1.grad)
    self.assertGreater(ff.m2.grad.abs().sum().item(), 0)

  def test_sru_incremental_equals_full(self):
    torch.manual_seed(5)
    sru = SRUBranch(8, 4, 2, True)
    x = torch.randn(1, 6, 8)
    full = sru(x)
    state = {}
    parts = [sru(x[:, :2], state), sru(x[:, 2:3], state), sru(x[:, 3:], state)]
    torch.testing.assert_close(torch.cat(parts, 1), full)


class ModelTest(unittest.TestCase):

  def _check_incremental(self, **kw):
    torch.manual_seed(6)
    config = ModelConfig(**kw)
    model = TerraformerModel(config).eval()
    toks = torch.randint(0, config.vocab_size, (1, 12))
    with torch.no_grad():
      full = model.forward_full(toks)
      st = DecodeState()
      parts = [model(toks[:, :5], st)] + [model(toks[:, t:t + 1], st) for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=1e-5, atol=1e-5)
    self.assertEqual(full.shape, (1, 12, config.vocab_size))

  def test_incremental_decode_equals_full_forward(self):
    for kw in [dict(), dict(output="tied"), ALL_SPARSE,
               dict(ALL_SPARSE, reversible=False, attn_per_block=1)]:
      with self.subTest(kw=kw):
        self._check_incremental(**kw)

  def test_encoder_decoder_incremental_equals_full(self):
    torch.manual_seed(7)
    config = ModelConfig(**dict(ALL_SPARSE, architecture="encoder_decoder", n_encoder_layers=2))
    model = TerraformerModel(config).eval()
    src, tgt = torch.randint(0, 64, (1, 6)), torch.randint(0, 64, (1, 5))
    with torch.no_grad():
      full = model.forward_full(tgt, src)
      st = DecodeState()
      model.encode_prefix(src, st)
      parts = [model(tgt[:, :2], st)] + [model(tgt[:, t:t + 1], st) for t in range(2, 5)]
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=1e-5, atol=1e-5)

  def test_causality(self):
    torch.manual_seed(8)
    model = TerraformerModel(ModelConfig(**ALL_SPARSE)).eval()
    a = torch.randint(0, 64, (1, 10))
    b = a.clone()
    b[0, 7] = (b[0, 7] + 1) % 64
    with torch.no_grad():
      la, lb = model.forward_full(a), model.forward_full(b)
    torch.testing.assert_close(la[:, :7], lb[:, :7])
    self.assertGreater((la[:, 7:] - lb[:, 7:]).abs().max().item(), 0)


class SafetensorsTest(unittest.TestCase):

  def test_format_and_round_trip(self):
    with tempfile.TemporaryDirectory() as d:
      path = os.path.join(d, "x.safetensors")
      tensors = {"b": torch.arange(6, dtype=torch.float32).view(2, 3),
                 "a": torch.tensor([1, -2], dtype=torch.int32)}
      save_file(tensors, path, metadata={"k": "v"})
      raw = open(path, "rb").read()
      (n,) = struct.unpack("<Q", raw[:8])
      header = json.loads(raw[8:8 + n])
      self.assertEqual(header["__metadata__"], {"k": "v"})
      self.assertEqual(header["b"]["dtype"], "F32")
      self.assertEqual(header["b"]["shape"], [2, 3])
      b0, b1 = header["b"]["data_offsets"]
      self.assertEqual(b1 - b0, 24)
      self.assertEqual(struct.unpack("<6f", raw[8 + n + b0:8 + n + b1]), (0, 1, 2, 3, 4, 5))
      back, meta = load_file(path)
      torch.testing.assert_close(back["b"], tensors["b"])
      self.assertTrue(torch.equal(back["a"], tensors["a"]))

  def test_bf16_rounds_to_nearest(self):
    with tempfile.TemporaryDirectory() as d:
      path = os.path.join(d, "x.safetensors")
      save_file({"w": torch.tensor([1.0, 1.00390625, 3.14159])}, path, dtype_override="BF16")
      back, _ = load_file(path)
      torch.testing.assert_close(back["w"], torch.tensor([1.0, 1.0, 3.140625]))

  def test_model_export_import_round_trip(self):
    torch.manual_seed(9)
    model = TerraformerModel(ModelConfig(**ALL_SPARSE)).eval()
    with tempfile.TemporaryDirectory() as d:
      export_model(model, d, tokenizer_model=None)
      back = import_model(d)
      for name, t in state_tensors(model).items():
        torch.testing.assert_close(state_tensors(back)[name], t)
      toks = torch.randint(0, 64, (1, 5))
      with torch.no_grad():
        torch.testing.assert_close(back.forward_full(toks), model.forward_full(toks))


if __name__ == "__main__":
  unittest.main()
