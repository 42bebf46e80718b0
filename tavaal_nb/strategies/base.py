"""What every selection strategy gets and returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import Tensor

from tavaal_nb.config import Config
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.errors import SelectionError
from tavaal_nb.schema import Field
from tavaal_nb.strategies.params import StrategyParam
from tavaal_nb.training import Runtime, TaskModel, infer

__all__ = ["QueryContext", "Selection", "Strategy", "select_by_scores", "check_selection", "expected_count", "lowest", "highest", "PREFERENCES"]


@dataclass
class QueryContext:
    """Everything a strategy may look at to choose ``budget`` of the ``candidates``.

    ``labeled`` and ``candidates`` are pool indices on the data's device; the task
    model is trained and frozen (eval mode). ``generator`` is a CPU generator seeded
    for this (trial, method, cycle), ``device_generator`` one on the data's device.
    ``params`` holds every parameter the strategy declares, the run's value or the default
    (:mod:`tavaal_nb.strategies.params`; read-only).
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
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def device(self) -> torch.device:
        return self.candidates.device

    @property
    def runtime(self) -> Runtime:
        return Runtime.resolve(self.config, self.device)

    def infer(self, indices: Tensor) -> dict[str, Tensor]:
        """The frozen task model's outputs on the pool images at ``indices`` (un-augmented, eval mode):
        ``logits``, penultimate ``embedding`` and, when it has a Ranker, its predicted loss ``rank``,
        one row per index, float32 on the device (:func:`tavaal_nb.training.infer`)."""
        return infer(self.task, self.data.train_images[indices], self.augmenter, self.config.eval_batch_size,
                     self.runtime)


@dataclass
class Selection:
    """A strategy's answer: chosen pool indices and one score per candidate.

    ``scores[k]`` belongs to ``candidates[k]``; the loop stores them for every strategy (the
    cycle record's ``candidate_scores``). ``strategy_data`` is what the strategy wants kept in
    the results file (the record's ``strategy_data``): JSON values or tensors, stored under the
    strategy's own keys, which the loop never reads (the VAAL family's ``discriminator_scores``
    ``D(mu, r)``, ``selection_threshold``, ``vae_loss`` and ``discriminator_loss``). ``extras``
    carries method-specific arrays (latent means, rank variables) for the views, in memory only.
    """

    indices: Tensor
    scores: Tensor
    candidates: Tensor
    strategy_data: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


def expected_count(budget: int, candidates: Tensor) -> int:
    """How many indices a query must return: the budget, or every candidate when fewer remain."""
    return min(int(budget), int(candidates.numel()))


def check_selection(selection: Any, candidates: Tensor, budget: int, method: str, cycle: int) -> Tensor:
    """The indices of a strategy's ``selection`` (CPU, int64) once checked; else a :class:`SelectionError`.

    Valid: a :class:`Selection` whose ``indices`` are an integer tensor of exactly
    ``min(budget, len(candidates))`` distinct pool indices, every one among ``candidates``
    (the loop's own copy of the query's candidates: unlabeled, in range), and whose ``scores`` are a
    real tensor of one score per candidate (stored for every strategy). The error names the
    method and the cycle, what was wrong and what is valid.
    """
    need = expected_count(budget, candidates)
    valid = f"it must return exactly {need} distinct candidate indices"
    where = f"method {method!r} returned"
    if not isinstance(selection, Selection):
        raise SelectionError(f"{where} {type(selection).__name__} in cycle {cycle}, not a Selection; {valid}")
    indices = selection.indices
    if not isinstance(indices, Tensor):
        raise SelectionError(f"{where} indices of type {type(indices).__name__} in cycle {cycle}; {valid} "
                             "(an integer tensor)")
    if indices.dtype.is_floating_point or indices.dtype.is_complex or indices.dtype == torch.bool:
        raise SelectionError(f"{where} {str(indices.dtype).replace('torch.', '')} indices in cycle {cycle}; "
                             f"{valid} (an integer tensor)")
    indices = indices.detach().reshape(-1).to("cpu", torch.long)
    if indices.numel() != need:
        raise SelectionError(f"{where} {indices.numel()} indices in cycle {cycle}; {valid}")
    if torch.unique(indices).numel() != need:
        raise SelectionError(f"{where} a repeated index in cycle {cycle}; {valid}")
    outside = indices[~torch.isin(indices, candidates.detach().reshape(-1).cpu())]
    if outside.numel():
        raise SelectionError(f"{where} {outside.numel()} index(es) that are not candidates of cycle {cycle} "
                             f"(e.g. {outside[:5].tolist()}: out of range, already labeled or not offered); {valid}")
    scores = selection.scores
    if not isinstance(scores, Tensor) or scores.dtype.is_complex or scores.numel() != candidates.numel():
        shape = f"{scores.numel()} scores" if isinstance(scores, Tensor) else f"scores of type {type(scores).__name__}"
        raise SelectionError(f"{where} {shape} in cycle {cycle}; its scores must be a real tensor holding one score "
                             f"per candidate ({candidates.numel()}), in the order of the candidates")
    return indices


