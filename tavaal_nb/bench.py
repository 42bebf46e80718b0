"""Speed benchmark: per-phase throughput of one active-learning cycle at a preset's sizes.

Phases: task-model training (images/s, with the TA-VAAL Ranker), VAE + discriminator
training (iterations/s, two batches per iteration) and scoring the candidates
(images/s: Ranker, encoder and discriminator). Figures go to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from tavaal_nb.config import Config
from tavaal_nb.data.datasets import ImageData, load_dataset
from tavaal_nb.loop import make_augmenter
from tavaal_nb.losses import ranker_loss
from tavaal_nb.models import ConditionalVAE, Discriminator
from tavaal_nb.strategies.vaal import latent_means, train_adversarial
from tavaal_nb.training import build_task_model, infer, train_task_model

__all__ = ["BenchRow", "run_bench", "format_table"]


@dataclass
class BenchRow:
    phase: str
    unit: str
    rate: float
    seconds: float
    work: int

    def as_dict(self) -> dict:
        return {"phase": self.phase, "unit": self.unit, "rate": self.rate, "seconds": self.seconds, "work": self.work}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, fn) -> float:
    _sync(device)
    tic = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - tic


def run_bench(config: Config, steps: int | None = None, pool: int = 4096) -> tuple[list[BenchRow], dict]:
    """Time each phase at ``config``'s model sizes on synthetic data of the dataset's shape.

    ``steps`` optimizer steps (and VAE/D iterations) are timed after one warm-up
    epoch/iteration; default 50 on CUDA, 3 on the CPU.
    """
    device = config.resolved_device()
    steps = steps or (50 if device.type == "cuda" else 3)
    shape_source = "synthetic-grey" if config.dataset.startswith("fashion") or config.dataset == "synthetic-grey" else "synthetic"
    data: ImageData = load_dataset(shape_source, seed=config.seed, train_limit=pool, test_limit=64).to(device)
    augmenter = make_augmenter(config, data)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    torch.manual_seed(config.seed)
    rows: list[BenchRow] = []

    # 1. task model with Ranker: `steps` optimizer steps = one epoch over steps * batch images.
    images = steps * config.batch_size
    labeled = torch.arange(min(images, data.train_size), device=device)
    task = build_task_model(config, data, True, device)
    warm = config.replace(epochs=1, milestones=(1,), ranker_detach_epoch=1)
    train_task_model(task, data, labeled[: 2 * config.batch_size], warm, augmenter, generator, ranker_loss, progress=False)
    seconds = _timed(device, lambda: train_task_model(task, data, labeled, warm, augmenter, generator, ranker_loss, progress=False))
    rows.append(BenchRow("task training (ResNet-18 + Ranker)", "images/s", labeled.numel() / seconds, seconds, labeled.numel()))

    # 2. VAE + discriminator: `steps` iterations of one VAE and one D step.
    vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width).to(device)
    disc = Discriminator(config.z_dim, 1, config.disc_hidden, config.disc_depth).to(device)
    if device.type == "cuda":
        vae = vae.to(memory_format=torch.channels_last)
    half = data.train_size // 2
    lab, unl = data.train_images[:half], data.train_images[half:]
    r_l, r_u = torch.randn(lab.shape[0], device=device), torch.randn(unl.shape[0], device=device)
    train_adversarial(vae, disc, lab, unl, r_l, r_u, config, augmenter, 1, generator, progress=False)
    seconds = _timed(device, lambda: train_adversarial(vae, disc, lab, unl, r_l, r_u, config, augmenter, steps,
                                                       generator, progress=False))
    rows.append(BenchRow("VAE + discriminator", "iterations/s", steps / seconds, seconds, steps))

    # 3. scoring: rank variable, latent means and D(mu, r) for the candidates.
    candidates = data.train_images

    def score() -> None:
        r = infer(task, candidates, augmenter, config.eval_batch_size)["rank"]
        mu = latent_means(vae, candidates, augmenter, config.eval_batch_size)
        torch.sigmoid(disc(mu, r))

    score()
    seconds = _timed(device, score)
    rows.append(BenchRow("scoring (Ranker + encoder + D)", "images/s", candidates.shape[0] / seconds, seconds,
                         candidates.shape[0]))
    meta = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu"),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "preset": config.preset,
        "dataset_shape": list(data.train_images.shape[1:]),
        "batch_size": config.batch_size,
        "vae_batch_size": config.vae_batch_size,
        "steps": steps,
    }
    return rows, meta


def format_table(rows: list[BenchRow], meta: dict) -> str:
    head = (f"device {meta['device']} ({meta['device_name']}), torch {meta['torch']}, {meta['threads']} threads, "
            f"preset {meta['preset']}, images {meta['dataset_shape']}, {meta['steps']} timed steps")
    lines = [head, f"{'phase':<38}{'rate':>14}  {'unit':<13}{'seconds':>9}"]
    for row in rows:
        lines.append(f"{row.phase:<38}{row.rate:>14.2f}  {row.unit:<13}{row.seconds:>9.2f}")
    return "\n".join(lines)


def write_json(rows: list[BenchRow], meta: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps({"meta": meta, "rows": [r.as_dict() for r in rows]}, indent=2))
