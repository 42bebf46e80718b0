#!/usr/bin/env bash
# Peak resident memory of the engine under a given Python (and so a given PyTorch build): `import torch`,
# `import tavaal_nb`, and a short `cpu`-preset run (TA-VAAL, 2 cycles on Fashion-MNIST), by GNU time's -v.
#
#   bash benchmarks/torch_build_memory.sh .venv/bin/python            # the environment `make venv` builds
#   bash benchmarks/torch_build_memory.sh /tmp/cpuvenv/bin/python stub  # a CPU-only torch, torchvision stubbed
#
# Why a stub: Binder installs CPU-only PyTorch, but the only CPU-only wheel this offline machine has
# (torch 2.13.0+cpu) does not work with PyPI's torchvision, so the second form puts an empty `torchvision`
# module first on the path. tavaal_nb needs torchvision only to download CIFAR/SVHN and for the baseline
# benchmark; the run below reads Fashion-MNIST from Debian's idx files and never touches it.
set -euo pipefail
PY=${1:?usage: torch_build_memory.sh PYTHON [stub]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
EXTRA=""
if [ "${2:-}" = stub ]; then
  mkdir -p "$SCRATCH/stub/torchvision"
  printf 'from types import SimpleNamespace\ndatasets = SimpleNamespace()\ntransforms = SimpleNamespace()\n' \
    > "$SCRATCH/stub/torchvision/__init__.py"
  EXTRA="$SCRATCH/stub:"
fi
export PYTHONPATH="$EXTRA$ROOT${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
peak() {  # label, command...: print the peak RSS in MB
  local label=$1; shift
  /usr/bin/time -v "$@" > "$SCRATCH/out" 2> "$SCRATCH/time" || { cat "$SCRATCH/out" "$SCRATCH/time"; exit 1; }
  printf '| %s | %s |\n' "$label" "$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$SCRATCH/time")"
}
echo "torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA " + torch.version.cuda if torch.version.cuda else "CPU-only")')"
echo "| step | peak MB |"
echo "|---|---:|"
peak "import torch" "$PY" -c "import torch"
peak "import tavaal_nb" "$PY" -c "import tavaal_nb"
peak "run --preset cpu --method tavaal --cycles 2 (fashion-mnist)" "$PY" -m tavaal_nb run --preset cpu \
  --dataset fashion-mnist --method tavaal --cycles 2 --no-progress --out "$SCRATCH/run"
