#!/usr/bin/env bash
# Runs on the lent GPU machine (the `device` tool), from the repository root, in ONE call each:
#   bash benchmarks/gpu_session.sh bench        # ours vs the public code's pipeline + matmul peak, ~3 min
#   bash benchmarks/gpu_session.sh reproduce    # Fashion-MNIST, paper preset, random + tavaal, resumable
# The GPU image has PyTorch but no registry: the package is pure Python and runs from the tree.
# Fashion-MNIST must travel with the call: copy the four .gz files from /usr/share/datasets/fashion-mnist/
# into .devcarry/fmnist/FashionMNIST/raw/ here (a folder .git/info/exclude ignores) and name .devcarry in carry.
# For `reproduce`, results come back under $OUT/fashion-mnist-paper/; to continue in a later call, copy
# them to .devcarry/fashion-mnist-paper/ here and carry it: the run resumes after its last finished cycle.
set -euo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-artifacts/gpu}"
mkdir -p "$OUT"
what="${1:-bench}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" | tee -a "$OUT/gpu.txt"
case "$what" in
  bench)
    python3 -m tavaal_nb bench --preset paper --dataset synthetic --device cuda --baseline \
      --json "$OUT/bench-paper.json" | tee "$OUT/bench-paper.txt"
    ;;
  reproduce)
    budget_s="${BUDGET_S:-540}"
    dest=".devcarry/fashion-mnist-paper"
    mkdir -p "$dest"
    flags=(--dataset fashion-mnist --method random,tavaal --preset paper --trials "${TRIALS:-3}"
           --data-dir .devcarry/fmnist --out "$dest" --no-progress --device cuda)
    [ -f "$dest/results.json" ] && flags+=(--resume)
    # stop cleanly before the call's limit: results are saved after every cycle
    timeout --signal=INT "$budget_s" python3 -m tavaal_nb run "${flags[@]}" || echo "stopped after ${budget_s}s; resume in the next call"
    cp "$dest/results.json" "$OUT/fashion-mnist-paper.json"
    ;;
  *) echo "usage: $0 bench|reproduce" >&2; exit 2 ;;
esac
