"""The noise floor of a preset: how far apart trainings on the same labeled set land.

A difference between two methods means something only when it is larger than the spread of
models trained on *identical* data. :func:`measure_noise` fixes one labeled set per size (the
sizes of the preset's cycles, nested: each set holds the smaller ones), trains ``replicates``
task models on it that differ only in their seed (initialisation, batch order, augmentation),
and reports each size's test accuracies, mean, sample standard deviation and range. The file is
written after every training, atomically, and an interrupted measurement resumes where it stopped.

File layout (``format: tavaal-nb/noise``, ``version: 1``)::

    dataset, preset, method   what was trained (the method decides whether a Ranker trains with it)
    replicates                trainings per size
    config                    the Config as a dict
    sizes                     one entry per labeled size: size, epochs, steps (optimizer steps of one
                              training), indices_seed, seeds, accuracies (percent), wall_time_s
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tavaal_nb.config import Config
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.experiment_data import make_augmenter, prepare_data
from tavaal_nb.files import atomic_write_text
from tavaal_nb.losses import ranker_objective_loss
from tavaal_nb.preflight import check_names
from tavaal_nb.progress import progress_bar
from tavaal_nb.results import ResultsFileError, read_document
from tavaal_nb.seeding import derive_seed
from tavaal_nb.stored_config import config_diff
from tavaal_nb.strategies import get_strategy
from tavaal_nb.training import Runtime, build_task_model, evaluate, train_task_model

__all__ = ["FORMAT", "VERSION", "NOISE_NAME", "NoiseLevel", "NoiseFloor", "measure_noise", "read_noise",
           "labeled_sizes", "noise_table"]

FORMAT = "tavaal-nb/noise"
VERSION = 1
NOISE_NAME = "noise.json"


def labeled_sizes(config: Config) -> list[int]:
    """The labeled-set sizes of ``config``'s cycles: ``initial + c * budget`` for c = 0 .. cycles - 1."""
    return [config.initial + c * config.budget for c in range(config.cycles)]


