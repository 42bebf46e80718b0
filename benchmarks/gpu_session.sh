#!/usr/bin/env bash
# Runs on the lent GPU machine (the `run` tool), from the repository root, in ONE call each
# (benchmarks/README.md gives the exact calls and what to do with what comes back):
#   bash benchmarks/gpu_session.sh bench       # everything about speed, under 10 minutes:
#       1. bench --baseline (ours vs the public code's pipeline, trial estimates, host operator calls
#          per step, GPU busy % per phase)
#       2. bench --ablation (fp32 -> bf16 -> channels_last -> fused -> compile -> CUDA graphs, each variant
#          in its own process)
#       3. the matrix-product peak (bf16 at 3 sizes, fp32 with TF32 off/on)
#       4. bench --concurrency 1,2,4,8: trials per hour with N trials sharing the GPU (nvidia-smi logged)
#   bash benchmarks/gpu_session.sh reproduce   # Fashion-MNIST, paper preset, random/lloss/vaal/tavaal,
#       5 trials packed onto the GPU, into results/fashion-mnist-paper/; stops itself (SIGINT, the run
#       saves its finished cycles) before BUDGET_S seconds; the next call continues it (--resume).
# Whatever a mode writes goes to a scratch folder and is packed at the end into at most 8 files under
# $OUT (the device tool brings back at most 8): bench -> summary.txt, bench.tar.gz, gpu.txt;
# reproduce -> reproduce.txt, reproduce.tar.gz, fashion-mnist-paper.json, gpu.txt.
# Each step has its own time limit (seconds, overridable: BENCH_S, ABLATION_S, PEAK_S, CONCURRENCY_S;
# 0 skips the step), so a slow or failing step leaves the others' figures; its exit status is logged.
# A dry run on the CPU (tests/test_gpu_session.py runs this):
#   DEVICE=cpu PRESET=ci STEPS=1 CONCURRENCY=1,2 ABLATION_S=0 PEAK_S=0 OUT=/tmp/gs bash benchmarks/gpu_session.sh bench
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-artifacts/gpu}"
DEVICE="${DEVICE:-cuda}"
PRESET="${PRESET:-paper}"
what="${1:-bench}"
mkdir -p "$OUT"
work="$(mktemp -d "${TMPDIR:-/tmp}/gpu-session.XXXXXX")" || exit 2
trap 'rm -rf "$work"' EXIT
steps_flags=()
[ -n "${STEPS:-}" ] && steps_flags=(--steps "$STEPS")

smi() { command -v nvidia-smi > /dev/null && nvidia-smi "$@"; }
{
  smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cores', __import__('os').cpu_count())"
  git log -1 --format='commit %h %s' 2> /dev/null
  date -u +%Y-%m-%dT%H:%M:%SZ
} > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"

# step NAME LIMIT_S COMMAND...: COMMAND with a time limit (SIGINT, then KILL 15 s later), its output to
# $work/NAME.txt and here; LIMIT_S 0 skips it. Each step's exit status goes to $work/steps.txt.
step() {
  local name="$1" limit="$2" started=$SECONDS code
  shift 2
  if [ "$limit" = 0 ]; then
    echo "=== $name: skipped (limit 0)" | tee -a "$work/steps.txt"
    return 0
  fi
  echo "=== $name (limit ${limit}s, ${SECONDS}s into the call)"
  timeout --signal=INT --kill-after=15 "$limit" "$@" 2>&1 | grep -v -e '^USDT:' -e 'gpuGetDeviceCount failed' | tee "$work/$name.txt"
  code=${PIPESTATUS[0]}
  echo "=== $name: exit $code after $((SECONDS - started))s" | tee -a "$work/steps.txt"
}

case "$what" in
  bench)
    : > "$work/steps.txt"
    bench=("$PYTHON" -m tavaal_nb bench --preset "$PRESET" --dataset synthetic --device "$DEVICE" "${steps_flags[@]}")
    step "bench-$PRESET" "${BENCH_S:-150}" "${bench[@]}" --baseline --json "$work/bench-$PRESET.json"
    step "ablation-$PRESET" "${ABLATION_S:-240}" "${bench[@]}" --ablation --json "$work/ablation-$PRESET.json"
    step matmul-peak "${PEAK_S:-25}" "$PYTHON" benchmarks/matmul_peak.py --device "$DEVICE" --json "$work/matmul-peak.json"
    # GPU utilisation and memory once a second while N trials share it
    smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 > "$work/concurrency-nvidia-smi.csv" 2>&1 &
    smi_pid=$!
    step concurrency "${CONCURRENCY_S:-150}" "${bench[@]}" --concurrency "${CONCURRENCY:-1,2,4,8}" \
      --json "$work/concurrency.json"
    kill "$smi_pid" 2> /dev/null
    wait "$smi_pid" 2> /dev/null
    # summary.txt: every step's output (the tables to paste), then the exit statuses
    for name in "bench-$PRESET" "ablation-$PRESET" matmul-peak concurrency; do
      [ -f "$work/$name.txt" ] && { echo "##### $name"; cat "$work/$name.txt"; }
    done > "$OUT/summary.txt"
    { echo "##### steps (done in ${SECONDS}s)"; cat "$work/steps.txt"; } >> "$OUT/summary.txt"
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
    left=$(( ${BUDGET_S:-500} - SECONDS ))
    step reproduce "$(( left > 1 ? left : 1 ))" "$PYTHON" -m tavaal_nb run "${flags[@]}"
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
