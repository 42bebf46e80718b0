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
import multiprocessing
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from tavaal_nb.baseline import run_baseline_bench
from tavaal_nb.config import Config
from tavaal_nb.data.datasets import ImageData, load_dataset
from tavaal_nb.isolation import ChildProcessFailed, run_isolated
from tavaal_nb.loop import make_augmenter
from tavaal_nb.results import atomic_write_text
from tavaal_nb.losses import bce_ranking_loss, conditional_vae_loss, discriminator_loss, vae_adversarial_loss
from tavaal_nb.models import ConditionalVAE, Discriminator, LossPredictionModule, ResNet18
from tavaal_nb.strategies.vaal import latent_means, train_adversarial
from tavaal_nb.training import Runtime, build_task_model, infer, maybe_compile, synchronize, train_task_model

__all__ = [
    "BenchRow", "run_bench", "format_table", "matmul_peak_tflops", "phase_flops", "estimate_trial_seconds",
    "AblationRow", "ABLATION", "VARIANT_TIMEOUT_S", "PREDICTED_SPEEDUP", "run_ablation", "format_ablation", "format_ablation_row",
    "write_ablation_json", "host_ops_per_step", "count_host_ops", "device_busy_seconds", "busy_fraction",
    "format_host_work", "ConcurrencyRow", "run_concurrency", "format_concurrency", "format_concurrency_row",
    "write_concurrency_json", "CONCURRENCY_COLUMNS",
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


class _Phases:
    """The three phases, built once under ``config``'s runtime switches (precision, memory format,
    fused optimizers, compile): models, data and generator, and one call per phase that does
    ``steps`` units of its work (task optimizer steps, VAE/D iterations, one scoring pass)."""

    def __init__(self, config: Config, data: ImageData) -> None:
        self.config, self.data = config, data
        self.device = device = config.resolved_device()
        self.augmenter = make_augmenter(config, data)
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        torch.manual_seed(config.seed)
        self.runtime = runtime = Runtime.resolve(config, device)
        self.task_model = build_task_model(config, data, True, device)
        # one epoch of as many optimizer steps as there are batches in the labeled indices
        self.task_config = config.replace(epochs=1, milestones=(1,), ranker_detach_epoch=1)
        vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width).to(device)
        self.disc = Discriminator(config.z_dim, 1, config.disc_hidden, config.disc_depth).to(device)
        self.vae = vae.to(memory_format=runtime.memory_format)
        maybe_compile(runtime, self.vae.encoder, self.vae.decoder)
        half = data.train_size // 2
        self.lab, self.unl = data.train_images[:half], data.train_images[half:]
        # r computed beforehand (once per query, as in a run)
        self.r_l = torch.randn(self.lab.shape[0], device=device)
        self.r_u = torch.randn(self.unl.shape[0], device=device)

    def units(self, phase: str, steps: int) -> int:
        """What ``run(phase, steps)`` counts as its work: images, iterations, images."""
        return {"task": steps * self.config.batch_size, "vae": steps, "scoring": self.data.train_size}[phase]

    def run(self, phase: str, steps: int) -> None:
        if phase == "task":
            labeled = torch.arange(steps * self.config.batch_size, device=self.device) % self.data.train_size
            train_task_model(self.task_model, self.data, labeled, self.task_config, self.augmenter, self.generator,
                             bce_ranking_loss, progress=False)
        elif phase == "vae":
            train_adversarial(self.vae, self.disc, self.lab, self.unl, self.r_l, self.r_u, self.config,
                              self.augmenter, steps, self.generator, progress=False)
        else:  # rank variable, latent means and D(mu, r) for every pool image
            candidates = self.data.train_images
            with torch.no_grad():
                r = infer(self.task_model, candidates, self.augmenter, self.config.eval_batch_size,
                          self.runtime)["rank"]
                mu = latent_means(self.vae, candidates, self.augmenter, self.config.eval_batch_size, self.runtime)
                torch.sigmoid(self.disc(mu, r))

    def warm_up(self, phase: str) -> float:
        """Seconds of a short first call (compilation included): 2 task steps, 1 iteration, 1 pass."""
        return _timed(self.device, lambda: self.run(phase, 2 if phase == "task" else 1))

    def time(self, phase: str, steps: int) -> BenchRow:
        seconds = _timed(self.device, lambda: self.run(phase, steps))
        work = self.units(phase, steps)
        return BenchRow(PHASE_NAMES[phase], PHASE_UNITS[phase], work / seconds, seconds, work)


PHASE_NAMES = {"task": "task training (ResNet-18 + Ranker)", "vae": "VAE + discriminator",
               "scoring": "scoring (Ranker + encoder + D)"}
