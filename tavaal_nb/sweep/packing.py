"""How many trials share one GPU by default (``run --parallel-trials auto``, ``sweep --workers auto``).

One trial of the paper preset leaves most of a large GPU idle (18-30 % utilisation on an H200, a
few GiB of its memory: benchmarks/README.md), so by default trials are packed onto each GPU: as
many as its free memory holds at :func:`trial_memory_bytes` each, at most one per CPU core (each
trial's process needs a core for its host work) and no more than there are trials. On the CPU
"auto" is 1: trials run one after another, as they always did.
"""

from __future__ import annotations

import os

import torch

from tavaal_nb.config import Config

__all__ = ["AUTO", "TRIAL_MEMORY_MEASURED", "trial_memory_bytes", "auto_parallel_trials", "parse_parallel_trials", "MAX_PROCESSES",
           "cpu_cores"]

AUTO = "auto"
MAX_PROCESSES = 1024
"""The most worker processes a sweep or a parallel run takes (a larger count is refused in one line)."""
CONTEXT_BYTES = 600 * 2**20
"""A CUDA context, cuDNN/cuBLAS workspaces and the allocator's slack: what any trial's process takes."""
TRIAL_MEMORY_MEASURED = 2645 * 2**20
"""nvidia-smi's memory.used while one trial ran alone on an H200 (2026-12-04): paper preset (widths 64/128,
batches 128), synthetic 32x32 pool of 20,000 images (/work/shared/measurements/gpu-h200-2026-12-04)."""
_MEASURED = {"width": 64, "vae_width": 128, "batch_size": 128, "vae_batch_size": 128, "pool": 20_000}
_LARGEST_POOL = 73_257
"""SVHN's training set, the largest pool of the built-in datasets (the default when train_limit is None)."""
_IMAGE_BYTES = 3 * 32 * 32  # uint8, the largest images of the built-in datasets
MARGIN = 1.25
"""Headroom over the estimate: fragmentation, and the scoring pass's larger batches."""


def trial_memory_bytes(config: Config) -> int:
    """Device memory one trial of ``config`` is expected to take, in bytes (an estimate, with :data:`MARGIN`).

    Scaled from one measured trial (:data:`TRIAL_MEMORY_MEASURED`): a fixed :data:`CONTEXT_BYTES`, the
    pool's images on the device (uint8, 3x32x32, ``train_limit`` of them or the largest built-in pool),
    and the rest (weights, optimizer states, activations) in proportion to batch size x width for the
    task model and the VAE, each half of the measured working memory. Never below the context.
    """
    measured_pool = _MEASURED["pool"] * _IMAGE_BYTES
    working = TRIAL_MEMORY_MEASURED - CONTEXT_BYTES - measured_pool
    task = config.batch_size * config.width / (_MEASURED["batch_size"] * _MEASURED["width"])
    vae = config.vae_batch_size * config.vae_width / (_MEASURED["vae_batch_size"] * _MEASURED["vae_width"])
    pool = (config.train_limit or _LARGEST_POOL) * _IMAGE_BYTES
    return int(MARGIN * (CONTEXT_BYTES + pool + working * (task + vae) / 2))


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_parallel_trials(config: Config, trials: int, device: torch.device | str | None = None) -> int:
    """How many of ``trials`` trials of ``config`` to run at once on one device.

    On CUDA: ``torch.cuda.mem_get_info`` free bytes of the device // :func:`trial_memory_bytes`, capped by
    ``trials`` and by :func:`cpu_cores`, at least 1. On any other device (or without CUDA): 1.
    ``device`` defaults to ``config``'s (``auto`` is CUDA when it is available).
    """
    if device is None:
        device = "cuda" if config.device == "auto" else config.device
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return 1
    free, _total = torch.cuda.mem_get_info(device)
    return max(1, min(free // trial_memory_bytes(config), trials, cpu_cores()))


def parse_parallel_trials(text: str) -> int | str:
    """``auto`` or a positive integer, from the command line; anything else is refused in one line."""
    value = str(text).strip().lower()
    if value == AUTO:
        return AUTO
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PROCESSES:
        raise ValueError(f"expected auto or a positive integer, got {text!r} (at most {MAX_PROCESSES} processes)")
    return number
