#!/usr/bin/env bash
# kiln beside Keras on TensorFlow and on JAX (and onnxruntime for inference), alternating in
# rounds in one run on one machine, with the ratios BENCHMARKS.md reports.
#
#   KILN_DATA_DIR=../shared/data/mnist KILN_KERAS_PYTHON=/path/to/python \
#     bash benches/versus_keras.sh dense [EPOCHS] [RUNS]   # training: cargo bench --bench mnist
#   bash benches/versus_keras.sh cnn [EPOCHS] [RUNS]
#   KILN_KERAS_PYTHON=/path/to/python bash benches/versus_keras.sh predict [SECONDS] [ROUNDS]
#
# Training: RUNS rounds (default 2), round k training a fresh model of EPOCHS epochs (default 4)
# with seed k in kiln (and in raw Burn, in the same process), then in each Keras backend; the
# figure compared is the median steady epoch (every epoch but each run's first: six each by
# default). KERAS_BACKENDS (default "tensorflow jax") picks the Keras backends; the Keras CNN
# on JAX takes about 40 s per epoch on a 2-core machine. Prediction: samples per second at
# batch 1, 32 and 500 (`cargo bench --bench predict`, `benches/keras_predict.py`): ROUNDS
# (default 1) rounds of kiln then each other, the figure compared the median over the rounds.
# Alternating puts a virtual machine's drift (10-50% over minutes) on every side.
# `benches/ratios.py` reads the logs (kept in KILN_BENCH_LOG, when set).
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
  "$py" benches/ratios.py predict "$log" $backends onnxruntime
  exit 0
fi

epochs=${2:-4}
runs=${3:-2}
cargo bench --bench mnist --no-run
for seed in $(seq "$runs"); do
  echo "round $seed of $runs"
  cargo bench --bench mnist -- "$what" "$epochs" 1 flex "$seed" | tee -a "$log/kiln"
  for backend in $backends; do
    KERAS_BACKEND=$backend "$py" benches/keras_mnist.py "$what" "$epochs" 1 "$seed" | tee -a "$log/$backend"
  done
done
echo "$what, kiln's steady epoch over each other's (below 1: kiln is faster)"
# shellcheck disable=SC2086 # one argument per backend
"$py" benches/ratios.py epochs "$log" $backends
