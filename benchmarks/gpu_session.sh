#!/usr/bin/env bash
# Runs on the lent GPU machine (the `device` tool), from the repository root, in ONE call each
# (benchmarks/README.md says how, and what to paste into docs/benchmarks.md):
#   bash benchmarks/gpu_session.sh bench        # everything about speed, under 10 minutes:
#       1. bench --baseline at the paper preset (ours vs the public code's pipeline, trial estimates)
#       2. bench --ablation at the paper preset (fp32 -> bf16 -> channels_last -> fused -> compile)
#       3. the matrix-product peak (bf16 at 3 sizes, fp32 with TF32 off/on)
#       4. --parallel-trials throughput: 4 trials of a shortened paper-shaped run, 1, 2 and 4 at a time
#   bash benchmarks/gpu_session.sh reproduce    # Fashion-MNIST, paper preset, random + tavaal, resumable
# Each step of `bench` has its own time limit (seconds, overridable: BENCH_S, ABLATION_S, PEAK_S,
# PARALLEL_S), so a slow or failing step leaves the others' figures; a step's exit status is logged.
# DEVICE (default cuda), PRESET (default paper) and PARALLEL_FLAGS (the shortened run's flags) make a
# dry run on a CPU possible: DEVICE=cpu PRESET=ci PARALLEL_FLAGS="--cycles 2" OUT=/tmp/gs bash $0 bench
# The GPU image has PyTorch but no registry: the package is pure Python and runs from the tree.
# Fashion-MNIST must travel with the call: copy the four .gz files from /usr/share/datasets/fashion-mnist/
# into .devcarry/fmnist/FashionMNIST/raw/ here (.gitignore ignores .devcarry/) and name .devcarry in carry.
# For `reproduce`, results come back under $OUT/fashion-mnist-paper.json; to continue in a later call, copy
# the results.json to .devcarry/fashion-mnist-paper/ here and carry it: the run resumes after its last cycle.
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-artifacts/gpu}"
mkdir -p "$OUT"
what="${1:-bench}"
DEVICE="${DEVICE:-cuda}"
PRESET="${PRESET:-paper}"
read -r -a parallel_flags <<< "${PARALLEL_FLAGS:---cycles 2 --epochs 20 --vae-iterations 500 --train-limit 20000 --test-limit 2000}"
smi() { command -v nvidia-smi > /dev/null && nvidia-smi "$@"; }
smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" | tee -a "$OUT/gpu.txt"
date -u +%Y-%m-%dT%H:%M:%SZ | tee -a "$OUT/gpu.txt"

# step NAME LIMIT_S COMMAND...: run COMMAND with a time limit, its output to $OUT/NAME.txt and here
step() {
  local name="$1" limit="$2" started=$SECONDS code
  shift 2
  echo "=== $name (limit ${limit}s, ${SECONDS}s into the call)"
  timeout --signal=INT --kill-after=15 "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
  code=${PIPESTATUS[0]}
  echo "=== $name: exit $code after $((SECONDS - started))s" | tee -a "$OUT/steps.txt"
}

case "$what" in
  bench)
    : > "$OUT/steps.txt"
    step "bench-$PRESET" "${BENCH_S:-120}" python3 -m tavaal_nb bench --preset "$PRESET" --dataset synthetic \
      --device "$DEVICE" --baseline --json "$OUT/bench-$PRESET.json"
    step "ablation-$PRESET" "${ABLATION_S:-210}" python3 -m tavaal_nb bench --ablation --preset "$PRESET" \
      --dataset synthetic --device "$DEVICE" --json "$OUT/ablation-$PRESET.json"
    step matmul-peak "${PEAK_S:-25}" python3 benchmarks/matmul_peak.py --device "$DEVICE" --json "$OUT/matmul-peak.json"
    # GPU utilisation and memory once a second while the trials run (how much one trial leaves unused)
    smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 > "$OUT/parallel-nvidia-smi.csv" &
    smi_pid=$!
    step parallel-trials "${PARALLEL_S:-180}" python3 benchmarks/parallel_throughput.py --out "$OUT/parallel" \
      --workers 1,2,4 --trials 4 --json "$OUT/parallel-trials.json" -- \
      --preset "$PRESET" --dataset synthetic --device "$DEVICE" "${parallel_flags[@]}"
    kill "$smi_pid" 2>/dev/null
    echo "=== done in ${SECONDS}s"; cat "$OUT/steps.txt"
    ;;
  reproduce)
    budget_s="${BUDGET_S:-540}"
    dest=".devcarry/fashion-mnist-paper"
    mkdir -p "$dest"
    flags=(--dataset fashion-mnist --method random,tavaal --preset paper --trials "${TRIALS:-3}"
           --data-dir .devcarry/fmnist --out "$dest" --no-progress --device cuda)
    [ -n "${PARALLEL_TRIALS:-}" ] && flags+=(--parallel-trials "$PARALLEL_TRIALS")
    [ -f "$dest/results.json" ] && flags+=(--resume)
    # stop cleanly before the call's limit: results are saved after every cycle
    timeout --signal=INT "$budget_s" python3 -m tavaal_nb run "${flags[@]}" || echo "stopped after ${budget_s}s; resume in the next call"
    cp "$dest/results.json" "$OUT/fashion-mnist-paper.json"
    # an interrupted --parallel-trials run keeps its unfinished trials here: carry them back too
    [ -d "$dest/trials" ] && cp -r "$dest/trials" "$OUT/fashion-mnist-paper-trials"
    ;;
  *) echo "usage: $0 bench|reproduce" >&2; exit 2 ;;
esac
