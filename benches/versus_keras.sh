#!/usr/bin/env bash
# kiln beside Keras on TensorFlow and on JAX (and onnxruntime for inference), one after another
# in one run on one machine, with the ratios BENCHMARKS.md reports.
#
#   KILN_DATA_DIR=../shared/data/mnist KILN_KERAS_PYTHON=/path/to/python \
#     bash benches/versus_keras.sh dense [EPOCHS] [RUNS]   # training: cargo bench --bench mnist
#   bash benches/versus_keras.sh cnn [EPOCHS] [RUNS]
#   KILN_KERAS_PYTHON=/path/to/python bash benches/versus_keras.sh predict [SECONDS] [ROUNDS]
#
# Training: RUNS fresh models (seeds 1..RUNS) of EPOCHS epochs each (default 4 and 2: six steady
# epochs each, every epoch but each run's first); the figure compared is the median steady epoch.
# KERAS_BACKENDS (default "tensorflow jax") picks the Keras backends; the Keras CNN on JAX takes
# about 40 s per epoch on a 2-core machine. Prediction: samples per second at batch 1, 32 and
# 500 (`cargo bench --bench predict`, `benches/keras_predict.py`), kiln's over each other's:
# ROUNDS (default 1) rounds of kiln then each other in turn, the figure compared the median of
# the rounds, so that a virtual machine's drift (10-20% over minutes) falls on every side.
# The Python needs tensorflow-cpu 2.21, keras 3.15, jax[cpu] and onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-dense}
py=${KILN_KERAS_PYTHON:-python3}
backends=${KERAS_BACKENDS:-tensorflow jax}
log=${KILN_BENCH_LOG:-$(mktemp -d)}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"

if [ "$what" = predict ]; then
  seconds=${2:-5}
  rounds=${3:-1}
  cargo bench --bench predict --no-run
  for round in $(seq "$rounds"); do
    echo "round $round of $rounds"
    cargo bench --bench predict -- all "$seconds" | tee -a "$log/kiln"
    for backend in $backends; do
      KERAS_BACKEND=$backend "$py" benches/keras_predict.py "$seconds" | tee -a "$log/$backend"
    done
    "$py" benches/keras_predict.py "$seconds" --onnx target/bench-onnx | tee -a "$log/onnxruntime"
  done
  echo "kiln's samples per second over each other's (above 1: kiln is faster), medians of $rounds rounds"
  # shellcheck disable=SC2086 # one argument per backend
  "$py" benches/predict_ratios.py "$log" $backends onnxruntime
  exit 0
fi

epochs=${2:-4}
runs=${3:-2}
cargo bench --bench mnist -- "$what" "$epochs" "$runs" | tee "$log/kiln"
kiln=$(sed -nE 's/^steady epochs .*: kiln ([0-9.]+) s.*/\1/p' "$log/kiln")
for backend in $backends; do
  KERAS_BACKEND=$backend "$py" benches/keras_mnist.py "$what" "$epochs" "$runs" | tee "$log/$backend"
done
echo "steady epochs, $what: kiln $kiln s"
for backend in $backends; do
  keras=$(sed -nE 's/^steady epochs .*: keras ([0-9.]+) s.*/\1/p' "$log/$backend")
  awk -v k="$kiln" -v o="$keras" -v n="$backend" \
    'BEGIN { printf "  Keras on %s %.3f s: kiln / Keras %.2f\n", n, o, k / o }'
done
