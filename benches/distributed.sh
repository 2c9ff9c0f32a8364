#!/usr/bin/env bash
# One process with two threads against two MPI processes with one thread each, on the dense
# and CNN MNIST examples (2 epochs each, global batch 128), with the all-reduce's bytes and
# milliseconds per step, printed as BENCHMARKS.md's table rows.
#
#   cargo build --release --features mpi --example mnist_dense --example mnist_cnn
#   KILN_DATA_DIR=../shared/data/mnist bash benches/distributed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${EPOCHS:-2}
run() {
  local what=$1
  shift
  local log
  log=$(mktemp)
  "$@" --epochs "$epochs" --seed 1 >"$log" 2>&1 || { cat "$log"; exit 1; }
  local seconds acc comm
  seconds=$(grep -o 'fit_seconds=[0-9.]*' "$log" | cut -d= -f2)
  acc=$(grep -o 'test_accuracy=[0-9.]*' "$log" | cut -d= -f2)
  comm=$(grep '^comm_calls=' "$log" || echo "-")
  echo "| $what | $seconds | $acc | $comm |"
}
echo "| run | fit seconds ($epochs epochs) | test accuracy | all-reduce |"
echo "|---|---|---|---|"
for example in mnist_dense mnist_cnn; do
  bin=target/release/examples/$example
  run "$example, 1 process × 2 threads" env RAYON_NUM_THREADS=2 "$bin"
  run "$example, 2 processes × 1 thread" mpirun --allow-run-as-root --oversubscribe --bind-to none \
    -np 2 -x RAYON_NUM_THREADS=1 "$bin" --distributed
done
