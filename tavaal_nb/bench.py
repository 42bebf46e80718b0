"""Speed benchmark: per-phase throughput of one active-learning cycle at a preset's sizes.

Phases: task-model training (images/s, with the TA-VAAL Ranker), VAE + discriminator
training (iterations/s: one VAE step on a labeled and an unlabeled batch, one D step)
and scoring the candidates (images/s: Ranker, encoder and discriminator). Each phase's
sustained TFLOP/s (FLOPs counted with ``torch.utils.flop_counter``) is set against a
large matrix product timed in the same process, so the gap to the floor is a number.
``--baseline`` times the public code's pipeline (:mod:`tavaal_nb.baseline`) beside ours.
``--ablation`` times the phases under cumulative runtime switches (fp32 + contiguous +
plain optimizers, then + bf16 autocast, + channels_last, + fused optimizers,
+ ``torch.compile``), each row beside the speedup predicted for it (:data:`PREDICTED_SPEEDUP`).
Figures go to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from tavaal_nb.baseline import run_baseline_bench
from tavaal_nb.config import Config
from tavaal_nb.data.datasets import ImageData, load_dataset
from tavaal_nb.loop import make_augmenter
from tavaal_nb.losses import bce_ranking_loss, conditional_vae_loss, discriminator_loss, vae_adversarial_loss
from tavaal_nb.models import ConditionalVAE, Discriminator, LossPredictionModule, ResNet18
from tavaal_nb.strategies.vaal import latent_means, train_adversarial
from tavaal_nb.training import Runtime, build_task_model, infer, maybe_compile, synchronize, train_task_model

__all__ = [
    "BenchRow", "run_bench", "format_table", "matmul_peak_tflops", "phase_flops", "estimate_trial_seconds",
    "AblationRow", "ABLATION", "PREDICTED_SPEEDUP", "run_ablation", "format_ablation", "format_ablation_row",
    "write_ablation_json",
]


@dataclass
class BenchRow:
    phase: str
    unit: str
    rate: float
    seconds: float
    work: int
    tflops: float | None = None
    baseline_rate: float | None = None

    @property
    def speedup(self) -> float | None:
        return None if not self.baseline_rate else self.rate / self.baseline_rate


def _timed(device: torch.device, fn) -> float:
    synchronize(device)
    tic = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - tic


def matmul_peak_tflops(device: torch.device, size: int | None = None, repeats: int = 10,
                       dtype: torch.dtype | None = None) -> float:
    """TFLOP/s of a square matrix product: by default bf16 8192^3 on CUDA, fp32 2048^3 on the CPU."""
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    size = size or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    seconds = _timed(device, lambda: [a @ b for _ in range(repeats)])
    return 2 * size**3 * repeats / seconds / 1e12


def phase_flops(config: Config, data: ImageData) -> dict[str, float]:
    """FLOPs per unit of each phase, counted on the CPU with a batch of 2 and scaled linearly."""
    x = torch.zeros(2, data.channels, data.image_size, data.image_size)
    y = torch.zeros(2, dtype=torch.long)
    model = ResNet18(data.num_classes, data.channels, config.width)
    ranker = LossPredictionModule(model.stage_channels)
    vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width)
    disc = Discriminator(config.z_dim, 1, config.disc_hidden, config.disc_depth)
    r = torch.zeros(2)
    counts = {}
    with FlopCounterMode(display=False) as counter:
        logits, _, features = model(x)
        per_sample = F.cross_entropy(logits, y, reduction="none")
        (per_sample.mean() + bce_ranking_loss(ranker(features), per_sample)).backward()
    counts["task"] = counter.get_total_flops() / 2
    with FlopCounterMode(display=False) as counter:
        recon, _, mu, logvar = vae(x, r)
        loss = conditional_vae_loss((x, recon, mu, logvar), (x, recon, mu, logvar)) + vae_adversarial_loss(disc(mu, r), disc(mu, r))
        loss.backward()
        with torch.no_grad():
            mu = vae.encode(x)[0]
        discriminator_loss(disc(mu, r), disc(mu, r)).backward()
    # the counted graph saw 2 images through the VAE once; an iteration sees a labeled and an unlabeled batch
    counts["vae"] = counter.get_total_flops() / 2 * 2 * config.vae_batch_size
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        ranker(model(x)[2])
        disc(vae.encode(x)[0], r)
    counts["scoring"] = counter.get_total_flops() / 2
    return counts


def _bench_data(config: Config, steps: int, pool: int) -> ImageData:
    """Synthetic images of the dataset's shape, on the config's device, enough for ``steps`` batches."""
    device = config.resolved_device()
    grey = config.dataset.startswith("fashion") or config.dataset == "synthetic-grey"
    pool = max(pool, 2 * config.vae_batch_size, steps * config.batch_size)
    return load_dataset("synthetic-grey" if grey else "synthetic", seed=config.seed,
                        train_limit=pool, test_limit=64).to(device)


def _time_phases(config: Config, data: ImageData, steps: int) -> tuple[list[BenchRow], dict[str, float]]:
    """The three phases, timed under ``config``'s runtime switches (precision, memory format, fused
    optimizers, compile). Returns the rows and each phase's warm-up seconds (compilation included)."""
    device = config.resolved_device()
    augmenter = make_augmenter(config, data)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    torch.manual_seed(config.seed)
    runtime = Runtime.resolve(config, device)
    rows: list[BenchRow] = []
    warmup: dict[str, float] = {}

    # 1. task model with Ranker: one epoch of `steps` optimizer steps.
    labeled = torch.arange(steps * config.batch_size, device=device)
    task = build_task_model(config, data, True, device)
    warm = config.replace(epochs=1, milestones=(1,), ranker_detach_epoch=1)
    warmup["task"] = _timed(device, lambda: train_task_model(task, data, labeled[: 2 * config.batch_size], warm,
                                                             augmenter, generator, bce_ranking_loss, progress=False))
    seconds = _timed(device, lambda: train_task_model(task, data, labeled, warm, augmenter, generator, bce_ranking_loss,
                                                      progress=False))
    rows.append(BenchRow("task training (ResNet-18 + Ranker)", "images/s", labeled.numel() / seconds, seconds,
                         labeled.numel()))

    # 2. VAE + discriminator: `steps` iterations, r computed beforehand (once per query, as in a run).
    vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width).to(device)
    disc = Discriminator(config.z_dim, 1, config.disc_hidden, config.disc_depth).to(device)
    vae = vae.to(memory_format=runtime.memory_format)
    maybe_compile(runtime, vae.encoder, vae.decoder)
    half = data.train_size // 2
    lab, unl = data.train_images[:half], data.train_images[half:]
    r_l, r_u = torch.randn(lab.shape[0], device=device), torch.randn(unl.shape[0], device=device)
    warmup["vae"] = _timed(device, lambda: train_adversarial(vae, disc, lab, unl, r_l, r_u, config, augmenter, 1,
                                                             generator, progress=False))
    seconds = _timed(device, lambda: train_adversarial(vae, disc, lab, unl, r_l, r_u, config, augmenter, steps,
                                                       generator, progress=False))
    rows.append(BenchRow("VAE + discriminator", "iterations/s", steps / seconds, seconds, steps))

    # 3. scoring: rank variable, latent means and D(mu, r) for every pool image.
    candidates = data.train_images

    def score() -> None:
        r = infer(task, candidates, augmenter, config.eval_batch_size, runtime)["rank"]
        mu = latent_means(vae, candidates, augmenter, config.eval_batch_size, runtime)
        torch.sigmoid(disc(mu, r))

    with torch.no_grad():
        warmup["scoring"] = _timed(device, score)
        seconds = _timed(device, score)
    rows.append(BenchRow("scoring (Ranker + encoder + D)", "images/s", candidates.shape[0] / seconds, seconds,
                         candidates.shape[0]))
    return rows, warmup


