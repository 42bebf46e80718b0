#!/usr/bin/env bash
# The evidence sweep with common random numbers (issue 26): the `cpu` preset (250-step minimum schedule,
# shared seeding), real Fashion-MNIST (Debian's dataset-fashion-mnist), balanced pool and the 1.65 pool.
#
# Phase 1 answers the course's question first: random and TA-VAAL, trial by trial, to TRIALS trials.
# The extension then gives each pool the trials its own variance needs for a +-1-point interval (plan.py
# --extension, in extension.json): a pool that needs more grows in a sweep folder of its own, OUT-<pool>
# (extend.py starts it with the pool's first TRIALS trials copied from OUT).
# Phase 2 adds entropy, margin, core-set, BADGE, VAAL and Learning Loss to the same trials (pool by pool).
# Trials are added one at a time (`--resume` with one more), so an interrupted run holds whole trials.
# How many trials: the rule in plan.py, fixed before any comparison was read. Phase 1 runs the pilot (5 trials),
# then plan.py --write computes TRIALS from the pilot's variance into plan.json, and phase 1 grows to it.
#
# Usage: bash results/cpu-crn/run.sh [OUT]   (default results/cpu-crn/sweep; resumable: run it again)
#        PHASE=1 bash results/cpu-crn/run.sh  (phase 1 and the extension only)
set -euo pipefail
OUT=${1:-results/cpu-crn/sweep}
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
PILOT=5
PHASE=${PHASE:-all}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
POOLS=fashion-mnist,fashion-mnist-imb-1.65
FIRST=random,tavaal
ALL=random,tavaal,entropy,margin,coreset,badge,vaal,lloss

stored_trials() {  # the trial count the sweep in folder $1 holds (0 when there is none)
  if [ -e "$1/sweep.json" ]; then
    "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["spec"]["trials"])' "$1/sweep.json"
  else
    echo 0
  fi
}

stored_methods() {  # the methods the sweep in folder $1 holds, comma-separated (empty when there is none)
  if [ -e "$1/sweep.json" ]; then
    "$PY" -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["spec"]["methods"]))' "$1/sweep.json"
  fi
}

grow() {  # grow the sweep in OUT to methods $1, one trial at a time up to TRIALS
  local methods=$1 start
  start=$(stored_trials "$OUT"); [ "$start" -lt 1 ] && start=1
  # Phase 2 has begun (the sweep holds more methods, at TRIALS trials): phase 2's own command resumes every task.
  [ "$start" -ge "$TRIALS" ] && [ "$(stored_methods "$OUT")" != "$methods" ] && [ -e "$OUT/sweep.json" ] && return
  for t in $(seq "$start" "$TRIALS"); do
    resume=""; [ -e "$OUT/sweep.json" ] && resume="--resume"
    "$PY" -m tavaal_nb sweep --preset cpu --seed 0 --datasets "$POOLS" --methods "$methods" --trials "$t" \
        --workers 2 --quiet --out "$OUT" $resume
  done
}

TRIALS=$PILOT
grow "$FIRST"                                   # the pilot
[ -e "$HERE/plan.json" ] || "$PY" "$HERE/plan.py" "$OUT" --write
TRIALS=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["trials"])' "$HERE/plan.json")
grow "$FIRST"                                   # phase 1, to the planned trials

[ -e "$HERE/extension.json" ] || "$PY" "$HERE/plan.py" --extension "$OUT" --write
"$PY" -c 'import json, sys; [print(p, v["trials"]) for p, v in json.load(open(sys.argv[1]))["pools"].items()]' \
    "$HERE/extension.json" | while read -r pool n; do   # the extension, pool by pool
  [ "$n" -gt "$TRIALS" ] || continue
  dir="$OUT-$pool"
  "$PY" "$HERE/extend.py" "$OUT" "$pool" "$TRIALS" "$dir" < /dev/null
  t=$(stored_trials "$dir")  # two trials at a time: four tasks keep both workers busy (two leave one idle)
  while :; do
    "$PY" -m tavaal_nb sweep --preset cpu --seed 0 --datasets "$pool" --methods "$FIRST" --trials "$t" \
        --workers 2 --quiet --out "$dir" --resume < /dev/null
    [ "$t" -ge "$n" ] && break
    t=$(( t + 2 > n ? n : t + 2 ))
  done
done
if [ "$PHASE" != 1 ]; then  # the other methods for the same TRIALS trials (finished tasks are kept as they are)
  "$PY" -m tavaal_nb sweep --preset cpu --seed 0 --datasets "$POOLS" --methods "$ALL" --trials "$TRIALS" \
      --workers 2 --quiet --out "$OUT" --resume
fi
