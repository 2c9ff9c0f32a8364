#!/usr/bin/env bash
# The documented browser check of the TensorBoard callback: a 3-epoch MNIST run with validation
# through `kiln train --tensorboard`, served by `tensorboard --logdir`, then TensorBoard's own
# scalar API asked for the curves and a headless Chromium screenshot of its scalars page.
#
#   PYTHON=target/ci-python/bin/python KILN_DATA_DIR=../shared/data/mnist \
#     bash tests/interop/tensorboard_screenshot.sh [OUT_DIR]
#
# Needs the `tensorboard` package in $PYTHON and `chromium` (Debian: apt-get install chromium).
set -euo pipefail
out=${1:-target/tensorboard-check}
python=${PYTHON:-python3}
port=${PORT:-6123}
rm -rf "$out"
mkdir -p "$out"
cargo run --release -- train models/mnist_dense.json --data mnist --epochs 3 --batch-size 128 \
  --validation-split 0.1 --seed 1 --tensorboard "$out/logs" --out "$out/run" | grep -v '━'
"$python" -m tensorboard.main --logdir "$out/logs" --port "$port" >"$out/tensorboard.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 60); do
  if "$python" -c "import urllib.request; urllib.request.urlopen('http://localhost:$port/data/runs')" 2>/dev/null; then
    break
  fi
  sleep 1
done
"$python" - "$port" "$out/run/history.csv" <<'PY'
import csv, json, sys, urllib.request
port, history = sys.argv[1], sys.argv[2]
def get(path):
    return json.load(urllib.request.urlopen(f"http://localhost:{port}{path}"))
print("runs:", get("/data/runs"))
rows = list(csv.DictReader(open(history)))
for run, key in [("train", "loss"), ("validation", "val_loss")]:
    points = get(f"/data/plugin/scalars/scalars?run={run}&tag=epoch_loss")
    served = [(step, round(value, 5)) for _, step, value in points]
    logged = [(int(r["epoch"]), round(float(r[key]), 5)) for r in rows]
    print(f"{run} epoch_loss served by TensorBoard: {served}")
    assert served == logged, f"history.csv has {logged}"
print("the served curves are History's")
PY
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1000 \
  --virtual-time-budget=20000 --screenshot="$out/scalars.png" \
  "http://localhost:$port/?darkMode=false#scalars&tagFilter=epoch_loss" 2>/dev/null
ls -l "$out/scalars.png"
