#!/usr/bin/env bash
# Load on `kiln serve` with a real load generator (hey, Debian's `hey` package): the dense and
# CNN MNIST models (trained one epoch on the shipped subset), one MNIST test image per
# request, DURATION (default 30s) at concurrency 1, 16 and 64, batching on (the default).
# Prints requests per second, p50 and p99 latency, the status codes, and the server's peak
# memory (VmHWM). The in-process ceiling is `cargo bench --bench predict`. BATCHING=false
# runs the server with --enable-batching=false, for comparison.
#
#   cargo build --release && bash benches/serve_load.sh          # DURATION=5s for a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-30s}
batching=${BATCHING:-true}
kiln=target/release/kiln
command -v hey >/dev/null || { echo "install hey (apt-get install hey)"; exit 1; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

# one test image of the shipped subset, as the row format's single instance
python3 - "$work" <<'PY'
import gzip, json, sys
raw = gzip.open("src/datasets/mnist_subset/t10k-images-idx3-ubyte.gz").read()[16:16 + 784]
pixels = [b / 255 for b in raw]
rows = [[[pixels[r * 28 + c]] for c in range(28)] for r in range(28)]
json.dump({"instances": [pixels]}, open(f"{sys.argv[1]}/dense.json", "w"))
json.dump({"instances": [rows]}, open(f"{sys.argv[1]}/cnn.json", "w"))
PY

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "batching=$batching duration=$duration"
echo "model concurrency requests_per_s p50_ms p99_ms codes peak_rss_mb"
for model in dense cnn; do
  $kiln train "models/mnist_$model.json" --data src/datasets/mnist_subset --epochs 1 \
    --out "$work/$model" --device cpu --seed 1 >/dev/null
  mkdir -p "$work/base-$model/1"
  cp "$work/$model/model.safetensors" "$work/base-$model/1/"
  $kiln serve --model-name mnist --model-base-path "$work/base-$model" --rest-api-port 0 \
    --host 127.0.0.1 --device cpu --enable-batching="$batching" 2>"$work/$model.log" &
  pid=$!
  for _ in $(seq 100); do grep -q 'on http://' "$work/$model.log" && break; sleep 0.1; done
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/$model.log" | head -1 | cut -d: -f3)
  url="http://127.0.0.1:$port/v1/models/mnist:predict"
  for c in 1 16 64; do
    hey -z "$duration" -c "$c" -m POST -T application/json -D "$work/$model.json" "$url" >"$work/hey.txt"
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/hey.txt")
    p50=$(awk '/ 50% in/ {print $3 * 1000}' "$work/hey.txt")
    p99=$(awk '/ 99% in/ {print $3 * 1000}' "$work/hey.txt")
    codes=$(awk '/Status code distribution/ {on=1; next} on && /\[/ {printf "%s%s", sep, $1 $2; sep=","} on && !/\[/ && NF==0 {on=0}' "$work/hey.txt")
    rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
    echo "$model $c $rps $p50 $p99 $codes $rss"
  done
  kill -TERM "$pid"
  wait "$pid" || true
done
