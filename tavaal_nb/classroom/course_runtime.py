"""Classroom-safe run sizes for the notebooks: which preset a notebook may use, and how long a run takes.

Two rules, written once here and called from every notebook that trains something:

* :func:`notebook_preset` never returns ``paper`` (or ``authors-code``) unless ``TAVAAL_PRESET`` names it
  on purpose. ``auto``, and an unset variable, mean ``cpu`` in a notebook even on a GPU, where the
  command line's ``auto`` would pick ``paper``: a student who opens a notebook on a Colab GPU must not
  start hours of work by running it top to bottom.
* :func:`announce_run` prints the expected wall time before a run expected to last longer than
  :data:`ANNOUNCE_ABOVE_MINUTES`, from the cost model of :func:`expected_minutes`: on the CPU a FLOP count over
  a sustained rate; on a GPU the step times measured on one H200 (the GPU waits for the host there, so a step
  costs about the same at every preset up to the paper's sizes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from tavaal_nb.config import PRESET_HELP, Config
from tavaal_nb.strategies import VAAL, get_strategy

__all__ = [
    "LONG_PRESETS", "ANNOUNCE_ABOVE_MINUTES", "SUSTAINED_TFLOPS", "GPU_SECONDS_PER_STEP", "notebook_preset", "phase_minutes",
    "expected_minutes", "announce_minutes", "announce_run",
]

LONG_PRESETS = ("paper", "authors-code")
"""Presets that take hours per trial on one GPU: only used when ``TAVAAL_PRESET`` names them."""
ANNOUNCE_ABOVE_MINUTES = 2.0
"""Runs expected to take longer than this print their expected time first."""

TASK_GFLOP_PER_IMAGE = 3.33
"""One training step of ResNet-18 (width 64) with its Ranker on one 32x32 image (flop counter; docs/benchmarks.md)."""
VAE_GFLOP_PER_ITERATION = 834.0
"""One VAE + discriminator iteration, width 128, batches of 128 labeled + 128 unlabeled (docs/benchmarks.md)."""
SUSTAINED_TFLOPS = 0.06
"""Sustained throughput (TFLOP/s) of whole runs on a 2-core CPU: about 0.12 in each phase (docs/benchmarks.md)
and about half of that over a notebook's run."""
GPU_SECONDS_PER_STEP = {"task": 128 / 7599, "vae": 1 / 43.4}
"""Measured on one H200 at the paper preset (commit 4f0e4ad, 2026-12-04, docs/benchmarks.md): a task-training
step of 128 images with its Ranker took 16.8 ms (7,599 images/s), a VAE/discriminator iteration 23.0 ms (43.4
iterations/s); the GPU's kernels took a small part of that (47 ms of 302 ms of host time over 10 VAE/D
iterations), so smaller presets step no faster. A calibration, not a FLOP model: other GPUs, and the
CUDA-graph path built since, are estimates until ``bench`` measures them."""
FIXED_SECONDS_PER_CYCLE = {"cpu": 2.0, "cuda": 3.0}
"""Per-cycle overhead the FLOP count misses (model construction, evaluation passes, Python)."""


def notebook_preset(environ: Mapping[str, str] | None = None) -> str:
    """The preset a notebook runs at: ``$TAVAAL_PRESET`` when it names ``ci``, ``cpu``, ``paper`` or
    ``authors-code``; ``cpu`` when it is unset or ``auto`` (on a GPU too: hours of ``paper`` work are never
    started by accident). Raises ``ValueError`` for an unknown name, listing the valid ones."""
    environ = os.environ if environ is None else environ
    name = environ.get("TAVAAL_PRESET", "auto").strip() or "auto"
    if name not in PRESET_HELP:
        raise ValueError(f"TAVAAL_PRESET={name!r} is not a preset; valid: {', '.join(PRESET_HELP)}")
    return "cpu" if name == "auto" else name


def _device_kind(config: Config, device: str | None) -> str:
    kind = str(config.resolved_device() if device is None else device)
    if not kind.startswith(("cpu", "cuda")):
        raise ValueError(f"device must be 'cpu' or 'cuda[:n]', got {device!r}")
    return "cuda" if kind.startswith("cuda") else "cpu"