@dataclass
class NoiseLevel:
    """The replicate trainings at one labeled size."""

    size: int
    epochs: int
    steps: int
    indices_seed: int
    seeds: list[int]
    accuracies: list[float]
    wall_time_s: float = 0.0

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies) if self.accuracies else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation of the replicates (n - 1), NaN with fewer than two."""
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else math.nan

    @property
    def spread(self) -> float:
        """Largest minus smallest accuracy."""
        return max(self.accuracies) - min(self.accuracies) if self.accuracies else math.nan


@dataclass
class NoiseFloor:
    """A noise measurement: one :class:`NoiseLevel` per labeled size."""

    dataset: str
    preset: str
    method: str
    replicates: int
    config: dict[str, Any]
    levels: list[NoiseLevel]

    def level(self, size: int) -> NoiseLevel:
        for level in self.levels:
            if level.size == size:
                return level
        raise KeyError(f"no noise measured at {size} labeled images; measured: {[lv.size for lv in self.levels]}")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "dataset": self.dataset, "preset": self.preset,
                "method": self.method, "replicates": self.replicates, "config": self.config,
                "sizes": [vars(level).copy() for level in self.levels]}

    def __str__(self) -> str:
        return noise_table(self)


def noise_table(noise: NoiseFloor) -> str:
    """A text table: per size the epochs, optimizer steps, replicates and accuracy mean, sd and range."""
    lines = [f"noise floor: {noise.method} on {noise.dataset}, preset {noise.preset}, "
             f"{noise.replicates} replicate trainings per labeled set (test accuracy, %)",
             f"{'labeled':>8} {'epochs':>7} {'steps':>6} {'n':>3} {'mean':>7} {'sd':>6} {'range':>6}  accuracies"]
    for level in noise.levels:
        done = len(level.accuracies)
        mean, sd = (level.mean, level.std) if done else (math.nan, math.nan)
        spread = level.spread if done else math.nan
        accuracies = ", ".join(f"{a:.2f}" for a in level.accuracies)
        lines.append(f"{level.size:>8} {level.epochs:>7} {level.steps:>6} {done:>3} {mean:>7.2f} {sd:>6.2f} "
                     f"{spread:>6.2f}  {accuracies}")
    return "\n".join(lines)


def _nested_sets(config: Config, train_size: int, sizes: Sequence[int]) -> tuple[int, torch.Tensor]:
    """One random order of the pool (seeded from the run's seed and dataset); size s takes its first s."""
    seed = derive_seed(config.seed, config.dataset, "noise")
    return seed, torch.randperm(train_size, generator=torch.Generator().manual_seed(seed))[:max(sizes)]


def _steps(config: Config, size: int) -> tuple[int, int]:
    epochs, _, _ = config.task_schedule(size)
    full, rest = divmod(size, config.batch_size)
    return epochs, epochs * max(1, full + (1 if rest > 1 or full == 0 else 0))


def measure_noise(config: Config, replicates: int = 5, sizes: Sequence[int] | None = None, method: str = "random",
                  path: str | Path | None = None, resume: bool = False, data: ImageData | None = None,
                  progress: bool = True) -> NoiseFloor:
    """Train ``replicates`` task models (as ``method`` trains them: with its Ranker if it has one) on one
    fixed labeled set at each of ``sizes`` (default: the sizes of ``config``'s cycles) and evaluate each.

    Replicate ``k`` at size ``s`` is seeded by ``derive_seed(seed, dataset, "noise", method, s, k)``; the
    labeled sets are the first ``s`` indices of one random order of the pool (``derive_seed(seed,
    dataset, "noise")``), so they are nested and the same for every method and schedule. With ``path``
    the measurement is written there after every training (atomically); an existing file is continued
    when ``resume`` (same configuration, method and sizes only) and refused otherwise.
    """
    if not isinstance(replicates, int) or isinstance(replicates, bool) or not 2 <= replicates <= 10_000:
        raise ValueError(f"replicates must be an integer from 2 to 10000 (a spread needs two), got {replicates!r}")
    config = config.replace(methods=(method,))
    check_names(config)
    strategy = get_strategy(method)
    device = config.resolved_device()
    data = prepare_data(config, device) if data is None else data.to(device)
    sizes = sorted(set(labeled_sizes(config) if sizes is None else sizes))
    bad = [s for s in sizes if not isinstance(s, int) or isinstance(s, bool) or not 2 <= s <= data.train_size]
    if bad:
        raise ValueError(f"labeled sizes must be integers from 2 to the pool's {data.train_size} images, got {bad}")
    indices_seed, order = _nested_sets(config, data.train_size, sizes)
    noise = _open(config, data, method, replicates, sizes, indices_seed, path, resume)
    augmenter = make_augmenter(config, data)
    runtime = Runtime.resolve(config, device)
    criterion = ranker_objective_loss(strategy.ranker_objective, config.ranker_margin)
    for level in noise.levels:
        labeled = order[:level.size].to(device)
        todo = range(len(level.accuracies), replicates)
        for k in progress_bar(todo, desc=f"{method} at {level.size} labeled", disable=not progress):
            tic = time.perf_counter()
            seed = derive_seed(config.seed, config.dataset, "noise", method, level.size, k)
            torch.manual_seed(seed)
            generator = torch.Generator(device=device).manual_seed(seed)
            task = build_task_model(config, data, strategy.trains_ranker, device)
            train_task_model(task, data, labeled, config, augmenter, generator, criterion, False)
            level.accuracies.append(evaluate(task, data, augmenter, config.eval_batch_size, runtime))
            level.seeds.append(seed)
            level.wall_time_s = round(level.wall_time_s + time.perf_counter() - tic, 3)
            if path is not None:
                atomic_write_text(Path(path), json.dumps(noise.to_dict(), indent=1) + "\n")
    return noise


def _open(config: Config, data: ImageData, method: str, replicates: int, sizes: Sequence[int], indices_seed: int,
          path: str | Path | None, resume: bool) -> NoiseFloor:
    fresh = NoiseFloor(data.name, config.preset, method, replicates, config.to_dict(),
                       [NoiseLevel(s, *_steps(config, s), indices_seed, [], []) for s in sizes])
    if path is None or not Path(path).exists():
        return fresh
    if not resume:
        raise FileExistsError(f"{path} already exists; pass --resume to continue it, or choose another --out")
    stored = read_noise(path)
    problems = [line for line in config_diff(stored.config, fresh.config) if not line.startswith("methods:")]
    if stored.method != method:
        problems.append(f"method: the file has {stored.method!r}, this command has {method!r}")
    if [lv.size for lv in stored.levels] != list(sizes):
        problems.append(f"sizes: the file has {[lv.size for lv in stored.levels]}, this command has {list(sizes)}")
    if stored.replicates > replicates:
        problems.append(f"replicates: the file has {stored.replicates}, this command has {replicates} (it can grow)")
    if problems:
        raise ValueError(f"{path} was measured differently, so it cannot be resumed by this command: "
                         + "; ".join(problems))
    stored.replicates = replicates
    stored.config = fresh.config  # only the execution fields may differ
    return stored


def read_noise(path: str | Path) -> NoiseFloor:
    """Read a file written by :func:`measure_noise` (a directory means its ``noise.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / NOISE_NAME
    data = read_document(path, FORMAT, VERSION, "noise file")
    try:
        levels = [NoiseLevel(int(lv["size"]), int(lv["epochs"]), int(lv["steps"]), int(lv["indices_seed"]),
                             [int(s) for s in lv["seeds"]], [float(a) for a in lv["accuracies"]],
                             float(lv.get("wall_time_s", 0.0))) for lv in data["sizes"]]
        return NoiseFloor(str(data["dataset"]), str(data["preset"]), str(data["method"]), int(data["replicates"]),
                          dict(data["config"]), levels)
    except (KeyError, TypeError, ValueError) as error:
        raise ResultsFileError(f"{path} is malformed ({type(error).__name__}: {error}); it was left untouched") \
            from None
