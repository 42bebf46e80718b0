#!/usr/bin/env bash
# Runs on the lent GPU machine (the `run` tool), from the repository root, in ONE call each
# (benchmarks/README.md gives the exact calls and what to do with what comes back):
#   bash benchmarks/gpu_session.sh bench       # everything about speed, within one deadline (DEADLINE_S, 540 s):
#       0. an import check (torch, torchvision, PIL, tqdm, scipy) written to gpu.txt before anything else,
#          then nvidia-smi sampled every 250 ms until the call ends (nvidia-smi.csv)
#       1. the CUDA-graph correctness checks (python -m tavaal_nb.bench.graph_checks: capture on the run's
#          device, replayed random draws bit for bit, fp32 captured vs eager at 1e-4): first and short
#       2. bench with CUDA graphs on, then off (GRAPHS), at the paper preset: steady-state rates by
#          differencing, the fixed cost of a call, the per-epoch overhead at 1,000 and 4,000 labeled
#          (EPOCH_OVERHEAD), host operator calls per step, GPU busy beside nvidia-smi, peak memory, the
#          predicted trial; the first one also against the public code's pipeline (--baseline); then the
#          two side by side (graphs-on-vs-off in summary.txt)
#       3. bench --concurrency 1,2: trials per hour with 1 and 2 trials sharing the GPU
#       4. bench --ablation (fp32 -> bf16 -> channels_last -> fused -> graphs -> autocast cache -> compile
#          instead of graphs, each variant in its own process): whatever time is left
#       5. the matrix-product peak (bf16 at 3 sizes, fp32 with TF32 off/on), if time is left
#   bash benchmarks/gpu_session.sh reproduce   # Fashion-MNIST, paper preset, random/lloss/vaal/tavaal,
#       5 trials packed onto the GPU, into results/fashion-mnist-paper/; stops itself (SIGINT, the run
#       saves its finished cycles) before BUDGET_S seconds; the next call continues it (--resume).
# Whatever a mode writes goes to a scratch folder and is packed at the end into at most 8 files under
# $OUT (the device tool brings back at most 8): bench -> gpu.txt, summary.txt, bench.tar.gz, nvidia-smi.csv;
# reproduce -> gpu.txt, reproduce.txt, reproduce.tar.gz, fashion-mnist-paper.json, nvidia-smi.csv.
# Every step has its own limit (seconds: CHECKS_S, BENCH_S, CONCURRENCY_S, ABLATION_S, PEAK_S; 0 skips it)
# and never more than the time left before the deadline, so a slow or failing step leaves the others'
# figures; each step's exit status is logged. A dry run on the CPU (tests/test_gpu_session.py runs this):
#   DEVICE=cpu PRESET=ci STEPS=1 GRAPHS="auto off" EPOCH_OVERHEAD=40,100 ABLATION_S=0 PEAK_S=0 OUT=/tmp/gs \
#     bash benchmarks/gpu_session.sh bench
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-artifacts/gpu}"
DEVICE="${DEVICE:-cuda}"
PRESET="${PRESET:-paper}"
DEADLINE_S="${DEADLINE_S:-540}"  # the whole call, start-up of the machine not included
RESERVE_S="${RESERVE_S:-10}"     # kept back at the end for packing
what="${1:-bench}"
mkdir -p "$OUT"
work="$(mktemp -d "${TMPDIR:-/tmp}/gpu-session.XXXXXX")" || exit 2
steps_flags=()
[ -n "${STEPS:-}" ] && steps_flags=(--steps "$STEPS")

# 0. the import check first, so that even a call that dies at once says what the machine has
"$PYTHON" - > "$OUT/gpu.txt" 2>&1 << 'EOF'
import importlib
for name in ("torch", "torchvision", "PIL", "tqdm", "scipy"):
    try:
        module = importlib.import_module(name)
        print(f"import {name}: ok {getattr(module, '__version__', '')}")
    except Exception as error:  # noqa: BLE001 - every module is tried and reported
        print(f"import {name}: FAILED ({type(error).__name__}: {error})")
import os
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cores", os.cpu_count())
EOF
smi() { command -v nvidia-smi > /dev/null && nvidia-smi "$@"; }
smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw --format=csv -lms 250 \
  > "$work/nvidia-smi.csv" 2> /dev/null &
smi_pid=$!
finish() {
  kill "$smi_pid" 2> /dev/null
  wait "$smi_pid" 2> /dev/null
  [ -s "$work/nvidia-smi.csv" ] && cp "$work/nvidia-smi.csv" "$OUT/nvidia-smi.csv"
  rm -rf "$work"
}
trap finish EXIT
{
  smi --query-gpu=name,memory.total,driver_version --format=csv
  git log -1 --format='commit %h %s' 2> /dev/null
  date -u +%Y-%m-%dT%H:%M:%SZ
} >> "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"

