"""Plots for docs/performance.md from the benchmark JSON (make bench).

  /usr/bin/python3 bench/plot.py --engine docs/bench/engine.json \
      --load 'docs/bench/medium-sparse-v2048_load_c*.json' --out docs/bench

Writes decode_ms_per_token.png (ms per decode step by batch size: dense, sparse,
PyTorch and each model's bound from the measured bandwidth and GEMM peak) and
server_concurrency.png (tokens/s, TTFT and inter-token latency by concurrency).
Needs Debian's python3-matplotlib (deploy/install-deps.sh bench).
"""

import argparse
import glob
import json
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_engine(path, out):
  data = json.load(open(path))
  context = max(r["context"] for r in data["results"]) if data["results"] else 0
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for config, style in (("medium-dense", "o-"), ("medium-sparse", "s-")):
    rows = sorted((r for r in data["results"]
                   if r["config"] == config and r["context"] == context),
                  key=lambda r: r["batch"])
    if not rows:
      continue
    batches = [r["batch"] for r in rows]
    line, = ax.plot(batches, [r["ms_per_token_median"] for r in rows], style,
                    label=f"{config} (terraserve)")
    ax.plot(batches, [r["bound_ms"] for r in rows], "--", color=line.get_color(),
            label=f"{config} bound")
  torch_rows = sorted(data.get("pytorch_medium_dense", []), key=lambda r: r["batch"])
  if torch_rows:
    ax.plot([r["batch"] for r in torch_rows], [r["ms_per_token"] for r in torch_rows],
            "^-", label="medium-dense (PyTorch reference)")
  machine = data["machine"]
  ax.set(xscale="log", yscale="log", xlabel="sequences per step (batch)",
         ylabel="ms per decode step",
         title=f"Decode at context {context}: {machine['read_gbps']:.0f} GB/s, "
               f"{machine['gemm_gflops']:.0f} GFLOP/s measured")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(out, "decode_ms_per_token.png"), dpi=110)


def plot_load(pattern, out):
  runs = []
  for path in glob.glob(pattern):
    m = re.search(r"_c(\d+)\.json$", path)
    if m:
      runs.append((int(m.group(1)), json.load(open(path))))
  if not runs:
    return
  runs.sort()
  conc = [c for c, _ in runs]
  fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
  a1.plot(conc, [r["tokens_per_s"] for _, r in runs], "o-")
  a1.set(xlabel="concurrent streams", ylabel="tokens/s", title="Throughput")
  for key, label in (("ttft_ms", "TTFT"), ("itl_ms", "inter-token latency")):
    a2.plot(conc, [r[key]["p50"] for _, r in runs], "o-", label=f"{label} p50")
    a2.plot(conc, [r[key]["p90"] for _, r in runs], "x--", label=f"{label} p90")
  a2.set(xlabel="concurrent streams", ylabel="ms", yscale="log", title="Latency")
  for a in (a1, a2):
    a.set_xscale("log", base=2)
    a.grid(True, which="both", alpha=0.3)
  a2.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(out, "server_concurrency.png"), dpi=110)


def main():
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--engine", required=True)
  ap.add_argument("--load", default="")
  ap.add_argument("--out", default="docs/bench")
  args = ap.parse_args()
  plot_engine(args.engine, args.out)
  if args.load:
    plot_load(args.load, args.out)


if __name__ == "__main__":
  main()