def _default_steps(device: torch.device, steps: int | None) -> int:
    steps = steps or (50 if device.type == "cuda" else 3)
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    return steps


def _meta(config: Config, data: ImageData, steps: int, peak: bool) -> dict:
    device = config.resolved_device()
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu"),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "preset": config.preset,
        "dataset_shape": list(data.train_images.shape[1:]),
        "batch_size": config.batch_size,
        "vae_batch_size": config.vae_batch_size,
        "steps": steps,
        "matmul_peak_tflops": matmul_peak_tflops(device) if peak else None,
        "cycles": config.cycles,
    }


def run_bench(config: Config, steps: int | None = None, pool: int = 4096, baseline: bool = False,
              peak: bool = True) -> tuple[list[BenchRow], dict]:
    """Time each phase at ``config``'s model sizes on synthetic data of the dataset's shape.

    ``steps`` optimizer steps (and VAE/D iterations) are timed after a warm-up;
    default 50 on CUDA, 3 on the CPU. The runtime switches are ``config``'s (by default
    bf16, channels_last and fused optimizers on CUDA, none of them on the CPU).
    """
    device = config.resolved_device()
    steps = _default_steps(device, steps)
    data = _bench_data(config, steps, pool)
    flops = phase_flops(config, data)
    rows, warmup = _time_phases(config, data, steps)
    for row, key in zip(rows, PHASES):
        row.tflops = row.rate * flops[key] / 1e12
    if baseline:
        base = run_baseline_bench(config, data, steps)
        for row, key in zip(rows, PHASES):
            row.baseline_rate = base[key][0]
    meta = _meta(config, data, steps, peak)
    meta["flops_per_unit"] = flops
    meta["warmup_s"] = warmup
    meta["runtime"] = dataclasses.asdict(Runtime.resolve(config, device))
    meta["trial_estimate_s"] = estimate_trial_seconds(config, rows)
    if baseline:
        meta["baseline_trial_estimate_s"] = estimate_trial_seconds(
            config, [BenchRow(r.phase, r.unit, r.baseline_rate, 0.0, 0) for r in rows])
    return rows, meta


