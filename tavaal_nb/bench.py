"""Speed benchmark: per-phase throughput of one active-learning cycle at a preset's sizes.

Phases: task-model training (images/s, with the TA-VAAL Ranker), VAE + discriminator
training (iterations/s: one VAE step on a labeled and an unlabeled batch, one D step)
and scoring the candidates (images/s: Ranker, encoder and discriminator). Each phase's
sustained TFLOP/s (FLOPs counted with ``torch.utils.flop_counter``) is set against a
large matrix product timed in the same process, so the gap to the floor is a number.
``--baseline`` times the public code's pipeline (:mod:`tavaal_nb.baseline`) beside ours.
Figures go to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from tavaal_nb.config import Config
from tavaal_nb.data.datasets import ImageData, load_dataset
from tavaal_nb.loop import make_augmenter
from tavaal_nb.losses import conditional_vae_loss, discriminator_loss, ranker_loss, vae_adversarial_loss
from tavaal_nb.models import ConditionalVAE, Discriminator, LossPredictionModule, ResNet18
from tavaal_nb.strategies.vaal import latent_means, train_adversarial
from tavaal_nb.training import Runtime, build_task_model, infer, train_task_model

__all__ = ["BenchRow", "run_bench", "format_table", "matmul_peak_tflops", "phase_flops", "estimate_trial_seconds"]


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, fn) -> float:
    _sync(device)
    tic = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - tic


def matmul_peak_tflops(device: torch.device, size: int | None = None, repeats: int = 10) -> float:
    """TFLOP/s of a square matrix product: bf16 8192^3 on CUDA, fp32 2048^3 on the CPU."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
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
        (per_sample.mean() + ranker_loss(ranker(features), per_sample)).backward()
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


def run_bench(config: Config, steps: int | None = None, pool: int = 4096, baseline: bool = False,
              peak: bool = True) -> tuple[list[BenchRow], dict]:
    """Time each phase at ``config``'s model sizes on synthetic data of the dataset's shape.

    ``steps`` optimizer steps (and VAE/D iterations) are timed after a warm-up;
    default 50 on CUDA, 3 on the CPU.
    """
    device = config.resolved_device()
    steps = steps or (50 if device.type == "cuda" else 3)
    grey = config.dataset.startswith("fashion") or config.dataset == "synthetic-grey"
    pool = max(pool, 2 * config.vae_batch_size, steps * config.batch_size)
    data: ImageData = load_dataset("synthetic-grey" if grey else "synthetic", seed=config.seed,
                                   train_limit=pool, test_limit=64).to(device)
    augmenter = make_augmenter(config, data)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    torch.manual_seed(config.seed)
    flops = phase_flops(config, data)
    rows: list[BenchRow] = []

    # 1. task model with Ranker: one epoch of `steps` optimizer steps.
    labeled = torch.arange(steps * config.batch_size, device=device)
    task = build_task_model(config, data, True, device)
    warm = config.replace(epochs=1, milestones=(1,), ranker_detach_epoch=1)
    train_task_model(task, data, labeled[: 2 * config.batch_size], warm, augmenter, generator, ranker_loss, progress=False)
    seconds = _timed(device, lambda: train_task_model(task, data, labeled, warm, augmenter, generator, ranker_loss,
                                                      progress=False))
    rows.append(BenchRow("task training (ResNet-18 + Ranker)", "images/s", labeled.numel() / seconds, seconds,
                         labeled.numel()))

    # 2. VAE + discriminator: `steps` iterations, r computed beforehand (once per query, as in a run).
    vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width).to(device)
    disc = Discriminator(config.z_dim, 1, config.disc_hidden, config.disc_depth).to(device)
    runtime = Runtime.resolve(config, device)
    vae = vae.to(memory_format=runtime.memory_format)
    half = data.train_size // 2
    lab, unl = data.train_images[:half], data.train_images[half:]
    r_l, r_u = torch.randn(lab.shape[0], device=device), torch.randn(unl.shape[0], device=device)
    train_adversarial(vae, disc, lab, unl, r_l, r_u, config, augmenter, 1, generator, progress=False)
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
        score()
        seconds = _timed(device, score)
    rows.append(BenchRow("scoring (Ranker + encoder + D)", "images/s", candidates.shape[0] / seconds, seconds,
                         candidates.shape[0]))
    for row, key in zip(rows, ("task", "vae", "scoring")):
        row.tflops = row.rate * flops[key] / 1e12
    if baseline:
        from tavaal_nb.baseline import run_baseline_bench

        base = run_baseline_bench(config, data, steps)
        for row, key in zip(rows, ("task", "vae", "scoring")):
            row.baseline_rate = base[key][0]
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
        "flops_per_unit": flops,
        "matmul_peak_tflops": matmul_peak_tflops(device) if peak else None,
        "cycles": config.cycles,
    }
    meta["trial_estimate_s"] = estimate_trial_seconds(config, rows)
    return rows, meta


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
    return "\n".join(lines)


def write_json(rows: list[BenchRow], meta: dict, path: str | Path) -> None:
    payload = {"meta": meta, "rows": [dict(asdict(r), speedup=r.speedup) for r in rows]}
    Path(path).write_text(json.dumps(payload, indent=2))
