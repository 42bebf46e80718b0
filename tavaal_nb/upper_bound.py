"""The full-pool upper bound: the task model trained on every image of the training pool.

Active learning labels a part of the pool; a plain task model (no Ranker) trained on all
of it, with the run's schedule, shows how far the learning curves could rise. The result
is a small JSON document that reports and learning-curve views draw as a horizontal line.

File layout (``format: tavaal-nb/upper-bound``, ``version: 1``)::

    dataset        the dataset's name
    preset         the configuration's preset
    train_size     images trained on (the whole pool)
    test_accuracy  mean test accuracy in percent over the trials
    accuracies     one test accuracy (percent) per trial
    seeds          the seed of each trial
    config         the Config as a dict
    device, torch, wall_time_s
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from tavaal_nb.config import Config
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.experiment_data import make_augmenter, prepare_data
from tavaal_nb.files import atomic_write_text
from tavaal_nb.results import Results, ResultsFileError, read_document
from tavaal_nb.seeding import derive_seed
from tavaal_nb.training import plain_test_accuracy

__all__ = ["UpperBound", "UPPER_BOUND_NAME", "FORMAT", "VERSION", "train_upper_bound", "write_upper_bound",
           "read_upper_bound", "upper_bound_path", "find_upper_bound"]

FORMAT = "tavaal-nb/upper-bound"
VERSION = 1
UPPER_BOUND_NAME = "upper_bound.json"
"""The file name the command line uses inside an output directory."""


@dataclass
class UpperBound:
    """Test accuracy (percent) of plain task models trained on the whole pool, one per trial."""

    dataset: str
    preset: str
    train_size: int
    accuracies: list[float]
    seeds: list[int]
    config: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    torch: str = ""
    wall_time_s: float = 0.0

    @property
    def test_accuracy(self) -> float:
        """The mean over the trials (the height of the line)."""
        return sum(self.accuracies) / len(self.accuracies)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **asdict(self), "test_accuracy": self.test_accuracy}


def train_upper_bound(config: Config, path: str | Path | None = None, trials: int = 1,
                      data: ImageData | None = None, progress: bool = True) -> UpperBound:
    """Train ``trials`` plain task models on the whole pool of ``config``'s dataset (its
    ``train_limit`` applies) with its schedule; evaluate each on the test set.

    Trial ``k`` is seeded by ``derive_seed(seed, dataset, "upper-bound", k)``. With ``path`` the
    result is written there atomically (:func:`write_upper_bound`).
    """
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    device = config.resolved_device()
    data = prepare_data(config, device) if data is None else data.to(device)
    augmenter = make_augmenter(config, data)
    everything = torch.arange(data.train_size, device=device)
    started = time.perf_counter()
    seeds = [derive_seed(config.seed, config.dataset, "upper-bound", k) for k in range(trials)]
    accuracies = [plain_test_accuracy(config, data, everything, augmenter, seed, progress) for seed in seeds]
    bound = UpperBound(data.name, config.preset, data.train_size, accuracies, seeds, config.to_dict(), str(device),
                       torch.__version__, round(time.perf_counter() - started, 3))
    if path is not None:
        write_upper_bound(bound, path)
    return bound


def write_upper_bound(bound: UpperBound, path: str | Path) -> Path:
    """Write ``bound`` as JSON to ``path`` atomically (readers see the old or the new file)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(bound.to_dict(), indent=1) + "\n")
    return path


def read_upper_bound(path: str | Path) -> UpperBound:
    """Read a file written by :func:`write_upper_bound`; a directory means its ``upper_bound.json``.

    Raises :class:`tavaal_nb.results.ResultsFileError` for a file of another kind or version.
    """
    path = Path(path)
    if path.is_dir():
        path = path / UPPER_BOUND_NAME
    data = read_document(path, FORMAT, VERSION, "upper-bound file")
    problem = _upper_bound_problem(data)
    if problem is not None:
        raise ResultsFileError(f"{path} is malformed: {problem}; it was left untouched")
    names = UpperBound.__dataclass_fields__
    return UpperBound(**{key: value for key, value in data.items() if key in names})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _upper_bound_problem(data: dict[str, Any]) -> str | None:
    """The first field of an upper-bound document that is missing or of the wrong type, or None."""
    checks = {"dataset": (lambda v: isinstance(v, str) and bool(v), "a dataset name"),
              "preset": (lambda v: isinstance(v, str), "a preset name"),
              "train_size": (lambda v: type(v) is int and v >= 0, "an integer >= 0"),
              "accuracies": (lambda v: isinstance(v, list) and bool(v) and all(_is_number(x) for x in v),
                             "a non-empty list of numbers"),
              "seeds": (lambda v: isinstance(v, list) and all(type(x) is int for x in v), "a list of integers")}
    for name, (valid, expected) in checks.items():
        if name not in data:
            return f"it lacks its '{name}' field"
        if not valid(data[name]):
            return f"'{name}' must be {expected}, got {type(data[name]).__name__}"
    optional = {"config": (dict, "an object"), "device": (str, "a string"), "torch": (str, "a string")}
    for name, (kind, expected) in optional.items():
        if name in data and not isinstance(data[name], kind):
            return f"'{name}' must be {expected}, got {type(data[name]).__name__}"
    if "wall_time_s" in data and not _is_number(data["wall_time_s"]):
        return f"'wall_time_s' must be a number, got {type(data['wall_time_s']).__name__}"
    return None


_warned: set[Path] = set()
"""Malformed upper-bound files already named in a warning (each is named once per process)."""


def upper_bound_path(out: str | Path, overwrite: bool = False) -> Path:
    """Where the command line writes an upper bound: ``out/upper_bound.json``.

    An existing file is refused unless ``overwrite``; then it is moved aside to a uniquely
    named backup (``upper_bound.json.replaced-<time>[-k]``) first.
    """
    path = Path(out) / UPPER_BOUND_NAME
    if not path.exists():
        return path
    if not overwrite:
        raise FileExistsError(f"{path} already exists; pass --overwrite to replace it (the old file is kept as a "
                              f"backup), or choose another --out directory")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{UPPER_BOUND_NAME}.replaced-{stamp}")
    k = 1
    while backup.exists():
        backup = path.with_name(f"{UPPER_BOUND_NAME}.replaced-{stamp}-{k}")
        k += 1
    path.rename(backup)
    print(f"--overwrite: the previous upper bound was moved to {backup}")
    return path


def find_upper_bound(results: Sequence[Results]) -> UpperBound | None:
    """The upper bound stored beside the results: an ``upper_bound.json`` in the directory of a
    results file or in one of the two above it (``DIR/upper_bound.json`` beside ``DIR/<method>/results.json``
    or a sweep's ``DIR/<method>/trial-k/results.json``)
    whose dataset is the results' dataset; None when there is none."""
    for result in results:
        if result.path is None:
            continue
        for folder in list(result.path.parents)[:3]:
            candidate = folder / UPPER_BOUND_NAME
            if candidate.is_file():
                try:
                    bound = read_upper_bound(candidate)
                except ResultsFileError as error:  # malformed: named once, skipped (the views still draw)
                    if candidate not in _warned:
                        _warned.add(candidate)
                        print(f"warning: {error}; its upper bound is not drawn", file=sys.stderr)
                    continue
                if bound.dataset == result.dataset.get("name"):
                    return bound
    return None