def lowest(scores: Tensor, k: int) -> Tensor:
    """Positions of the ``k`` lowest scores (ties broken by position, deterministically)."""
    return torch.argsort(scores, stable=True)[:k]


def highest(scores: Tensor, k: int) -> Tensor:
    """Positions of the ``k`` highest scores (ties broken by position, deterministically)."""
    return torch.argsort(-scores, stable=True)[:k]


PREFERENCES = ("highest", "lowest")
"""Which end of the scores :func:`select_by_scores` takes."""


def select_by_scores(context: QueryContext, scores: Tensor, prefer: str = "highest", *,
                     strategy_data: dict[str, Any] | None = None,
                     extras: dict[str, Any] | None = None) -> Selection:
    """Choose the ``context.budget`` candidates with the highest (or lowest) scores (stable ties).

    ``scores`` holds one number per candidate, in the order of ``context.candidates``
    (on any device); ``prefer`` is ``"highest"`` or ``"lowest"``. ``strategy_data`` and ``extras``
    are passed on to the :class:`Selection` (stored in the results file, and in memory only).
    """
    if prefer not in PREFERENCES:
        raise ValueError(f"prefer must be one of {', '.join(PREFERENCES)}, got {prefer!r}")
    scores = scores.float().reshape(-1)
    if scores.numel() != context.candidates.numel():
        raise ValueError(f"expected one score per candidate ({context.candidates.numel()}), got {scores.numel()}")
    chooser = highest if prefer == "highest" else lowest
    positions = chooser(scores, min(context.budget, scores.numel()))
    return Selection(
        indices=context.candidates[positions.to(context.candidates.device)].cpu(),
        scores=scores.cpu(),
        candidates=context.candidates.cpu(),
        strategy_data=strategy_data or {},
        extras=extras or {},
    )


class Strategy:
    """A query strategy: set ``name`` and ``help``, implement :meth:`select`.

    ``ranker_objective`` is the ranking loss the task model's Ranker trains with while
    this strategy is used: None (no Ranker is built; baselines are not given one, unlike
    the public code), ``"margin"`` (eq. 1, Learning Loss) or ``"bce"`` (eq. 4, TA-VAAL);
    see :func:`tavaal_nb.losses.ranker_objective_loss`. ``params`` declares the strategy's parameters
    (:class:`~tavaal_nb.strategies.params.StrategyParam`); :meth:`select` reads them as ``context.params``.
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    ranker_objective: ClassVar[str | None] = None
    data_fields: ClassVar[Mapping[str, Field]] = {}
    """The rules of this strategy's ``strategy_data`` keys (:class:`~tavaal_nb.schema.Field` by key): checked when
    a cycle record is built and when a results file is read; keys without a rule are only checked for being JSON."""
    params: ClassVar[tuple[StrategyParam, ...]] = ()

    @property
    def trains_ranker(self) -> bool:
        """Whether the task model gets a Ranker (eq. 5) for this strategy."""
        return self.ranker_objective is not None

    def select(self, context: QueryContext) -> Selection:
        """Choose ``context.budget`` of ``context.candidates``; most strategies end in :func:`select_by_scores`.

        The loop checks the answer with :func:`check_selection` (exactly ``min(budget, len(candidates))``
        distinct candidate indices, an integer tensor) before it labels anything. A plug-in's
        ``context.data`` and ``context.augmenter`` are private copies, and every strategy's
        ``labeled`` and ``candidates`` are: writing into them changes no other method's records.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement select(context)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