PHASE_UNITS = {"task": "images/s", "vae": "iterations/s", "scoring": "images/s"}


def _time_phases(config: Config, data: ImageData, steps: int,
                 before: Callable[[str], None] | None = None) -> tuple[list[BenchRow], dict[str, float]]:
    """The three phases, timed under ``config``'s runtime switches, each after its warm-up; ``before``
    (if given) is called with the phase's name between its warm-up and its timing. Returns the rows and
    each phase's warm-up seconds (compilation included)."""
    return _run_phases(_Phases(config, data), steps, before)


def _run_phases(phases: _Phases, steps: int,
                before: Callable[[str], None] | None = None) -> tuple[list[BenchRow], dict[str, float]]:
    rows: list[BenchRow] = []
    warmup: dict[str, float] = {}
    for phase in PHASES:
        warmup[phase] = phases.warm_up(phase)
        if before is not None:
            before(phase)
        rows.append(phases.time(phase, steps))
    return rows, warmup


# ------------------------------------------------------------------------- host work, GPU busy
COPY_OPS = frozenset({"aten::copy_", "aten::to", "aten::_to_copy"})
"""The operators of a dtype/device/layout copy (``.to()``, ``.float()``, ``copy_``)."""
HOST_OP_STEPS = (2, 4)
"""The two step counts whose profiles are subtracted by :func:`host_ops_per_step`."""


def _has_aten_parent(event: Any) -> bool:
    parent = getattr(event, "cpu_parent", None)
    while parent is not None:
        if parent.name.startswith("aten::"):
            return True
        parent = getattr(parent, "cpu_parent", None)
    return False


def count_host_ops(events: Iterable[Any]) -> dict[str, int]:
    """Operator calls in a list of profiler events (``torch.profiler.profile(...).events()``).

    * ``aten_ops``: top-level ``aten::`` events (no ``aten::`` event above them): the operators
      that Python code and the autograd engine dispatch, each of which costs host time;
    * ``aten_calls``: every ``aten::`` event, nested ones included (``aten::to`` calls ``aten::_to_copy``,
      which calls ``aten::copy_``: three);
    * ``copies``: the ``aten::copy_``, ``aten::to`` and ``aten::_to_copy`` events, nested included;
    * ``cpu_events``: every host event (operators, autograd nodes, optimizer and CUDA runtime calls).

    Device-side events (kernels, memcpys) are not counted.
    """
    host = [e for e in events if getattr(e, "device_type", DeviceType.CPU) == DeviceType.CPU]
    aten = [e for e in host if e.name.startswith("aten::")]
    return {"aten_ops": sum(not _has_aten_parent(e) for e in aten), "aten_calls": len(aten),
            "copies": sum(e.name in COPY_OPS for e in aten), "cpu_events": len(host)}


def _profile(phases: _Phases, phase: str, steps: int, cuda: bool = False) -> list[Any]:
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        phases.run(phase, steps)
        synchronize(phases.device)
    return list(prof.events())


def _host_ops(phases: _Phases, steps: tuple[int, int] = HOST_OP_STEPS) -> dict[str, dict[str, float]]:
    low, high = steps
    result: dict[str, dict[str, float]] = {}
    for phase in ("task", "vae"):
        few, many = (count_host_ops(_profile(phases, phase, n)) for n in (low, high))
        result[phase] = {key: (many[key] - few[key]) / (high - low) for key in many}
    return result


def host_ops_per_step(config: Config, data: ImageData | None = None,
                      steps: tuple[int, int] = HOST_OP_STEPS) -> dict[str, dict[str, float]]:
    """Host operator calls per task-model optimizer step (``"task"``) and per VAE/D iteration
    (``"vae"``): the host work that CPU-bound launch overhead on a GPU is made of, countable on a CPU.

    Each phase is warmed up, then run under ``torch.profiler.profile(activities=[CPU])`` twice, for
    ``steps[0]`` and for ``steps[1]`` steps; the counts of :func:`count_host_ops` (``aten_ops``,
    ``aten_calls``, ``copies``, ``cpu_events``) of the two runs are subtracted and divided by the
    difference of the step counts, so what a call does once (building optimizers, the per-epoch
    or per-block host sync) drops out and the numbers are exactly the marginal cost of one step.
    ``data`` defaults to the bench's synthetic images of the dataset's shape.
    """
    data = data if data is not None else _bench_data(config, max(steps), 64)
    phases = _Phases(config, data)
    for phase in ("task", "vae"):
        phases.warm_up(phase)
    return _host_ops(phases, steps)


