#!/usr/bin/env bash
# Load on `kiln serve` with a real load generator (Debian's `hey`, or `wrk` with LOADGEN=wrk,
# which takes less of the machine's CPU for itself): the dense and
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
loadgen=${LOADGEN:-hey}
command -v "$loadgen" >/dev/null || { echo "install $loadgen (apt-get install $loadgen)"; exit 1; }
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
for m in ("dense", "cnn"):
    body = open(f"{sys.argv[1]}/{m}.json").read()
    with open(f"{sys.argv[1]}/{m}.lua", "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
        f.write(f"wrk.body = {json.dumps(body)}\n")
PY

# wrk's latency (250.00us, 1.20ms, 2.00s) in milliseconds
ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000
    print n }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "batching=$batching duration=$duration loadgen=$loadgen"
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
    if [ "$loadgen" = wrk ]; then
      wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "$duration" --latency -s "$work/$model.lua" "$url" >"$work/out.txt"
      rps=$(awk '/^Requests\/sec/ {print $2}' "$work/out.txt")
      p50=$(ms "$(awk '$1 == "50%" {print $2}' "$work/out.txt")")
      p99=$(ms "$(awk '$1 == "99%" {print $2}' "$work/out.txt")")
      total=$(awk '/requests in/ {print $1}' "$work/out.txt")
      bad=$(awk '/Non-2xx/ {print $NF}' "$work/out.txt")
      codes="requests=$total,non2xx=${bad:-0}"
    else
      hey -z "$duration" -c "$c" -m POST -T application/json -D "$work/$model.json" "$url" >"$work/out.txt"
      rps=$(awk '/Requests\/sec/ {print $2}' "$work/out.txt")
      p50=$(awk '/ 50% in/ {print $3 * 1000}' "$work/out.txt")
      p99=$(awk '/ 99% in/ {print $3 * 1000}' "$work/out.txt")
      codes=$(awk '/Status code distribution/ {on=1; next} on && /\[/ {printf "%s%s", sep, $1 $2; sep=","} on && !/\[/ && NF==0 {on=0}' "$work/out.txt")
    fi
    rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
    echo "$model $c $rps $p50 $p99 $codes $rss"
  done
  kill -TERM "$pid"
  wait "$pid" || true
done