# step NAME LIMIT_S COMMAND...: COMMAND with a time limit of LIMIT_S or the time left before the deadline,
# whichever is less (SIGINT, then KILL 15 s later), its output to $work/NAME.txt and here; LIMIT_S 0, or
# less than 5 s left, skips it. Each step's exit status goes to $work/steps.txt.
step() {
  local name="$1" limit="$2" started=$SECONDS code left
  shift 2
  left=$(( DEADLINE_S - RESERVE_S - SECONDS ))
  if [ "$limit" = 0 ]; then
    echo "=== $name: skipped (limit 0)" | tee -a "$work/steps.txt"
    return 0
  fi
  if [ "$left" -lt 5 ]; then
    echo "=== $name: skipped (${left}s left before the ${DEADLINE_S}s deadline)" | tee -a "$work/steps.txt"
    return 0
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  echo "=== $name (limit ${limit}s, ${SECONDS}s into the call)"
  timeout --signal=INT --kill-after=15 "$limit" "$@" 2>&1 | grep -v -e '^USDT:' -e 'gpuGetDeviceCount failed' | tee "$work/$name.txt"
  code=${PIPESTATUS[0]}
  echo "=== $name: exit $code after $((SECONDS - started))s" | tee -a "$work/steps.txt"
}

case "$what" in
  bench)
    : > "$work/steps.txt"
    bench=("$PYTHON" -m tavaal_nb bench --preset "$PRESET" --dataset synthetic --device "$DEVICE" "${steps_flags[@]}")
    step graph-checks "${CHECKS_S:-60}" "$PYTHON" -m tavaal_nb.bench.graph_checks --json "$work/graph-checks.json"
    names=() files=() extra=(--baseline)
    for graphs in ${GRAPHS:-on off}; do
      name="bench-$PRESET-graphs-$graphs"
      step "$name" "${BENCH_S:-150}" "${bench[@]}" --cuda-graphs "$graphs" "${extra[@]}" \
        --epoch-overhead "${EPOCH_OVERHEAD:-1000,4000}" --json "$work/$name.json"
      names+=("$name")
      [ -f "$work/$name.json" ] && files+=("$work/$name.json")
      extra=()
    done
    if [ "${#files[@]}" -gt 0 ]; then
      "$PYTHON" -m tavaal_nb.bench.speed "${files[@]}" > "$work/graphs-on-vs-off.txt" 2>&1
      cat "$work/graphs-on-vs-off.txt"
    fi
    step concurrency "${CONCURRENCY_S:-90}" "${bench[@]}" --concurrency "${CONCURRENCY:-1,2}" --json "$work/concurrency.json"
    step "ablation-$PRESET" "${ABLATION_S:-200}" "${bench[@]}" --ablation --json "$work/ablation-$PRESET.json"
    step matmul-peak "${PEAK_S:-20}" "$PYTHON" benchmarks/matmul_peak.py --device "$DEVICE" --json "$work/matmul-peak.json"
    # summary.txt: every step's output (the tables to paste), the side-by-side table, then the exit statuses
    for name in graph-checks "${names[@]}" graphs-on-vs-off concurrency "ablation-$PRESET" matmul-peak; do
      [ -f "$work/$name.txt" ] && { echo "##### $name"; cat "$work/$name.txt"; }
    done > "$OUT/summary.txt"
    { echo "##### steps (done in ${SECONDS}s of the ${DEADLINE_S}s deadline)"; cat "$work/steps.txt"; } >> "$OUT/summary.txt"
    kill "$smi_pid" 2> /dev/null
    tar -czf "$OUT/bench.tar.gz" -C "$work" .
    cat "$work/steps.txt"
    ;;
  reproduce)
    data="${DATA_DIR:-.devcarry/fashion-mnist}"
    dest="${RESULTS_DIR:-results/fashion-mnist-paper}"
    if ! ls "$data"/FashionMNIST/raw/train-images-idx3-ubyte* > /dev/null 2>&1; then
      echo "error: no Fashion-MNIST under $data/FashionMNIST/raw/ (copy the four .gz files there and carry .devcarry)" \
        | tee "$OUT/reproduce.txt" >&2
      exit 2
    fi
    flags=(--dataset fashion-mnist --method "${METHODS:-random,lloss,vaal,tavaal}" --preset "$PRESET"
           --trials "${TRIALS:-5}" --data-dir "$data" --out "$dest" --no-progress --device "$DEVICE"
           --parallel-trials "${PARALLEL_TRIALS:-auto}")
    [ -n "${RUN_FLAGS:-}" ] && read -r -a extra <<< "$RUN_FLAGS" && flags+=("${extra[@]}")
    [ -e "$dest/results.json" ] || [ -d "$dest/trials" ] && flags+=(--resume)
    # stop cleanly before the call's limit: SIGINT makes the run save its finished cycles and exit 130
    DEADLINE_S="${BUDGET_S:-500}" RESERVE_S=0
    step reproduce "$(( DEADLINE_S > 1 ? DEADLINE_S : 1 ))" "$PYTHON" -m tavaal_nb run "${flags[@]}"
    code=$(grep -o 'exit [0-9]*' "$work/steps.txt" | tail -1 | cut -d' ' -f2)
    {
      cat "$work/reproduce.txt"
      if [ "$code" = 0 ]; then
        echo "reproduce: finished; $dest/results.json holds every trial"
      else
        echo "reproduce: stopped (exit $code): extract reproduce.tar.gz in the repository root and call again"
      fi
    } > "$OUT/reproduce.txt"
    [ -f "$dest/results.json" ] && cp "$dest/results.json" "$OUT/fashion-mnist-paper.json"
    [ -d "$dest" ] && tar -czf "$OUT/reproduce.tar.gz" --exclude=.tavaal-nb.lock "$dest"
    tail -1 "$OUT/reproduce.txt"
    ;;
  *) echo "usage: $0 bench|reproduce (environment: DEVICE, PRESET, OUT, STEPS, ...; see the header)" >&2; exit 2 ;;
esac
