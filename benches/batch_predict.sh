#!/usr/bin/env bash
# Batch prediction over a large JSON-lines file: the MNIST test set (../shared/data/mnist, or
# the shipped subset) repeated to LINES instances (default 100,000), every 1,000th line
# followed by a broken one, through `kiln predict --input FILE.jsonl --output DIR` with the
# dense model (trained one epoch on the subset). Prints the time, the peak memory (max RSS)
# and the counts, for LINES and LINES/10 instances: memory must not grow with the file.
#
#   cargo build --release && bash benches/batch_predict.sh
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${LINES:-100000}
kiln=target/release/kiln
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
images=../shared/data/mnist/t10k-images-idx3-ubyte.gz
[ -f "$images" ] || images=src/datasets/mnist_subset/t10k-images-idx3-ubyte.gz
$kiln train models/mnist_dense.json --data src/datasets/mnist_subset --epochs 1 \
  --out "$work/dense" --device cpu --seed 1 >/dev/null
for n in $((lines / 10)) "$lines"; do
  python3 - "$images" "$n" >"$work/in.jsonl" <<'PY'
import gzip, json, sys
raw = gzip.open(sys.argv[1]).read()[16:]
count = len(raw) // 784
rows = [json.dumps([b / 255 for b in raw[i * 784:(i + 1) * 784]]) for i in range(count)]
for i in range(int(sys.argv[2])):
    print(rows[i % count])
    if i % 1000 == 999:
        print("[0.5, 0.5")
PY
  size=$(du -m "$work/in.jsonl" | cut -f1)
  /usr/bin/time -f "%e %M" -o "$work/time.txt" $kiln predict "$work/dense/model.safetensors" \
    --input "$work/in.jsonl" --output "$work/out" --device cpu >"$work/log.txt"
  read -r seconds rss <"$work/time.txt"
  echo "instances=$n file_mb=$size seconds=$seconds peak_rss_mb=$((rss / 1024)) $(cat "$work/log.txt" | cut -d' ' -f1-2)"
  cat "$work/out/prediction.errors_stats-00000-of-00001"
done
