"""Throughput of ``python -m tavaal_nb run --parallel-trials N`` for several N on one device.

Runs the same experiment (``--trials T`` of one method, shortened: few cycles and epochs) once
per N, each into ``OUT/parallel-<N>/``, and prints a markdown table to paste into
docs/benchmarks.md:

* ``wall s``: the whole command (imports, data, worker start-up, every trial);
* ``trials/h``: T trials over that wall time, and its ratio to N = 1;
* ``trial compute s``: a trial's own cycle timings (train + evaluate + select, summed), the mean
  over trials: how much N trials sharing the device slow each other down;
* ``steady-state throughput``: N x (compute of a trial alone) / (compute of a trial among N): the
  gain for long trials, where start-up (imports, data, CUDA context per worker) no longer counts.

Usage (the GPU session runs it from benchmarks/gpu_session.sh)::

    python benchmarks/parallel_throughput.py --out artifacts/gpu/parallel --workers 1,2,4 --trials 4 \\
        -- --preset paper --dataset synthetic --cycles 2 --epochs 20 --vae-iterations 500 \\
           --train-limit 20000 --test-limit 2000 --device cuda

Everything after ``--`` goes to ``run`` unchanged. It also runs on the CPU (``--preset ci``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(out: Path, workers: int, trials: int, method: str, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "tavaal_nb", "run", "--method", method, "--trials", str(trials),
               "--out", str(out), "--no-progress", "--parallel-trials", str(workers), *extra]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    tic = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - tic
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-4000:]}")
    results = json.loads((out / "results.json").read_text())
    per_trial: dict[int, float] = {}
    for run in results["runs"]:
        per_trial[run["trial"]] = per_trial.get(run["trial"], 0.0) + sum(c["timings_s"]["total"] for c in run["cycles"])
    return {"workers": workers, "trials": trials, "wall_s": round(wall, 2),
            "trial_compute_s": [round(per_trial[k], 2) for k in sorted(per_trial)],
            "device": results["sessions"][-1]["device_name"], "config": results["config"]}


def table(rows: list[dict]) -> str:
    base = rows[0]
    lines = ["| parallel trials | wall s | trials/h | vs 1 at a time | trial compute s (mean) | vs alone "
             "| steady-state throughput vs 1 |",
             "|---|---|---|---|---|---|---|"]
    base_mean = sum(base["trial_compute_s"]) / len(base["trial_compute_s"])
    for row in rows:
        rate = row["trials"] / row["wall_s"] * 3600
        mean = sum(row["trial_compute_s"]) / len(row["trial_compute_s"])
        # N trials at once, each taking `mean` instead of `base_mean`: N * base_mean / mean times the work per second
        steady = row["workers"] * base_mean / mean / base["workers"]
        lines.append(f"| {row['workers']} | {row['wall_s']:.1f} | {rate:.1f} | "
                     f"{base['wall_s'] / row['wall_s']:.2f}x | {mean:.1f} | {mean / base_mean:.2f}x | {steady:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="one sub-directory per N goes here")
    parser.add_argument("--workers", default="1,2,4", help="the values of N, comma-separated (first = reference)")
    parser.add_argument("--trials", type=int, default=4, help="trials per experiment (default 4)")
    parser.add_argument("--method", default="tavaal")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    for workers in (int(n) for n in args.workers.split(",")):
        out = args.out / f"parallel-{workers}"
        if out.exists():
            raise SystemExit(f"{out} exists: choose another --out")
        rows.append(run_once(out, workers, args.trials, args.method, extra))
        print(f"N={workers}: {rows[-1]['wall_s']} s", flush=True)
    print(f"{args.trials} trials of `{args.method}` on {rows[0]['device']}; run flags: {' '.join(extra)}")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
