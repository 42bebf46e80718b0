"""What every selection strategy gets and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from tavaal_nb.config import Config
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.losses import margin_ranking_loss, ranker_loss
from tavaal_nb.training import RankLoss, Runtime, TaskModel

__all__ = ["QueryContext", "Selection", "Strategy", "lowest", "highest", "select_by_scores"]


@dataclass
class QueryContext:
    """Everything a strategy may look at to choose ``budget`` of the ``candidates``.

    ``labeled`` and ``candidates`` are pool indices on the data's device; the task
    model is trained and frozen (eval mode). ``generator`` is a CPU generator seeded
    for this (trial, method, cycle), ``device_generator`` one on the data's device.
    """

    config: Config
    data: ImageData
    augmenter: Augmenter
    task: TaskModel
    labeled: Tensor
    candidates: Tensor
    budget: int
    generator: torch.Generator
    device_generator: torch.Generator
    progress: bool = True
    cycle: int = 0

    @property
    def device(self) -> torch.device:
        return self.candidates.device

    @property
    def runtime(self) -> Runtime:
        return Runtime.resolve(self.config, self.device)


@dataclass
class Selection:
    """A strategy's answer: chosen pool indices and one score per candidate.

    ``scores[k]`` belongs to ``candidates[k]``; ``discriminator_scores`` holds
    ``D(mu, r)`` for VAAL/TA-VAAL and is None otherwise; ``extras`` carries
    method-specific arrays (latent means, rank variables, loss histories) for the views.
    """

    indices: Tensor
    scores: Tensor
    candidates: Tensor
    discriminator_scores: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def lowest(scores: Tensor, k: int) -> Tensor:
    """Positions of the ``k`` lowest scores (ties broken by position, deterministically)."""
    return torch.argsort(scores, stable=True)[:k]


def highest(scores: Tensor, k: int) -> Tensor:
    """Positions of the ``k`` highest scores (ties broken by position, deterministically)."""
    return torch.argsort(-scores, stable=True)[:k]


class Strategy:
    """A query strategy. Subclasses set ``name``, ``help`` and ``rank_loss`` and implement ``score``.

    ``rank_loss`` is the ranking loss its task model's Ranker trains with (None: no
    Ranker is trained, so baselines are not given one, unlike the public code).
    ``prefer`` says whether the ``lowest`` or ``highest`` scores are chosen.
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    rank_loss: ClassVar[str | None] = None
    prefer: ClassVar[str] = "highest"

    def ranking_loss(self, config: Config) -> RankLoss | None:
        if self.rank_loss == "margin":
            return lambda pred, target: margin_ranking_loss(pred, target, margin=config.margin)
        if self.rank_loss == "bce":
            return ranker_loss
        return None

    def score(self, context: QueryContext) -> tuple[Tensor, dict[str, Any]]:
        """One float score per candidate (on any device), plus extras."""
        raise NotImplementedError

    def select(self, context: QueryContext) -> Selection:
        scores, extras = self.score(context)
        scores = scores.float().reshape(-1)
        if scores.numel() != context.candidates.numel():
            raise RuntimeError(f"{self.name} returned {scores.numel()} scores for {context.candidates.numel()} candidates")
        budget = min(context.budget, scores.numel())
        chooser = lowest if self.prefer == "lowest" else highest
        positions = chooser(scores, budget)
        discriminator = extras.pop("discriminator_scores", None)
        return Selection(
            indices=context.candidates[positions.to(context.candidates.device)].cpu(),
            scores=scores.cpu(),
            candidates=context.candidates.cpu(),
            discriminator_scores=None if discriminator is None else discriminator.float().cpu(),
            extras=extras,
        )


PREFERENCES = ("highest", "lowest")


def select_by_scores(context: QueryContext, scores: Tensor, prefer: str = "highest", *,
                     discriminator_scores: Tensor | None = None,
                     extras: dict[str, Any] | None = None) -> Selection:
    """Choose the ``context.budget`` candidates with the highest (or lowest) scores (stable ties).

    ``scores`` holds one number per candidate, in the order of ``context.candidates``.
    """
    if prefer not in PREFERENCES:
        raise ValueError(f"prefer must be one of {PREFERENCES}, got {prefer!r}")
    scores = scores.reshape(-1)
    if scores.numel() != context.candidates.numel():
        raise ValueError(f"one score per candidate is needed: got {scores.numel()} scores for "
                         f"{context.candidates.numel()} candidates")
    chooser = highest if prefer == "highest" else lowest
    positions = chooser(scores, min(context.budget, scores.numel()))
    return Selection(
        indices=context.candidates[positions.to(context.candidates.device)].cpu(),
        scores=scores.float().cpu(),
        candidates=context.candidates.cpu(),
        discriminator_scores=None if discriminator_scores is None else discriminator_scores.float().cpu(),
        extras=extras or {},
    )
