#!/usr/bin/env bash
# The shipped cpu-preset results: real Fashion-MNIST (Debian's dataset-fashion-mnist), balanced pool and
# the 1.65 imbalanced pool, 6 methods, 5 paired trials, one sweep. Trials are added one at a time
# (`--resume` with one more trial) so that an interrupted run still holds whole trials of both pools.
# Usage: bash results/cpu/run.sh [OUT]   (default results/cpu/sweep; resumable: run it again)
set -euo pipefail
OUT=${1:-results/cpu/sweep}
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
start=1
if [ -e "$OUT/sweep.json" ]; then  # a sweep's trial count can grow, not shrink: continue from the stored one
  start=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["spec"]["trials"])' "$OUT/sweep.json")
fi
for t in $(seq "$start" 5); do
  resume=""; [ -e "$OUT/sweep.json" ] && resume="--resume"
  "$PY" -m tavaal_nb sweep --preset cpu --seed 0 --datasets fashion-mnist,fashion-mnist-imb-1.65 \
      --methods random,entropy,coreset,lloss,vaal,tavaal --trials "$t" --workers 2 --quiet \
      --out "$OUT" $resume
done