def device_busy_seconds(events: Iterable[Any]) -> float:
    """Seconds during which the GPU ran something: the union of the intervals of the device-side
    events (kernels, memcpys, memsets: ``device_type`` CUDA) of a profile, so that kernels that overlap
    on several streams count once. On one stream this is the sum of the kernel durations."""
    spans = sorted((e.time_range.start, e.time_range.end) for e in events
                   if getattr(e, "device_type", None) == DeviceType.CUDA)
    busy, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop <= end:
            continue
        busy += stop - max(start, end)
        end = stop
    return busy / 1e6  # profiler times are microseconds


def busy_fraction(events: Iterable[Any], wall_s: float) -> float:
    """GPU busy: :func:`device_busy_seconds` of ``events`` over ``wall_s`` seconds of wall time."""
    if wall_s <= 0:
        raise ValueError(f"wall time must be positive, got {wall_s}")
    return device_busy_seconds(events) / wall_s


def _gpu_busy(phases: _Phases, rows: list[BenchRow], steps: int) -> dict[str, float]:
    """Per phase, device-busy seconds under the profiler (CPU and CUDA activities) over the wall seconds
    of the same work timed without it (``rows``): the profiler's own overhead does not dilute it."""
    return {phase: busy_fraction(_profile(phases, phase, steps, cuda=True), row.seconds)
            for phase, row in zip(PHASES, rows)}


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
              peak: bool = True, host_ops: bool = True) -> tuple[list[BenchRow], dict]:
    """Time each phase at ``config``'s model sizes on synthetic data of the dataset's shape.

    ``steps`` optimizer steps (and VAE/D iterations) are timed after a warm-up;
    default 50 on CUDA, 3 on the CPU. The runtime switches are ``config``'s (by default
    bf16, channels_last and fused optimizers on CUDA, none of them on the CPU).
    ``meta["host_ops_per_step"]`` is :func:`host_ops_per_step` of the same models (unless
    ``host_ops`` is false); on CUDA, ``meta["gpu_busy"]`` is each phase's fraction of wall time
    during which the GPU ran something (:func:`busy_fraction`).
    """
    device = config.resolved_device()
    steps = _default_steps(device, steps)
    data = _bench_data(config, steps, pool)
    flops = phase_flops(config, data)
    phases = _Phases(config, data)
    rows, warmup = _run_phases(phases, steps)
    measured = {"host_ops_per_step": _host_ops(phases) if host_ops else None,
                "gpu_busy": _gpu_busy(phases, rows, steps) if device.type == "cuda" else None}
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
    meta.update(measured)
    if baseline:
        meta["baseline_trial_estimate_s"] = estimate_trial_seconds(
            config, [BenchRow(r.phase, r.unit, r.baseline_rate, 0.0, 0) for r in rows])
    return rows, meta


# ------------------------------------------------------------------------------------- ablation
PHASES = ("task", "vae", "scoring")

