"""Where every random draw of a run comes from: :func:`derive_seed` and the seeds of one cycle.

A comparison between methods is only as fair as the random draws they share. With
``Config.seeding = "shared"`` (the default: common random numbers) every method of a trial gets, at
each cycle, the same task-model and Ranker initialisation, the same batch order and augmentation
draws, and the same candidate subset as far as their pools allow (:func:`candidate_keys`); a method's
own seed enters only what its strategy draws (random sampling's picks, k-means++ seeds, the VAE's
initialisation and batches). So at cycle 0, where every method has the same labeled set, methods that
train the same model train it bit for bit alike, and later differences come from what they picked.
``"per-method"`` seeds everything from the method (the package before 0.2; results files written then
resume with it, :data:`tavaal_nb.stored_config.VALUE_BEFORE_FIELD_EXISTED`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from tavaal_nb.config import Config

__all__ = ["derive_seed", "CycleSeeds", "cycle_seeds", "candidate_keys", "initial_seed"]


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, stable across Python processes and versions."""
    digest = hashlib.sha256(repr(tuple(parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def initial_seed(config: Config, trial: int) -> int:
    """The seed of a trial's initial labeled set: shared by every method of the trial, in either scheme."""
    return derive_seed(config.seed, config.dataset, trial)


@dataclass(frozen=True)
class CycleSeeds:
    """The seeds of one (method, trial, cycle).

    ``training``: the task model's and Ranker's initialisation (the global RNG), batch order and
    augmentation (a generator on the data's device), and Fig. 4's plain retraining (derived from it).
    ``candidates``: the candidate subset. ``strategy``: everything the strategy draws. ``shared``
    tells which scheme made them (under ``per-method`` all three are the method's cycle seed, and the
    candidates are drawn by the strategy's generator before the strategy runs, as before 0.2).
    """

    training: int
    candidates: int
    strategy: int
    shared: bool


def cycle_seeds(config: Config, method: str, trial: int, cycle: int) -> CycleSeeds:
    """The seeds of ``method``'s cycle ``cycle`` in ``trial`` under ``config.seeding``."""
    own = derive_seed(config.seed, config.dataset, method, trial, cycle)
    if config.seeding == "per-method":
        return CycleSeeds(own, own, own, shared=False)
    common = derive_seed(config.seed, config.dataset, trial, cycle)
    return CycleSeeds(common, derive_seed(common, "candidates"), derive_seed(own, "strategy"), shared=True)


def candidate_keys(size: int, seed: int) -> Tensor:
    """One uniform key per pool index (CPU, float64), drawn from ``seed``.

    Under shared seeding a cycle's candidates are the ``subset`` unlabeled indices with the smallest
    keys (:meth:`tavaal_nb.data.pool.ActivePool.candidates_by_keys`): every method draws the same keys,
    so two methods whose pools differ in a few images score nearly the same candidates (a uniform
    random subset of each method's own unlabeled pool, coupled across methods).
    """
    return torch.rand(size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
