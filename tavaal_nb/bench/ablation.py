"""The ablation of the runtime switches: the phases timed under cumulative variants (fp32 + contiguous +
plain optimizers + autocast's weight cache off, then + bf16 autocast, + channels_last, + fused optimizers,
+ CUDA graphs, + autocast's weight cache, and last ``torch.compile`` instead of CUDA graphs, the pairing
``auto`` makes), each row beside the speedup predicted for it (:data:`PREDICTED_SPEEDUP`) and, by
default, in its own process (:func:`tavaal_nb.bench.isolation.run_isolated`). The rows that matter most come
first: a time limit cuts the last ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from tavaal_nb.bench.isolation import ChildProcessFailed, run_isolated
from tavaal_nb.bench.phases import PHASES, bench_data, bench_meta, default_steps, time_phases
from tavaal_nb.config import Config
from tavaal_nb.cuda_graphs import clear_eager_fallbacks, eager_fallbacks
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.files import atomic_write_text

__all__ = ["ABLATION", "VARIANT_TIMEOUT_S", "PREDICTED_SPEEDUP", "AblationRow", "run_ablation", "ABLATION_COLUMNS",
           "format_ablation_row", "format_ablation", "write_ablation_json"]

ABLATION: tuple[tuple[str, dict[str, Any]], ...] = (
    ("fp32, contiguous, plain optimizers", {"precision": "fp32", "memory_format": "contiguous",
                                            "fused_optimizers": "off", "compile": False, "cuda_graphs": "off",
                                            "autocast_cache": False}),
    ("+ bf16 autocast", {"precision": "bf16"}),
    ("+ channels_last", {"memory_format": "channels_last"}),
    ("+ fused optimizers", {"fused_optimizers": "on"}),
    ("+ CUDA graphs", {"cuda_graphs": "on"}),
    ("+ autocast weight cache", {"autocast_cache": True}),
    ("torch.compile instead of CUDA graphs", {"compile": True, "cuda_graphs": "off"}),
)
"""The ablation's rows: each adds one change (Config fields) to the row before it. No row combines
``torch.compile`` with CUDA graphs, which ``auto`` never does."""

VARIANT_TIMEOUT_S = 900.0
"""Seconds an isolated ablation variant may take (compilation included) before it counts as a hang."""

PREDICTED_SPEEDUP: dict[str, dict[str, dict[str, float]]] = {
    # Written before any GPU measurement (2026-11-23): the speedup each change should give over
    # the row above it, per phase, at the paper preset on one H100 ("cuda") and at the cpu preset
    # on this 2-core CPU ("cpu"). The GPU session puts the measured column beside these.
    "cuda": {
        # fp32 already runs convolutions as TF32 (cuDNN's default); bf16 doubles the tensor-core
        # rate and halves the activation traffic of the memory-bound BN/ReLU/adds
        "+ bf16 autocast": {"task": 1.5, "vae": 1.6, "scoring": 1.6},
        # cuDNN's bf16 convolutions want NHWC; in NCHW it transposes around each of them
        "+ channels_last": {"task": 1.25, "vae": 1.2, "scoring": 1.2},
        # one kernel instead of a few foreach passes over 11 M (SGD) / 23 M (Adam) parameters;
        # the step is a few percent of an iteration; scoring has no optimizer
        "+ fused optimizers": {"task": 1.03, "vae": 1.05, "scoring": 1.0},
        # written 2026-12-04, after the H200 profile (VAE/D: 302 ms host vs 47 ms kernels per 10
        # iterations) and before any CUDA-graphs run: replaying a step removes most launch overhead
        # where the host is the bottleneck (VAE/D, small batches), little where kernels are (task)
        "+ CUDA graphs": {"task": 1.2, "vae": 2.5, "scoring": 1.0},
        # written 2026-12-06, before any run: inside a graph, one cast of the VAE's and D's ~23 M weights
        # per region instead of one per use (two uses each), a few small kernels out of ~1,000
        "+ autocast weight cache": {"task": 1.0, "vae": 1.05, "scoring": 1.0},
        # written 2026-12-06 (the H200's eager compile row was 0.73x): eager launches come back, which
        # is most of what graphs saved on VAE/D; fusion gives a little back
        "torch.compile instead of CUDA graphs": {"task": 0.8, "vae": 0.45, "scoring": 1.0},
    },
    "cpu": {
        # oneDNN bf16 kernels (avx512_bf16 here) but tiny widths (16): casts and reorders dominate
        "+ bf16 autocast": {"task": 0.8, "vae": 0.9, "scoring": 0.9},
        # oneDNN prefers channels-last activations: fewer reorders
        "+ channels_last": {"task": 1.1, "vae": 1.1, "scoring": 1.1},
        # ~0.1 M (task) and ~0.2 M (VAE) parameters: the optimizer step is negligible
        "+ fused optimizers": {"task": 1.0, "vae": 1.0, "scoring": 1.0},
        # no CUDA on the CPU: "on" is refused or does nothing
        "+ CUDA graphs": {"task": 1.0, "vae": 1.0, "scoring": 1.0},
        # CPU autocast caches its casts too: one bf16 copy of the weights per region, not per use
        "+ autocast weight cache": {"task": 1.0, "vae": 1.05, "scoring": 1.0},
        # inductor's C++ kernels fuse the element-wise work around oneDNN convolutions
        "torch.compile instead of CUDA graphs": {"task": 1.1, "vae": 1.1, "scoring": 1.1},
    },
}
"""Predicted speedup over the previous ablation row, by device type, change and phase."""


@dataclass
class AblationRow:
    change: str
    settings: dict[str, Any]
    rates: dict[str, float] | None = None
    warmup_s: dict[str, float] | None = None
    speedup: dict[str, float] | None = None  # over the last measured row above
    predicted: dict[str, float] | None = None
    note: str | None = None


def _compile_note(error: BaseException, what: str = "torch.compile") -> str:
    first = (str(error).strip().splitlines() or [""])[0][:200]
    return f"skipped: {what} failed here ({type(error).__name__}: {first})"


def run_ablation(config: Config, steps: int | None = None, pool: int = 4096, peak: bool = True,
                 variants: tuple[tuple[str, dict[str, Any]], ...] | None = None,
                 on_row: Callable[[AblationRow], None] | None = None, isolate: bool = True,
                 timeout: float = VARIANT_TIMEOUT_S) -> tuple[list[AblationRow], dict]:
    """Time the three phases under each cumulative variant of :data:`ABLATION`.

    ``variants`` defaults to :data:`ABLATION`. Every row is the row above plus one change;
    its speedup is over the last row that ran.
    A variant that cannot run (``torch.compile`` or a CUDA-graph capture unavailable or failing, or
    a crash or hang inside PyTorch) gets a note instead of rates, and the next row adds its change
    to the last one that ran. With ``isolate`` (the default) each variant runs in its own spawned
    process (:func:`tavaal_nb.bench.isolation.run_isolated`, ``timeout`` seconds at most), so a native
    crash costs one row, not the command; ``isolate=False`` measures in this process.
    ``on_row`` is called with each row as soon as it is done (the CLI prints it, so a run
    stopped by a time limit still shows the rows it finished).
    """
    device = config.resolved_device()
    steps = default_steps(device, steps)
    data = None if isolate else bench_data(config, steps, pool)
    predictions = PREDICTED_SPEEDUP.get(device.type, {})
    variants = ABLATION if variants is None else variants
    rows: list[AblationRow] = []
    settings: dict[str, Any] = {}
    last: dict[str, float] | None = None
    for change, delta in variants:
        trial = {**settings, **delta}
        row = AblationRow(change, trial, predicted=predictions.get(change))
        rows.append(row)
        if _measure_variant(config, row, delta, steps, pool, last, data, timeout):
            last = row.rates
            settings = trial
        if on_row is not None:
            on_row(row)
    meta = bench_meta(config, data if data is not None else bench_data(config, steps, pool), steps, peak)
    meta["isolated"] = isolate
    measured = [r.rates for r in rows if r.rates]
    if len(measured) >= 2:
        meta["total_speedup"] = {k: measured[-1][k] / measured[0][k] for k in PHASES}
    return rows, meta


def _variant_rates(variant: Config, steps: int, pool: int, data: ImageData | None = None
                   ) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """The phase rates and warm-up seconds of one ablation variant (module level: it runs isolated), and
    the steps whose capture failed and ran eagerly (:func:`tavaal_nb.cuda_graphs.eager_fallbacks`)."""
    clear_eager_fallbacks()
    try:
        timed, warmup = time_phases(variant, data if data is not None else bench_data(variant, steps, pool), steps)
    finally:
        if variant.compile:
            _reset_compile()
    return {key: r.rate for key, r in zip(PHASES, timed)}, warmup, eager_fallbacks()


def _measure_variant(config: Config, row: AblationRow, delta: dict[str, Any], steps: int, pool: int,
                     last: dict[str, float] | None, data: ImageData | None, timeout: float) -> bool:
    """Fill ``row`` with its rates (True) or with a note saying why it could not run (False).
    ``data`` None: measure in a spawned process (:func:`run_isolated`); else here, on ``data``."""
    try:
        variant = config.replace(**row.settings)
    except ValueError as error:  # e.g. compile=True where torch.compile is unavailable, CUDA graphs on a CPU
        row.note = "skipped: " + " ".join(str(error).replace("invalid configuration:", "").split())
        return False
    try:
        if data is None:
            row.rates, row.warmup_s, fallbacks = run_isolated(_variant_rates, (variant, steps, pool), timeout)
        else:
            row.rates, row.warmup_s, fallbacks = _variant_rates(variant, steps, pool, data)
    except ChildProcessFailed as error:
        row.note = f"skipped: crashed inside PyTorch ({error}); see docs/benchmarks.md"
        return False
    except Exception as error:  # noqa: BLE001 - a failing compile or capture is reported, the other rows still run
        if not (variant.compile or variant.cuda_graphs == "on"):
            raise
        row.note = _compile_note(error, "torch.compile" if delta.get("compile") else "CUDA graphs")
        return False
    if fallbacks:  # measured, but eagerly: said beside the rates
        row.note = "captures failed, eager: " + "; ".join(f"{name} ({why})" for name, why in fallbacks.items())
    if last is not None:
        row.speedup = {key: row.rates[key] / last[key] for key in PHASES}
    return True


def _reset_compile() -> None:
    try:
        torch.compiler.reset()
    except Exception:  # noqa: BLE001 - nothing to reset
        pass


_UNITS = ("task img/s", "VAE+D it/s", "score img/s")
ABLATION_COLUMNS = (f"{'change':<38}" + "".join(f"{u:>13}{'x prev':>8}{'pred':>7}" for u in _UNITS)
                    + f"{'warm-up s':>11}")


def format_ablation_row(row: AblationRow) -> str:
    """One line of the ablation table (:data:`ABLATION_COLUMNS`)."""
    line = f"{row.change:<38}"
    if row.rates is None:
        return line + (row.note or "skipped")
    for key in PHASES:
        line += f"{row.rates[key]:>13.2f}"
        line += f"{row.speedup[key]:>7.2f}x" if row.speedup else f"{'-':>8}"
        line += f"{row.predicted[key]:>6.2f}x" if row.predicted else f"{'-':>7}"
    line += f"{sum(row.warmup_s.values()):>11.1f}" if row.warmup_s else ""
    return line + (f"  ({row.note})" if row.note else "")


def format_ablation(rows: list[AblationRow], meta: dict) -> str:
    head = (f"ablation on {meta['device']} ({meta['device_name']}), torch {meta['torch']}, {meta['threads']} threads, "
            f"preset {meta['preset']}, images {meta['dataset_shape']}, {meta['steps']} timed steps per phase")
    if meta.get("matmul_peak_tflops"):
        head += f"\nmatrix-product peak in this process: {meta['matmul_peak_tflops']:.2f} TFLOP/s"
    lines = [head, ABLATION_COLUMNS, *(format_ablation_row(row) for row in rows)]
    total = meta.get("total_speedup")
    if total:
        lines.append("last measured row vs the first: " + ", ".join(f"{k} {v:.2f}x" for k, v in total.items()))
    return "\n".join(lines)


def write_ablation_json(rows: list[AblationRow], meta: dict, path: str | Path) -> None:
    payload = {"meta": meta, "rows": [asdict(r) for r in rows], "predicted_speedup": PREDICTED_SPEEDUP}
    atomic_write_text(Path(path), json.dumps(payload, indent=2))  # replaces a link, never writes through it
