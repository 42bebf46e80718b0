"""The bench's workload: one active-learning cycle's three phases on synthetic images of a dataset's shape.

Task-model training (images/s, with the TA-VAAL Ranker), VAE + discriminator training
(iterations/s: one VAE step on a labeled and an unlabeled batch, one D step) and scoring the
candidates (images/s: Ranker, encoder and discriminator), built once under a Config's runtime
switches (:class:`Phases`) and timed after a warm-up (:func:`time_phases`); the FLOPs of each
(:func:`phase_flops`), the matrix-product peak they are set against, and the seconds of a trial
the rates predict (:func:`estimate_trial_seconds`).

Each call of a training phase builds its optimizers and, with CUDA graphs, warms up and captures its
steps before it replays them, so a single timing mixes that fixed cost into the rate. The training
phases are therefore timed at two lengths (``n`` and ``2n`` steps): the difference is the steady-state
rate, and what is left of the short run is the fixed cost of a call (:attr:`BenchRow.fixed_s`), which
a trial pays once per captured graph. :func:`epoch_overhead` measures what a task epoch costs beyond
its images at the steady rate (the partial batch, the shuffle, the epoch's one host read).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from tavaal_nb.config import Config
from tavaal_nb.cuda_graphs import WARMUP_STEPS
from tavaal_nb.data.datasets import ImageData, load_dataset
from tavaal_nb.experiment_data import make_augmenter
from tavaal_nb.losses import bce_ranking_loss, conditional_vae_loss, discriminator_loss, vae_adversarial_loss
from tavaal_nb.models import ConditionalVAE, Discriminator, LossPredictionModule, ResNet18
from tavaal_nb.strategies.vaal import latent_means, train_adversarial
from tavaal_nb.training import Runtime, build_task_model, infer, maybe_compile, synchronize, train_task_model

__all__ = [
    "BenchRow", "PHASES", "PHASE_NAMES", "PHASE_UNITS", "Phases", "timed", "matmul_peak_tflops", "phase_flops",
    "bench_data", "time_phases", "run_phases", "default_steps", "bench_meta", "estimate_trial_seconds",
    "graph_segments", "epoch_overhead", "EPOCH_OVERHEAD_EPOCHS",
]

EPOCH_OVERHEAD_EPOCHS = (4, 8)
"""The two epoch counts :func:`epoch_overhead` subtracts: from the 4th epoch on every graph, the partial
batch's included, is captured (:data:`tavaal_nb.cuda_graphs.WARMUP_STEPS` warm-ups first)."""

PHASES = ("task", "vae", "scoring")
"""The phases of a cycle, in the order they are timed and reported."""


@dataclass
class BenchRow:
    phase: str
    unit: str
    rate: float
    seconds: float
    work: int
    tflops: float | None = None
    baseline_rate: float | None = None
    fixed_s: float | None = None  # a call's seconds beyond its steady-state steps (set-up, warm-up, capture)
    peak_memory_gb: float | None = None  # CUDA: the most memory allocated while it was timed

    @property
    def speedup(self) -> float | None:
        return None if not self.baseline_rate else self.rate / self.baseline_rate


def timed(device: torch.device, fn) -> float:
    """Wall seconds of ``fn()``, the device synchronized before and after."""
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
    seconds = timed(device, lambda: [a @ b for _ in range(repeats)])
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


def bench_data(config: Config, steps: int, pool: int) -> ImageData:
    """Synthetic images of the dataset's shape, on the config's device, enough for ``steps`` batches."""
    device = config.resolved_device()
    grey = config.dataset.startswith("fashion") or config.dataset == "synthetic-grey"
    pool = max(pool, 2 * config.vae_batch_size, steps * config.batch_size)
    return load_dataset("synthetic-grey" if grey else "synthetic", seed=config.seed,
                        train_limit=pool, test_limit=64).to(device)


class Phases:
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
        return timed(self.device, lambda: self.run(phase, 2 if phase == "task" else 1))

    def steady_steps(self, steps: int) -> int:
        """The short run of :meth:`time`: ``steps``, and with CUDA graphs at least the warm-ups and the
        capture, so that the long run adds replays only."""
        return max(steps, WARMUP_STEPS + 1) if self.runtime.cuda_graphs else steps

    def time(self, phase: str, steps: int) -> BenchRow:
        """The steady-state rate of a training phase, from :meth:`steady_steps` and twice as many steps
        (``seconds`` and ``work`` are the difference; ``fixed_s`` what is left of the short run); scoring,
        which builds nothing per call, from one pass. A difference lost in noise (a busy CPU) falls back
        to the long run's plain rate, without a fixed cost."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        if phase == "scoring":
            seconds = timed(self.device, lambda: self.run(phase, steps))
            work, fixed = self.units(phase, steps), None
        else:
            short = self.steady_steps(steps)
            t_short = timed(self.device, lambda: self.run(phase, short))
            t_long = timed(self.device, lambda: self.run(phase, 2 * short))
            seconds, work = t_long - t_short, self.units(phase, 2 * short) - self.units(phase, short)
            fixed = t_short - self.units(phase, short) * seconds / work if seconds > 0 else None
            if seconds <= 0:
                seconds, work = t_long, self.units(phase, 2 * short)
        peak = torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else None
        return BenchRow(PHASE_NAMES[phase], PHASE_UNITS[phase], work / seconds, seconds, work, fixed_s=fixed,
                        peak_memory_gb=peak)


PHASE_NAMES = {"task": "task training (ResNet-18 + Ranker)", "vae": "VAE + discriminator",
               "scoring": "scoring (Ranker + encoder + D)"}
PHASE_UNITS = {"task": "images/s", "vae": "iterations/s", "scoring": "images/s"}


def time_phases(config: Config, data: ImageData, steps: int,
                 before: Callable[[str], None] | None = None) -> tuple[list[BenchRow], dict[str, float]]:
    """The three phases, timed under ``config``'s runtime switches, each after its warm-up; ``before``
    (if given) is called with the phase's name between its warm-up and its timing. Returns the rows and
    each phase's warm-up seconds (compilation included)."""
    return run_phases(Phases(config, data), steps, before)


