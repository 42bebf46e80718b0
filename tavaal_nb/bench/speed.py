"""The bench table: each phase's rate, TFLOP/s and share of the matrix-product peak, the trial it predicts,
beside the public code's pipeline with ``--baseline`` (:mod:`tavaal_nb.bench.public_pipeline`)."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from tavaal_nb.bench.phases import (
    PHASES,
    BenchRow,
    Phases,
    bench_data,
    bench_meta,
    default_steps,
    epoch_overhead,
    estimate_trial_seconds,
    graph_segments,
    phase_flops,
    run_phases,
)
from tavaal_nb.bench.profiling import format_host_work, gpu_busy, host_ops_of, percent, prepare_profiler_for_graphs
from tavaal_nb.bench.public_pipeline import run_baseline_bench
from tavaal_nb.config import Config
from tavaal_nb.cuda_graphs import clear_eager_fallbacks, eager_fallbacks
from tavaal_nb.files import atomic_write_text
from tavaal_nb.training import Runtime

__all__ = ["run_bench", "format_table", "write_json", "format_comparison", "main"]


def run_bench(config: Config, steps: int | None = None, pool: int = 4096, baseline: bool = False,
              peak: bool = True, host_ops: bool = True,
              epoch_overhead_at: tuple[int, ...] = ()) -> tuple[list[BenchRow], dict]:
    """Time each phase at ``config``'s model sizes on synthetic data of the dataset's shape.

    After a warm-up, the training phases are timed at ``steps`` and twice as many optimizer steps (VAE/D
    iterations): the steady-state rate from the difference and the fixed cost of a call from what is left
    (:meth:`Phases.time`); default 50 on CUDA, 3 on the CPU. The runtime switches are ``config``'s (by
    default bf16, channels_last, fused optimizers and CUDA graphs on CUDA, none of them on the CPU).
    ``meta["host_ops_per_step"]`` is :func:`host_ops_per_step` of the same models (unless
    ``host_ops`` is false); on CUDA, ``meta["gpu_busy"]`` is each phase's steady-state fraction of wall
    time during which the GPU ran something, beside nvidia-smi's reading (:func:`gpu_busy`), and
    ``meta["peak_memory_gb"]`` the most memory each phase allocated. ``epoch_overhead_at``: labeled counts
    at which to measure a task epoch's cost beyond its images (:func:`epoch_overhead`), used by the
    trial estimate.
    """
    device = config.resolved_device()
    steps = default_steps(device, steps)
    data = bench_data(config, steps, pool)
    flops = phase_flops(config, data)
    runtime = Runtime.resolve(config, device)
    workarounds = prepare_profiler_for_graphs(device) if runtime.cuda_graphs else None  # before any capture
    phases = Phases(config, data)
    clear_eager_fallbacks()
    rows, warmup = run_phases(phases, steps)
    overheads = [epoch_overhead(phases, labeled, rows[0].rate) for labeled in epoch_overhead_at]
    measured = {"host_ops_per_step": host_ops_of(phases) if host_ops else None,
                "gpu_busy": gpu_busy(phases, rows, steps) if device.type == "cuda" else None,
                "profiler_graph_workarounds": workarounds, "epoch_overhead": overheads,
                "eager_fallbacks": eager_fallbacks(), "fixed_s": {key: row.fixed_s for key, row in zip(PHASES, rows)},
                "graph_segments_per_cycle": graph_segments(config),
                "peak_memory_gb": ({key: row.peak_memory_gb for key, row in zip(PHASES, rows)}
                                   if device.type == "cuda" else None)}
    for row, key in zip(rows, PHASES):
        row.tflops = row.rate * flops[key] / 1e12
    if baseline:
        base = run_baseline_bench(config, data, steps)
        for row, key in zip(rows, PHASES):
            row.baseline_rate = base[key][0]
    meta = bench_meta(config, data, steps, peak)
    meta["flops_per_unit"] = flops
    meta["warmup_s"] = warmup
    meta["runtime"] = dataclasses.asdict(runtime)
    meta["trial_estimate_s"] = estimate_trial_seconds(config, rows, epoch_overheads=overheads)
    meta.update(measured)
    if baseline:
        meta["baseline_trial_estimate_s"] = estimate_trial_seconds(
            config, [BenchRow(r.phase, r.unit, base[key][0], 0.0, 0) for r, key in zip(rows, PHASES)])
    return rows, meta


def format_table(rows: list[BenchRow], meta: dict) -> str:
    peak = meta.get("matmul_peak_tflops")
    head = (f"device {meta['device']} ({meta['device_name']}), torch {meta['torch']}, {meta['threads']} threads, "
            f"preset {meta['preset']}, images {meta['dataset_shape']}, {meta['steps']} timed steps")
    if peak:
        head += f"\nmatrix-product peak in this process: {peak:.2f} TFLOP/s"
    cols = f"{'phase':<36}{'rate':>12}  {'unit':<13}{'seconds':>9}{'TFLOP/s':>10}{'% peak':>8}"
    has_base = any(r.baseline_rate for r in rows)
    if has_base:
        cols += f"{'baseline':>12}{'speedup':>9}"
    lines = [head, cols]
    for row in rows:
        line = f"{row.phase:<36}{row.rate:>12.2f}  {row.unit:<13}{row.seconds:>9.2f}"
        line += f"{row.tflops:>10.3f}" if row.tflops is not None else f"{'':>10}"
        line += f"{100 * row.tflops / peak:>7.1f}%" if (row.tflops is not None and peak) else f"{'':>8}"
        if has_base:
            line += f"{row.baseline_rate:>12.2f}{row.speedup:>8.2f}x" if row.baseline_rate else ""
        lines.append(line)
    estimate = meta.get("trial_estimate_s")
    if estimate:
        lines.append(
            f"one {meta['preset']}-preset trial ({meta['cycles']} cycles) predicted from these rates: "
            f"{estimate['total'] / 60:.1f} min (train {estimate['train'] / 60:.1f}, VAE/D {estimate['vae'] / 60:.1f}, "
            f"scoring {estimate['scoring'] / 60:.1f}"
            + (f", set-up {estimate['set_up'] / 60:.1f}" if "set_up" in estimate else "")
            + (f", epoch overhead {estimate['epoch_overhead'] / 60:.1f}" if "epoch_overhead" in estimate else "")
            + ")"
        )
    fixed = meta.get("fixed_s")
    if fixed and any(v is not None for v in fixed.values()):
        lines.append("rates are steady state (the difference of " + f"{meta['steps']} and twice as many steps); "
                     "fixed cost of a call (set-up, warm-up, capture): " + ", ".join(
                         f"{label} {fixed[key]:.3f} s" for key, label in (("task", "task"), ("vae", "VAE/D"))
                         if fixed.get(key) is not None)
                     + f" (paid {meta.get('graph_segments_per_cycle', 1)}x per cycle for the task, once per query)")
    for point in meta.get("epoch_overhead") or ():
        lines.append(f"a task epoch at {point['labeled']:,} labeled: {1000 * point['epoch_s']:.1f} ms, "
                     f"{1000 * point['overhead_s']:.1f} ms of it beyond its images at the steady rate")
    for name, error in (meta.get("eager_fallbacks") or {}).items():
        lines.append(f"CAPTURE FAILED, measured eagerly: {name} ({error})")
    memory = meta.get("peak_memory_gb")
    if memory:
        lines.append("peak memory allocated: " + ", ".join(f"{key} {value:.2f} GB" for key, value in memory.items()))
    base = meta.get("baseline_trial_estimate_s")
    if base:
        ratio = f" (ratio {base['total'] / estimate['total']:.2f}x)" if estimate else ""
        lines.append(f"the same trial through the public code's pipeline: {base['total'] / 60:.1f} min{ratio}")
    lines.extend(format_host_work(meta))
    return "\n".join(lines)


def write_json(rows: list[BenchRow], meta: dict, path: str | Path) -> None:
    payload = {"meta": meta, "rows": [dict(asdict(r), speedup=r.speedup) for r in rows]}
    atomic_write_text(Path(path), json.dumps(payload, indent=2))  # replaces a link, never writes through it


def _cell(value, scale: float = 1.0, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:,.{digits}f}"


def format_comparison(paths: Sequence[str | Path]) -> str:
    """Bench JSON files (:func:`write_json`) side by side, one line each: the runtime that differs (CUDA
    graphs, autocast cache), steady rates, fixed cost per call, per-epoch overhead, host work, GPU busy,
    peak memory and the predicted trial. The GPU session's graphs-on-vs-off table."""
    head = ("| run | graphs | task img/s | VAE/D it/s | scoring img/s | fixed s task / VAE | epoch overhead ms "
            "| host ops task / VAE | launches task / VAE | GPU busy task / VAE (smi) | peak GB task / VAE "
            "| trial min |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for path in paths:
        payload = json.loads(Path(path).read_text())
        meta, rows = payload["meta"], payload["rows"]
        rate = [row["rate"] for row in rows]
        fixed = meta.get("fixed_s") or {}
        ops = meta.get("host_ops_per_step") or {}
        busy = meta.get("gpu_busy") or {}
        memory = meta.get("peak_memory_gb") or {}
        overhead = ", ".join(f"{p['labeled']:,}: {1000 * p['overhead_s']:.1f}"
                             for p in meta.get("epoch_overhead") or ())
        smi = " / ".join(f"{percent(busy[k]['steady'])} ({percent(busy[k]['window_smi'])})"
                         for k in ("task", "vae") if k in busy) or "-"
        lines.append(" | ".join([
            f"| {Path(path).stem}", str((meta.get("runtime") or {}).get("cuda_graphs", "-")),
            _cell(rate[0], digits=0), _cell(rate[1]), _cell(rate[2], digits=0),
            f"{_cell(fixed.get('task'), digits=2)} / {_cell(fixed.get('vae'), digits=2)}", overhead or "-",
            " / ".join(_cell((ops.get(k) or {}).get("aten_ops"), digits=0) for k in ("task", "vae")),
            " / ".join(_cell((ops.get(k) or {}).get("launches"), digits=0) for k in ("task", "vae")), smi,
            f"{_cell(memory.get('task'), digits=2)} / {_cell(memory.get('vae'), digits=2)}",
            _cell((meta.get("trial_estimate_s") or {}).get("total"), 1 / 60)]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m tavaal_nb.bench.speed A.json B.json ...``: :func:`format_comparison` of bench files."""
    paths = sys.argv[1:] if argv is None else argv
    missing = [p for p in paths if not Path(p).is_file()]
    if not paths or missing:
        print(f"usage: python -m tavaal_nb.bench.speed BENCH.json ... (bench --json files); missing: {missing}",
              file=sys.stderr)
        return 2
    print(format_comparison(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