ABLATION: tuple[tuple[str, dict[str, Any]], ...] = (
    ("fp32, contiguous, plain optimizers", {"precision": "fp32", "memory_format": "contiguous",
                                            "fused_optimizers": "off", "compile": False, "cuda_graphs": "off"}),
    ("+ bf16 autocast", {"precision": "bf16"}),
    ("+ channels_last", {"memory_format": "channels_last"}),
    ("+ fused optimizers", {"fused_optimizers": "on"}),
    ("+ torch.compile (task model, VAE)", {"compile": True}),
    ("+ CUDA graphs", {"cuda_graphs": "on"}),
)
"""The ablation's rows: each adds one change (Config fields) to the row before it."""

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
        # fuses BN + ReLU + add chains; the Ranker, losses and augmentation stay eager
        "+ torch.compile (task model, VAE)": {"task": 1.15, "vae": 1.1, "scoring": 1.1},
        # written 2026-12-04, after the H200 profile (VAE/D: 302 ms host vs 47 ms kernels per 10
        # iterations) and before any CUDA-graphs run: replaying a step removes most launch overhead
        # where the host is the bottleneck (VAE/D, small batches), little where kernels are (task)
        "+ CUDA graphs": {"task": 1.2, "vae": 2.5, "scoring": 1.0},
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
        # no CUDA on the CPU: "on" is refused or does nothing
        "+ CUDA graphs": {"task": 1.0, "vae": 1.0, "scoring": 1.0},
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
    process (:func:`tavaal_nb.isolation.run_isolated`, ``timeout`` seconds at most), so a native
    crash costs one row, not the command; ``isolate=False`` measures in this process.
    ``on_row`` is called with each row as soon as it is done (the CLI prints it, so a run
    stopped by a time limit still shows the rows it finished).
    """
    device = config.resolved_device()
    steps = _default_steps(device, steps)
    data = None if isolate else _bench_data(config, steps, pool)
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
    meta = _meta(config, data if data is not None else _bench_data(config, steps, pool), steps, peak)
    meta["isolated"] = isolate
    measured = [r for r in rows if r.rates]
    if len(measured) >= 2:
        meta["total_speedup"] = {k: measured[-1].rates[k] / measured[0].rates[k] for k in PHASES}
    return rows, meta


def _variant_rates(variant: Config, steps: int, pool: int,
                   data: ImageData | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """The phase rates and warm-up seconds of one ablation variant (module level: it runs isolated)."""
    try:
        timed, warmup = _time_phases(variant, data if data is not None else _bench_data(variant, steps, pool), steps)
    finally:
        if variant.compile:
            _reset_compile()
    return {key: r.rate for key, r in zip(PHASES, timed)}, warmup


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
            row.rates, row.warmup_s = run_isolated(_variant_rates, (variant, steps, pool), timeout)
        else:
            row.rates, row.warmup_s = _variant_rates(variant, steps, pool, data)
    except ChildProcessFailed as error:
        row.note = f"skipped: crashed inside PyTorch ({error}); see docs/benchmarks.md"
        return False
    except Exception as error:  # noqa: BLE001 - a failing compile or capture is reported, the other rows still run
        if not (variant.compile or variant.cuda_graphs == "on"):
            raise
        row.note = _compile_note(error, "CUDA graphs" if "cuda_graphs" in delta else "torch.compile")
        return False
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
    return "\n".join(lines)


def write_ablation_json(rows: list[AblationRow], meta: dict, path: str | Path) -> None:
    payload = {"meta": meta, "rows": [asdict(r) for r in rows], "predicted_speedup": PREDICTED_SPEEDUP}
    atomic_write_text(Path(path), json.dumps(payload, indent=2))  # replaces a link, never writes through it


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
    lines.extend(format_host_work(meta))
    return "\n".join(lines)


def format_host_work(meta: dict) -> list[str]:
    """The lines under the bench table: host operator calls per step, and GPU busy per phase."""
    lines = []
    ops = meta.get("host_ops_per_step")
    if ops:
        lines.append("host operator calls per step (torch.profiler, marginal over "
                     f"{HOST_OP_STEPS[0]} -> {HOST_OP_STEPS[1]} steps): " + "; ".join(
                         f"{label} {ops[key]['aten_ops']:.0f} aten ops ({ops[key]['aten_calls']:.0f} with nested, "
                         f"{ops[key]['copies']:.0f} copy_/to/_to_copy, {ops[key]['cpu_events']:.0f} host events)"
                         for key, label in (("task", "task step"), ("vae", "VAE/D iteration")) if key in ops))
    busy = meta.get("gpu_busy")
    if busy:
        lines.append("GPU busy (device time under the profiler / wall time): "
                     + ", ".join(f"{PHASE_NAMES[k].split(' (')[0]} {100 * v:.0f}%" for k, v in busy.items()))
    return lines


def write_json(rows: list[BenchRow], meta: dict, path: str | Path) -> None:
    payload = {"meta": meta, "rows": [dict(asdict(r), speedup=r.speedup) for r in rows]}
    atomic_write_text(Path(path), json.dumps(payload, indent=2))  # replaces a link, never writes through it


# ---------------------------------------------------------------------------------- concurrency
@dataclass
class ConcurrencyRow:
    """N bench processes at once on one device: their phase rates and the trials per hour they predict."""

    processes: int
    rates: dict[str, float]  # per phase, the mean over the processes (each process' own rate)
    trial_s: float  # one trial of the preset at those rates (:func:`estimate_trial_seconds`), mean over processes
    trials_per_hour: float  # sum over the processes of 3600 / its trial estimate
    vs_first: float | None = None  # trials_per_hour over the first level's


CONCURRENCY_TIMEOUT_S = 900.0
"""Seconds a level of :func:`run_concurrency` may take before its processes are stopped."""


def _concurrent_worker(config: Config, steps: int, pool: int, barrier, conn) -> None:
    """One process of :func:`run_concurrency`: the bench's phases, each timed when every process is ready."""
    try:
        torch.set_num_threads(1)  # as a --parallel-trials worker
        data = _bench_data(config, steps, pool)
        rows, _ = _time_phases(config, data, steps, before=lambda _phase: barrier.wait(CONCURRENCY_TIMEOUT_S))
        conn.send(("ok", [row.rate for row in rows]))
    except BaseException as error:  # noqa: BLE001 - told to the parent, and the others stop waiting
        barrier.abort()
        conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        conn.close()