def run_phases(phases: Phases, steps: int,
                before: Callable[[str], None] | None = None) -> tuple[list[BenchRow], dict[str, float]]:
    """:func:`time_phases` on phases already built (the bench profiles the same models afterwards)."""
    rows: list[BenchRow] = []
    warmup: dict[str, float] = {}
    for phase in PHASES:
        warmup[phase] = phases.warm_up(phase)
        if before is not None:
            before(phase)
        rows.append(phases.time(phase, steps))
    return rows, warmup


def default_steps(device: torch.device, steps: int | None) -> int:
    """The timed steps per phase: ``steps``, or 50 on CUDA and 3 on the CPU."""
    steps = steps or (50 if device.type == "cuda" else 3)
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    return steps


def bench_meta(config: Config, data: ImageData, steps: int, peak: bool) -> dict:
    """What a bench table's heading says: device, torch, threads, preset, sizes (and the peak, with ``peak``)."""
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


def graph_segments(config: Config) -> int:
    """How many (Ranker detached, learning rate) pairs a cycle's task training goes through: each is a
    constant inside a captured step, so each costs the task phase's fixed cost (new graphs) once."""
    return len({(epoch >= config.ranker_detach_epoch, sum(epoch >= m for m in config.milestones))
                for epoch in range(config.epochs)})


def epoch_overhead(phases: Phases, labeled: int, rate: float,
                   epochs: tuple[int, int] = EPOCH_OVERHEAD_EPOCHS) -> dict[str, float]:
    """What one task epoch on ``labeled`` images costs beyond ``labeled / rate`` (``rate``: the steady
    task rate): the partial batch, the shuffle and the epoch's host read. Task training on ``labeled``
    images is timed for ``epochs[0]`` and ``epochs[1]`` epochs (one learning rate, Ranker attached) and
    the difference divided by the extra epochs, so building and capturing drop out."""
    config, data = phases.config, phases.data
    indices = torch.arange(labeled, device=phases.device) % data.train_size
    seconds = []
    for count in epochs:
        variant = config.replace(epochs=count, milestones=(count,), ranker_detach_epoch=count)
        seconds.append(timed(phases.device, lambda variant=variant: train_task_model(
            phases.task_model, data, indices, variant, phases.augmenter, phases.generator, bce_ranking_loss,
            progress=False)))
    per_epoch = (seconds[1] - seconds[0]) / (epochs[1] - epochs[0])
    return {"labeled": labeled, "epoch_s": per_epoch, "overhead_s": per_epoch - labeled / rate}


def _overhead_at(points: list[dict[str, float]], labeled: int) -> float:
    """Per-epoch overhead at ``labeled``, linear through the measured points (constant with one)."""
    points = sorted(points, key=lambda p: p["labeled"])
    if len(points) == 1:
        return points[0]["overhead_s"]
    (a, b) = (points[0], points[-1])
    slope = (b["overhead_s"] - a["overhead_s"]) / (b["labeled"] - a["labeled"])
    return a["overhead_s"] + slope * (labeled - a["labeled"])


def estimate_trial_seconds(config: Config, rows: list[BenchRow], test_size: int = 10_000,
                           epoch_overheads: list[dict[str, float]] | None = None) -> dict[str, float]:
    """Seconds of one TA-VAAL trial of ``config`` predicted from the measured phase rates.

    Per cycle c (labeled n_c = initial + c * budget): ``epochs * n_c`` training images,
    one pass over the test set and, for every cycle but the last, the VAE/D iterations of
    :meth:`Config.vae_iterations_for` plus scoring ``n_c + subset`` images (r and the
    latent means). Evaluation is charged at the scoring rate. Where the rows carry a fixed cost per
    call (:meth:`Phases.time`), ``set_up`` adds it once per task graph segment (:func:`graph_segments`)
    and once per query; ``epoch_overheads`` (points of :func:`epoch_overhead`) add ``epochs`` times the
    per-epoch overhead at n_c (linear between the points) as ``epoch_overhead``.
    """
    task, vae, scoring = (row.rate for row in rows[:3])
    fixed_task, fixed_vae = (row.fixed_s for row in rows[:2])
    total = {"train": 0.0, "vae": 0.0, "scoring": 0.0}
    if fixed_task is not None or fixed_vae is not None:
        total["set_up"] = 0.0
    if epoch_overheads:
        total["epoch_overhead"] = 0.0
    for cycle in range(config.cycles):
        labeled = config.initial + cycle * config.budget
        total["train"] += config.epochs * labeled / task
        total["scoring"] += test_size / scoring
        if "set_up" in total:
            total["set_up"] += graph_segments(config) * max(0.0, fixed_task or 0.0)
        if epoch_overheads:
            total["epoch_overhead"] += config.epochs * max(0.0, _overhead_at(epoch_overheads, labeled))
        if cycle < config.cycles - 1:
            total["vae"] += config.vae_iterations_for(labeled, config.subset) / vae
            total["scoring"] += (labeled + config.subset) / scoring
            if "set_up" in total:
                total["set_up"] += max(0.0, fixed_vae or 0.0)
    total["total"] = sum(total.values())
    return total
