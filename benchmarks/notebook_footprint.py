"""Wall time and peak resident memory of notebooks run top to bottom, as Binder would run them.

Each notebook is executed by ``jupyter nbconvert --execute`` in a child process; a sampler
reads the resident size (RSS) of that process and of every descendant (the kernel is one)
every ``--interval`` seconds and keeps the peak of the kernel alone and of the whole tree.
It also reads the executed notebook's cell timings (nbclient records them in each cell's
``metadata.execution``) and reports when the first figure appeared: the first output that is an
image, an SVG, a plotly figure or a widget, counted from the start of ``nbconvert`` (kernel start
included, as a learner who opens the notebook and runs all waits for it). The load average at
the start and at the end is recorded beside the figures, since a busy machine stretches the wall
time (memory much less). Prints a markdown table.

    TAVAAL_PRESET=cpu python benchmarks/notebook_footprint.py notebooks/00_quickstart.ipynb
    python benchmarks/notebook_footprint.py --preset cpu --timeout 720 notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import torch


def tree_rss(root: psutil.Process) -> tuple[int, int]:
    """(largest single process RSS, sum of RSS) over ``root`` and its descendants, in bytes."""
    sizes = []
    for process in [root, *root.children(recursive=True)]:
        try:
            sizes.append(process.memory_info().rss)
        except psutil.Error:  # a process that ended between listing and reading
            continue
    return (max(sizes), sum(sizes)) if sizes else (0, 0)


FIGURE_TYPES = ("image/png", "image/svg+xml", "image/jpeg", "application/vnd.plotly.v1+json",
                "application/vnd.jupyter.widget-view+json")
"""Output types counted as a figure."""


def first_figure_seconds(executed: dict, started: datetime.datetime) -> tuple[float | None, int | None]:
    """Seconds from ``started`` (UTC) to the end of the first code cell with a figure output, and that
    cell's index among the code cells; (None, None) when no cell shows a figure or timings are missing."""
    code_cells = [cell for cell in executed["cells"] if cell["cell_type"] == "code"]
    for index, cell in enumerate(code_cells):
        shown = any(kind in output.get("data", {}) for output in cell.get("outputs", []) for kind in FIGURE_TYPES)
        stamp = cell.get("metadata", {}).get("execution", {}).get("shell.execute_reply")
        if shown and stamp:
            ended = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return (ended - started).total_seconds(), index
    return None, None


def measure(notebook: Path, preset: str, timeout_s: float, interval_s: float) -> dict:
    """Run one notebook; its wall time, peak RSS (largest process and whole tree) and how it ended."""
    env = dict(os.environ, TAVAAL_PRESET=preset, TAVAAL_STATIC_WIDGETS="1")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                   "--ExecutePreprocessor.timeout=-1", "--output-dir", scratch, str(notebook)]
        started = time.perf_counter()
        started_utc = datetime.datetime.now(datetime.timezone.utc)
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        watcher = psutil.Process(child.pid)
        peak_process = peak_tree = 0
        ended = "finished"
        while child.poll() is None:
            largest, total = tree_rss(watcher)
            peak_process, peak_tree = max(peak_process, largest), max(peak_tree, total)
            if time.perf_counter() - started > timeout_s:
                ended = f"stopped after {timeout_s / 60:.0f} min"
                for process in watcher.children(recursive=True):
                    process.kill()
                child.kill()
                break
            time.sleep(interval_s)
        child.wait()
        if ended == "finished" and child.returncode != 0:
            ended = f"failed (exit {child.returncode}): {child.stderr.read().decode()[-300:]}"
        first_figure = (None, None)
        executed_path = Path(scratch) / notebook.name
        if executed_path.exists():
            first_figure = first_figure_seconds(json.loads(executed_path.read_text()), started_utc)
    return {
        "notebook": notebook.stem, "minutes": (time.perf_counter() - started) / 60,
        "peak_kernel_mb": peak_process / 2**20, "peak_tree_mb": peak_tree / 2**20,
        "load": (load_before, os.getloadavg()[0]), "ended": ended,
        "first_figure_s": first_figure[0], "first_figure_cell": first_figure[1],
    }


def torch_build() -> str:
    return f"{torch.__version__} ({'CUDA ' + torch.version.cuda if torch.version.cuda else 'CPU-only'})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--preset", default=os.environ.get("TAVAAL_PRESET", "cpu"))
    parser.add_argument("--timeout", type=float, default=720.0, help="seconds before a notebook is stopped")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between RSS samples")
    args = parser.parse_args(argv)
    print(f"preset {args.preset}, torch {torch_build()}, {os.cpu_count()} CPUs")
    print("| notebook | minutes | first figure (s, code cell) | peak MB (kernel) | peak MB (all processes) "
          "| load avg start/end | ended |")
    print("|---|---:|---:|---:|---:|---|---|")
    for notebook in args.notebooks:
        row = measure(notebook, args.preset, args.timeout, args.interval)
        seconds, cell = row["first_figure_s"], row["first_figure_cell"]
        first = "none" if seconds is None else f"{seconds:.0f} (#{cell})"
        print(f"| {row['notebook']} | {row['minutes']:.1f} | {first} | {row['peak_kernel_mb']:.0f} | {row['peak_tree_mb']:.0f} "
              f"| {row['load'][0]:.1f} / {row['load'][1]:.1f} | {row['ended']} |", flush=True)


if __name__ == "__main__":
    main()