def _run_level(config: Config, processes: int, steps: int, pool: int) -> list[list[float]]:
    """The phase rates of each of ``processes`` bench processes started together (spawned, one torch thread)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    started = []
    try:
        for _ in range(processes):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_concurrent_worker, args=(config, steps, pool, barrier, sender),
                                      name="tavaal-bench-concurrency", daemon=True)
            process.start()
            sender.close()
            started.append((process, receiver))
        rates, errors = [], []
        for process, receiver in started:
            if not receiver.poll(CONCURRENCY_TIMEOUT_S):
                raise RuntimeError(f"a bench process gave no result within {CONCURRENCY_TIMEOUT_S:.0f} s")
            try:
                kind, value = receiver.recv()
            except EOFError:  # it died without a word
                process.join(5)
                kind, value = "error", f"the process exited with code {process.exitcode}"
            (rates if kind == "ok" else errors).append(value)
        if errors:
            raise RuntimeError(f"{len(errors)} of {processes} concurrent bench processes failed: {errors[0]}")
        return rates
    finally:
        for process, _ in started:
            process.join(5)
            if process.exitcode is None:
                process.kill()
                process.join()


def run_concurrency(config: Config, levels: tuple[int, ...] = (1, 2, 4, 8), steps: int | None = None,
                    pool: int = 4096, on_row: Callable[[ConcurrencyRow], None] | None = None,
                    ) -> tuple[list[ConcurrencyRow], dict]:
    """Trials per hour with N trials sharing the device, for each N of ``levels``.

    For each N, N processes (spawned, one torch thread each, like ``run --parallel-trials N``'s
    workers) build the bench's phases; each phase is timed in all of them at once (they wait for
    each other after its warm-up). Each process' rates give one trial's seconds
    (:func:`estimate_trial_seconds`, the preset's schedule), and the N trials running side by side
    complete ``sum(3600 / trial seconds)`` trials per hour: the steady state of N parallel trials,
    without start-up (imports, data, CUDA context), which long trials amortize.
    """
    device = config.resolved_device()
    steps = _default_steps(device, steps)
    if not levels or any(not isinstance(n, int) or n < 1 for n in levels):
        raise ValueError(f"concurrency levels must be positive integers, got {levels!r}")
    rows: list[ConcurrencyRow] = []
    for n in levels:
        estimates = []
        per_process = _run_level(config, n, steps, pool)
        for rates in per_process:
            fake = [BenchRow(PHASE_NAMES[k], PHASE_UNITS[k], rate, 0.0, 0) for k, rate in zip(PHASES, rates)]
            estimates.append(estimate_trial_seconds(config, fake)["total"])
        row = ConcurrencyRow(n, {k: sum(r[i] for r in per_process) / n for i, k in enumerate(PHASES)},
                             sum(estimates) / n, sum(3600 / t for t in estimates))
        row.vs_first = row.trials_per_hour / rows[0].trials_per_hour if rows else 1.0
        rows.append(row)
        if on_row is not None:
            on_row(row)
    meta = {"device": str(device), "preset": config.preset, "steps": steps, "cycles": config.cycles,
            "dataset": config.dataset, "torch": torch.__version__, "levels": list(levels)}
    return rows, meta


CONCURRENCY_COLUMNS = (f"{'processes':>9}{'task img/s':>12}{'VAE+D it/s':>12}{'score img/s':>13}"
                       f"{'trial min':>11}{'trials/h':>10}{'vs first':>10}")


def format_concurrency_row(row: ConcurrencyRow) -> str:
    """One line of the concurrency table (:data:`CONCURRENCY_COLUMNS`); rates are per process."""
    return (f"{row.processes:>9}{row.rates['task']:>12.1f}{row.rates['vae']:>12.2f}{row.rates['scoring']:>13.1f}"
            f"{row.trial_s / 60:>11.1f}{row.trials_per_hour:>10.2f}{row.vs_first:>9.2f}x")


def format_concurrency(rows: list[ConcurrencyRow], meta: dict) -> str:
    head = (f"concurrent trials on {meta['device']}, preset {meta['preset']} ({meta['cycles']} cycles), "
            f"{meta['dataset']}-shaped images, {meta['steps']} timed steps per phase; rates are each process' own, "
            "trials/h the steady state of N trials side by side (start-up not counted)")
    return "\n".join([head, CONCURRENCY_COLUMNS, *(format_concurrency_row(r) for r in rows)])


def write_concurrency_json(rows: list[ConcurrencyRow], meta: dict, path: str | Path) -> None:
    atomic_write_text(Path(path), json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2))
