#!/usr/bin/env bash
# The server under load versus the engine alone, on a model shape with no
# trained weights (the server's --dummy_weights), side by side in one run:
# inter-token latency and tokens/s at 1, 4 and 16 streams, and the engine's
# step time at the same batch sizes. Usage:
#   bench/server_bench.sh [CONFIG_JSON] [OUT_DIR] [ENGINE_THREADS]
# Defaults: bench/configs/medium-sparse-v2048.json, docs/bench, 1. Needs the
# Release build (make build-release). Loopback only; bounded in requests.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-bench/configs/medium-sparse-v2048.json}
OUT=${2:-docs/bench}
THREADS=${3:-1}
BIN=build/release
NAME=$(basename "$CONFIG" .json)
mkdir -p "$OUT"
MODEL=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$MODEL"' EXIT
cp "$CONFIG" "$MODEL/config.json"
cp models/terraformer-tiny/tokenizer.model "$MODEL/"

"$BIN/server/terraserve" --model_dir="$MODEL" --dummy_weights --host=127.0.0.1 --port=0 \
  --metrics_port=0 --port_file="$MODEL/port" --log_requests=false \
  --engine_threads="$THREADS" >"$MODEL/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 600); do [[ -s "$MODEL/port" ]] && break; sleep 0.1; done
[[ -s "$MODEL/port" ]] || { cat "$MODEL/server.log"; exit 1; }
ADDR=127.0.0.1:$(cut -d' ' -f1 "$MODEL/port")
METRICS=http://127.0.0.1:$(cut -d' ' -f2 "$MODEL/port")/metrics
scrape() {
  /usr/bin/python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' "$METRICS" >"$1"
}

# Prompts of 32 tokens, 64 new tokens each: the engine figure is at context
# 32, where the streams' decoding starts. The host's speed drifts by tens of
# percent between minutes, so one stream (where the server's own cost shows)
# is measured three times, each server run next to an engine run, and each
# right after a 16-stream run, so each 16-against-1 ratio comes from one
# minute. The server's own metrics around each one-stream run split its
# inter-token latency into the engine step it timed and the rest.
for rep in 1 2 3; do
  "$BIN/bench/terraserve-load" --addr="$ADDR" --concurrency=16 --requests=32 \
    --prompt_tokens=32:32 --output_tokens=64:64 --vocab=2000 \
    --json_out="$OUT/${NAME}_rep${rep}_load_c16.json"
  scrape "$MODEL/metrics_before"
  "$BIN/bench/terraserve-load" --addr="$ADDR" --concurrency=1 --requests=4 \
    --prompt_tokens=32:32 --output_tokens=64:64 --vocab=2000 \
    --json_out="$OUT/${NAME}_rep${rep}_load_c1.json"
  scrape "$MODEL/metrics_after"
  /usr/bin/python3 - "$MODEL/metrics_before" "$MODEL/metrics_after" \
    >"$OUT/${NAME}_rep${rep}_split.json" <<'SPLIT'
import json, sys
def read(path):
    v = {}
    for line in open(path):
        if line.startswith("terraserve_"):
            name, value = line.rsplit(" ", 1)
            v[name] = float(value)
    return v
a, b = read(sys.argv[1]), read(sys.argv[2])
d = lambda k: b.get(k, 0) - a.get(k, 0)
step = 'terraserve_iteration_duration_seconds_%s{phase="decode"}'
itl = "terraserve_inter_token_latency_seconds_%s"
json.dump({"step_ms_mean": 1e3 * d(step % "sum") / d(step % "count"),
           "itl_ms_mean": 1e3 * d(itl % "sum") / d(itl % "count")}, sys.stdout)
SPLIT
  "$BIN/bench/terraserve-bench" --configs="$CONFIG" --batch_sizes=1 --contexts=32 \
    --decode_steps=64 --ff_layers=false --threads="$THREADS" \
    --json_out="$OUT/${NAME}_rep${rep}_engine.json"
done
cp "$OUT/${NAME}_rep3_load_c1.json" "$OUT/${NAME}_load_c1.json"
cp "$OUT/${NAME}_rep3_load_c16.json" "$OUT/${NAME}_load_c16.json"
"$BIN/bench/terraserve-load" --addr="$ADDR" --concurrency=4 --requests=8 \
  --prompt_tokens=32:32 --output_tokens=64:64 --vocab=2000 \
  --json_out="$OUT/${NAME}_load_c4.json"
kill "$SERVER"; wait "$SERVER" || true
"$BIN/bench/terraserve-bench" --configs="$CONFIG" --batch_sizes=1,4,16 --contexts=32 \
  --decode_steps=32 --ff_layers=false --threads="$THREADS" \
  --json_out="$OUT/${NAME}_engine.json"

/usr/bin/python3 - "$OUT" "$NAME" <<'EOF'
import json, statistics, sys
out, name = sys.argv[1], sys.argv[2]
def engine(path):
    return {r["batch"]: r for r in json.load(open(path))["results"]}
overheads, scaling = [], []
for rep in (1, 2, 3):
    e = engine(f"{out}/{name}_rep{rep}_engine.json")[1]["ms_per_token_median"]
    one = json.load(open(f"{out}/{name}_rep{rep}_load_c1.json"))
    s = one["itl_ms"]["p50"]
    overheads.append(s / e - 1)
    split = json.load(open(f"{out}/{name}_rep{rep}_split.json"))
    own = split["itl_ms_mean"] / split["step_ms_mean"] - 1
    print(f" 1 stream, pair {rep}: engine {e:.2f} ms/step, server ITL p50 {s:.2f} ms "
          f"({(s / e - 1) * 100:+.1f}%); inside the server, engine step mean "
          f"{split['step_ms_mean']:.2f} ms, ITL mean {split['itl_ms_mean']:.2f} ms "
          f"({own * 100:+.1f}%)")
    many = json.load(open(f"{out}/{name}_rep{rep}_load_c16.json"))["tokens_per_s"]
    scaling.append(many / one["tokens_per_s"])
    print(f"16 streams against 1, pair {rep}: {many:.1f} / "
          f"{one['tokens_per_s']:.1f} tokens/s = {scaling[-1]:.2f}x")
print(f" 1 stream: median server overhead {statistics.median(overheads) * 100:+.1f}%")
print(f"16 streams against 1: median {statistics.median(scaling):.2f}x")
eng = engine(f"{out}/{name}_engine.json")
for c in (1, 4, 16):
    load = json.load(open(f"{out}/{name}_load_c{c}.json"))
    e = eng[c]["ms_per_token_median"]
    s = load["itl_ms"]["p50"]
    print(f"{c:>2} streams: engine {e:.2f} ms/step ({c * 1000 / e:.1f} tokens/s), "
          f"server ITL p50 {s:.2f} ms ({(s / e - 1) * 100:+.1f}%), "
          f"{load['tokens_per_s']:.1f} tokens/s")
EOF