def phase_minutes(config: Config, task_images: int = 0, vae_iterations: int = 0, cycles: int = 0,
                  device: str | None = None) -> float:
    """Rough wall time, in minutes, of training the task model on ``task_images`` images (with its Ranker),
    ``vae_iterations`` VAE/discriminator iterations and ``cycles`` fixed per-cycle costs, at the sizes of
    ``config`` on ``device`` (default: the config's), plus :data:`FIXED_SECONDS_PER_CYCLE` per cycle.

    CPU: FLOPs, :data:`TASK_GFLOP_PER_IMAGE` scaled by ``(width / 64)^2`` per image and
    :data:`VAE_GFLOP_PER_ITERATION` scaled by ``(vae_width / 128)^2`` and ``vae_batch_size / 128`` per
    iteration, divided by :data:`SUSTAINED_TFLOPS` (images counted as 32x32, so smaller images err long).
    GPU: ``task_images / batch_size`` steps and the VAE/D iterations at the measured
    :data:`GPU_SECONDS_PER_STEP` (host-bound, so the same at every size up to the paper's).
    """
    if min(task_images, vae_iterations, cycles) < 0:
        raise ValueError(f"counts must be >= 0, got task_images={task_images}, vae_iterations={vae_iterations}, "
                         f"cycles={cycles}")
    kind = _device_kind(config, device)
    if kind == "cuda":
        seconds = (task_images / config.batch_size * GPU_SECONDS_PER_STEP["task"]
                   + vae_iterations * GPU_SECONDS_PER_STEP["vae"])
    else:
        task_gflop = TASK_GFLOP_PER_IMAGE * (config.width / 64) ** 2
        vae_gflop = VAE_GFLOP_PER_ITERATION * (config.vae_width / 128) ** 2 * (config.vae_batch_size / 128)
        seconds = (task_images * task_gflop + vae_iterations * vae_gflop) / (SUSTAINED_TFLOPS * 1e3)
    return (seconds + cycles * FIXED_SECONDS_PER_CYCLE[kind]) / 60.0


def expected_minutes(config: Config, device: str | None = None) -> float:
    """Rough wall time, in minutes, of ``run_experiment(config)`` on ``device`` (default: the config's).

    Adds up :func:`phase_minutes` over every method, trial and cycle: ``epochs x labeled`` training images
    per cycle (the epochs of :meth:`~tavaal_nb.config.Config.task_schedule`; twice with ``retrain_plain``), and for VAAL and TA-VAAL ``config.vae_iterations_for(labeled,
    subset)`` VAE/D iterations per query. An estimate to decide whether to wait (``python -m tavaal_nb bench`` measures the phases on your
    device): the GPU figure is calibrated on one H200 (:data:`GPU_SECONDS_PER_STEP`), the CPU figure on 2 cores.
    """
    minutes = 0.0
    for method in config.methods:
        sizes = [config.initial + cycle * config.budget for cycle in range(config.cycles)]
        queries = sizes[:-1] if isinstance(get_strategy(method), VAAL) else []  # VAAL, TA-VAAL, vaal-lloss
        trained = 2 if config.retrain_plain else 1  # retrain_plain: a second, plain task model per cycle
        images = sum(config.task_schedule(n)[0] * n for n in sizes)  # epochs x labeled, min_steps included
        minutes += phase_minutes(config, task_images=trained * images,
                                 vae_iterations=sum(config.vae_iterations_for(n, config.subset) for n in queries),
                                 cycles=config.cycles, device=device)
    return minutes * config.trials


def announce_minutes(minutes: float, what: str, threshold: float = ANNOUNCE_ABOVE_MINUTES) -> str | None:
    """Print (and return) ``what`` and its expected time when ``minutes`` exceeds ``threshold``, with how to
    pick a smaller preset; return None and print nothing for a shorter job."""
    if minutes <= threshold:
        return None
    shown = f"{minutes:.0f} minutes" if minutes < 120 else f"{minutes / 60:.1f} hours"
    message = (f"{what} is expected to take about {shown} (a rough estimate). "
               "For a shorter one, set TAVAAL_PRESET=ci before starting Jupyter.")
    print(message)
    return message


def announce_run(config: Config, device: str | None = None, threshold: float = ANNOUNCE_ABOVE_MINUTES) -> str | None:
    """:func:`announce_minutes` for ``run_experiment(config)``: prints its expected time when over ``threshold``."""
    kind = _device_kind(config, device)
    what = (f"This run (preset {config.preset}, {len(config.methods)} method(s) x {config.trials} trial(s) x "
            f"{config.cycles} cycles, on {kind})")
    return announce_minutes(expected_minutes(config, device), what, threshold)
