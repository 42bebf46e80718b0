"""Dense matrix-product rate of this device, the ceiling the bench's TFLOP/s are set against.

Prints one line per (dtype, size): bf16 at several sizes, and fp32 with TF32 off and on (CUDA's
default for convolutions is TF32; for matrix products it is full fp32). On the CPU: fp32 and bf16.

    python benchmarks/matmul_peak.py --device cuda [--json peak.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from tavaal_nb.bench.phases import matmul_peak_tflops  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated (default 4096,8192,16384 on CUDA, 1024,2048 on CPU)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sizes = [int(s) for s in (args.sizes or ("4096,8192,16384" if cuda else "1024,2048")).split(",")]
    cases = [("bf16", torch.bfloat16, None)] + ([("fp32 (TF32 off)", torch.float32, False),
                                                 ("fp32 (TF32 on)", torch.float32, True)] if cuda
                                                else [("fp32", torch.float32, None)])
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    print(f"matrix-product rate on {name}, torch {torch.__version__}, {args.repeats} products per size")
    rows = []
    for label, dtype, tf32 in cases:
        if tf32 is not None:
            torch.backends.cuda.matmul.allow_tf32 = tf32
        for size in sizes:
            rate = matmul_peak_tflops(device, size, args.repeats, dtype)
            rows.append({"dtype": label, "size": size, "tflops": round(rate, 2)})
            print(f"{label:<16} {size:>6}^3  {rate:9.2f} TFLOP/s", flush=True)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
    if args.json:
        args.json.write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