# ------------------------------------------------------------------------------------- ablation
PHASES = ("task", "vae", "scoring")

ABLATION: tuple[tuple[str, dict[str, Any]], ...] = (
    ("fp32, contiguous, plain optimizers", {"precision": "fp32", "memory_format": "contiguous",
                                            "fused_optimizers": "off", "compile": False}),
    ("+ bf16 autocast", {"precision": "bf16"}),
    ("+ channels_last", {"memory_format": "channels_last"}),
    ("+ fused optimizers", {"fused_optimizers": "on"}),
    ("+ torch.compile (task model, VAE)", {"compile": True}),
)
"""The ablation's rows: each adds one change (Config fields) to the row before it."""

CUDA_GRAPHS_NOTE = (
    "CUDA graphs: not measured. The phases already run without host syncs (one per epoch or per "
    "500 VAE/D iterations), so launch overhead is what graphs would remove; capturing a step cleanly "
    "needs static shapes (the last batch of an epoch is smaller), static input buffers and capturable "
    "optimizers, and torch.compile's mode='reduce-overhead' reuses output buffers that the loops keep "
    "across steps. Left out rather than done half-way; see docs/benchmarks.md."
)

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
        # fuses BN + ReLU + add chains; the Ranker, losses and augmentation stay eager
        "+ torch.compile (task model, VAE)": {"task": 1.15, "vae": 1.1, "scoring": 1.1},
    },
    "cpu": {
        # oneDNN bf16 kernels (avx512_bf16 here) but tiny widths (16): casts and reorders dominate
        "+ bf16 autocast": {"task": 0.8, "vae": 0.9, "scoring": 0.9},
        # oneDNN prefers channels-last activations: fewer reorders
        "+ channels_last": {"task": 1.1, "vae": 1.1, "scoring": 1.1},
        # ~0.1 M (task) and ~0.2 M (VAE) parameters: the optimizer step is negligible
        "+ fused optimizers": {"task": 1.0, "vae": 1.0, "scoring": 1.0},
        # inductor's C++ kernels fuse the element-wise work around oneDNN convolutions
        "+ torch.compile (task model, VAE)": {"task": 1.1, "vae": 1.1, "scoring": 1.1},
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


def _compile_note(error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [""])[0][:200]
    return f"skipped: torch.compile failed here ({type(error).__name__}: {first})"


def run_ablation(config: Config, steps: int | None = None, pool: int = 4096, peak: bool = True,
                 variants: tuple[tuple[str, dict[str, Any]], ...] | None = None,
                 on_row: Callable[[AblationRow], None] | None = None) -> tuple[list[AblationRow], dict]:
    """Time the three phases under each cumulative variant of :data:`ABLATION`.

    ``variants`` defaults to :data:`ABLATION`. Every row is the row above plus one change;
    its speedup is over the last row that ran.
    A variant that cannot run (``torch.compile`` unavailable or failing) gets a note
    instead of rates, and the next row adds its change to the last one that ran.
    ``on_row`` is called with each row as soon as it is done (the CLI prints it, so a run
    stopped by a time limit still shows the rows it finished).
    """
    device = config.resolved_device()
    steps = _default_steps(device, steps)
    data = _bench_data(config, steps, pool)
    predictions = PREDICTED_SPEEDUP.get(device.type, {})
    variants = ABLATION if variants is None else variants
    rows: list[AblationRow] = []
    settings: dict[str, Any] = {}
    last: dict[str, float] | None = None
    for change, delta in variants:
        trial = {**settings, **delta}
        row = AblationRow(change, trial, predicted=predictions.get(change))
        rows.append(row)
        if _measure_variant(config, row, data, steps, last):
            last = row.rates
            settings = trial
        if on_row is not None:
            on_row(row)
    meta = _meta(config, data, steps, peak)
    meta["cuda_graphs"] = CUDA_GRAPHS_NOTE
    measured = [r for r in rows if r.rates]
    if len(measured) >= 2:
        meta["total_speedup"] = {k: measured[-1].rates[k] / measured[0].rates[k] for k in PHASES}
    return rows, meta


def _measure_variant(config: Config, row: AblationRow, data: ImageData, steps: int,
                     last: dict[str, float] | None) -> bool:
    """Fill ``row`` with its rates (True) or with a note saying why it could not run (False)."""
    try:
        variant = config.replace(**row.settings)
    except ValueError as error:  # e.g. compile=True where torch.compile is unavailable
        row.note = "skipped: " + " ".join(str(error).replace("invalid configuration:", "").split())
        return False
    try:
        timed, warmup = _time_phases(variant, data, steps)
    except Exception as error:  # noqa: BLE001 - a failing compile is reported, the other rows still run
        if not variant.compile:
            raise
        row.note = _compile_note(error)
        return False
    finally:
        if variant.compile:
            _reset_compile()
    row.rates = {key: r.rate for key, r in zip(PHASES, timed)}
    row.warmup_s = warmup
    if last is not None:
        row.speedup = {key: row.rates[key] / last[key] for key in PHASES}
    return True


def _reset_compile() -> None:
    try:
        torch.compiler.reset()
    except Exception:  # noqa: BLE001 - nothing to reset
        pass


_UNITS = ("task img/s", "VAE+D it/s", "score img/s")
ABLATION_COLUMNS = f"{'change':<36}" + "".join(f"{u:>13}{'x prev':>8}{'pred':>7}" for u in _UNITS) + f"{'warm-up s':>11}"


def format_ablation_row(row: AblationRow) -> str:
    """One line of the ablation table (:data:`ABLATION_COLUMNS`)."""
    line = f"{row.change:<36}"
    if row.rates is None:
        return line + (row.note or "skipped")
    for key in PHASES:
        line += f"{row.rates[key]:>13.2f}"
        line += f"{row.speedup[key]:>7.2f}x" if row.speedup else f"{'-':>8}"
        line += f"{row.predicted[key]:>6.2f}x" if row.predicted else f"{'-':>7}"
    line += f"{sum(row.warmup_s.values()):>11.1f}" if row.warmup_s else ""
    return line


def format_ablation(rows: list[AblationRow], meta: dict) -> str:
    head = (f"ablation on {meta['device']} ({meta['device_name']}), torch {meta['torch']}, {meta['threads']} threads, "
            f"preset {meta['preset']}, images {meta['dataset_shape']}, {meta['steps']} timed steps per phase")
    if meta.get("matmul_peak_tflops"):
        head += f"\nmatrix-product peak in this process: {meta['matmul_peak_tflops']:.2f} TFLOP/s"
    lines = [head, ABLATION_COLUMNS, *(format_ablation_row(row) for row in rows)]
    total = meta.get("total_speedup")
    if total:
        lines.append("last measured row vs the first: " + ", ".join(f"{k} {v:.2f}x" for k, v in total.items()))
    lines.append(meta.get("cuda_graphs", CUDA_GRAPHS_NOTE))
    return "\n".join(lines)


def write_ablation_json(rows: list[AblationRow], meta: dict, path: str | Path) -> None:
    payload = {"meta": meta, "rows": [asdict(r) for r in rows], "predicted_speedup": PREDICTED_SPEEDUP}
    Path(path).write_text(json.dumps(payload, indent=2))


def estimate_trial_seconds(config: Config, rows: list[BenchRow], test_size: int = 10_000) -> dict[str, float]:
    """Seconds of one TA-VAAL trial of ``config`` predicted from the measured phase rates.

    Per cycle c (labeled n_c = initial + c * budget): ``epochs * n_c`` training images,
    one pass over the test set and, for every cycle but the last, the VAE/D iterations of
    :meth:`Config.vae_iterations_for` plus scoring ``n_c + subset`` images (r and the
    latent means). Evaluation is charged at the scoring rate.
    """
    task, vae, scoring = (row.rate for row in rows[:3])
    total = {"train": 0.0, "vae": 0.0, "scoring": 0.0}
    for cycle in range(config.cycles):
        labeled = config.initial + cycle * config.budget
        total["train"] += config.epochs * labeled / task
        total["scoring"] += test_size / scoring
        if cycle < config.cycles - 1:
            total["vae"] += config.vae_iterations_for(labeled, config.subset) / vae
            total["scoring"] += (labeled + config.subset) / scoring
    total["total"] = sum(total.values())
    return total


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
            f"scoring {estimate['scoring'] / 60:.1f})"
        )
    base = meta.get("baseline_trial_estimate_s")
    if base:
        lines.append(
            f"the same trial through the public code's pipeline: {base['total'] / 60:.1f} min "
            f"(ratio {base['total'] / estimate['total']:.2f}x)"
        )
    return "\n".join(lines)


def write_json(rows: list[BenchRow], meta: dict, path: str | Path) -> None:
    payload = {"meta": meta, "rows": [dict(asdict(r), speedup=r.speedup) for r in rows]}
    Path(path).write_text(json.dumps(payload, indent=2))
