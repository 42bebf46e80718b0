"""The sandbox's active-learning loop: train the MLP, measure, let a strategy pick, repeat.

The same loop as the package's (:func:`tavaal_nb.loop.run_experiment`) at toy scale: cycle ``k``
trains a fresh MLP on the labeled set ``L_k``, records its accuracy on the balanced test set and
its class probabilities on a coarse grid (for the decision boundary), and asks the strategy for
``budget`` candidates, which join ``L_{k+1}``. The initial set depends on the pool and the seed
only, so strategies run with the same seed start from the same points (a paired comparison).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from tavaal_nb.classroom.sandbox.learner import SandboxMLP, single_thread, train_mlp
from tavaal_nb.classroom.sandbox.pool import ToyPool
from tavaal_nb.classroom.sandbox.strategies import SandboxContext, SandboxStrategy, resolve_strategy

__all__ = ["SandboxRun", "initial_labeled", "sandbox_context", "run_sandbox", "compare_strategies"]


@dataclass
class SandboxRun:
    """What a sandbox run recorded, one entry per cycle; :meth:`advance` runs more cycles.

    ``labeled[k]``: pool indices labeled during cycle ``k``; ``picks[k]``: the pool indices the
    strategy chose at its end; ``accuracy[k]``: test accuracy (%) of cycle ``k``'s MLP;
    ``grid_probabilities[k]``: its softmax on the ``grid_size x grid_size`` points of
    ``grid_axes`` (row-major, y outer).
    """

    strategy: SandboxStrategy
    pool: ToyPool
    budget: int
    seed: int
    steps: int
    grid_axes: tuple[Tensor, Tensor]
    labeled: list[Tensor] = field(default_factory=list)
    picks: list[Tensor] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    grid_probabilities: list[Tensor] = field(default_factory=list)
    next_labeled: Tensor | None = None

    @property
    def name(self) -> str:
        return self.strategy.name

    @property
    def cycles(self) -> int:
        return len(self.accuracy)

    @property
    def labeled_sizes(self) -> list[int]:
        return [int(indices.numel()) for indices in self.labeled]

    @property
    def exhausted(self) -> bool:
        """Every pool point is labeled: no further cycle can pick anything."""
        return self.next_labeled is not None and self.next_labeled.numel() == self.pool.size

    def pick_class_counts(self, cycle: int | None = None) -> list[int]:
        """Class counts of the picks of ``cycle``, or of every cycle's picks together (``None``)."""
        picks = torch.cat(self.picks) if cycle is None else self.picks[cycle]
        return self.pool.class_counts(picks)

    def advance(self, cycles: int) -> SandboxRun:
        """Run cycles until ``cycles`` are recorded (or the pool is exhausted); returns ``self``."""
        with single_thread():
            self._advance(cycles)
        return self

    def _advance(self, cycles: int) -> None:
        xs, ys = self.grid_axes
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
        pool, strategy = self.pool, self.strategy
        if self.next_labeled is None:
            raise ValueError("this SandboxRun has no labeled set to start from: make it with run_sandbox(...) "
                             "(or pass next_labeled=, pool indices)")
        while self.cycles < cycles and not self.exhausted:
            cycle, labeled = self.cycles, self.next_labeled
            model = train_mlp(pool.x[labeled], pool.y[labeled], pool.num_classes, steps=self.steps,
                              train_loss_head=strategy.trains_loss_head, seed=self.seed * 1009 + cycle)
            with torch.no_grad():
                accuracy = (model(pool.test_x)[0].argmax(dim=1) == pool.test_y).float().mean().item()
                self.grid_probabilities.append(torch.softmax(model(grid)[0], dim=1))
            generator = torch.Generator().manual_seed(self.seed * 7919 + cycle)
            budget = min(self.budget, pool.size - labeled.numel())
            context = sandbox_context(model, pool, labeled, budget, generator, cycle, strategy.trains_loss_head)
            picks = context.candidates[strategy(context)]
            self.labeled.append(labeled)
            self.picks.append(picks)
            self.accuracy.append(100.0 * accuracy)
            self.next_labeled = torch.cat([labeled, picks]).sort().values


def initial_labeled(pool: ToyPool, initial: int, seed: int = 0) -> Tensor:
    """``initial`` pool indices drawn uniformly (sorted), the same for every strategy given the seed."""
    if not 1 <= initial < pool.size:
        raise ValueError(f"initial must be between 1 and the pool size - 1 ({pool.size - 1}), got {initial}")
    return torch.randperm(pool.size, generator=torch.Generator().manual_seed(seed))[:initial].sort().values


def sandbox_context(model: SandboxMLP, pool: ToyPool, labeled: Tensor, budget: int, generator: torch.Generator,
                    cycle: int = 0, loss_head_trained: bool = False) -> SandboxContext:
    """The trained ``model``'s view of ``pool`` given the labeled indices: what a strategy sees."""
    mask = torch.zeros(pool.size, dtype=torch.bool)
    mask[labeled] = True
    candidates = torch.nonzero(~mask).reshape(-1)
    with torch.no_grad():
        logits, embedding, predicted_loss = model(pool.x)
    return SandboxContext(
        features=pool.x[candidates], probabilities=torch.softmax(logits[candidates], dim=1),
        embedding=embedding[candidates], predicted_loss=predicted_loss[candidates] if loss_head_trained else None,
        labeled_features=pool.x[labeled], labeled_embedding=embedding[labeled], labeled_labels=pool.y[labeled],
        candidates=candidates, labeled=mask, budget=budget, generator=generator, cycle=cycle)


def run_sandbox(pool: ToyPool, strategy: str | SandboxStrategy | Callable[[SandboxContext], Tensor] = "random",
                initial: int = 10, budget: int = 10, cycles: int = 8, seed: int = 0, steps: int = 100,
                grid_size: int = 40) -> SandboxRun:
    """Run ``cycles`` cycles of active learning on ``pool`` with ``strategy`` (a built-in's name,
    a :class:`SandboxStrategy`, or a scoring function). Deterministic for a seed; ``cycles=0``
    prepares the run without training (call ``.advance(k)`` later)."""
    strategy = resolve_strategy(strategy)
    if budget < 1 or cycles < 0 or steps < 1 or grid_size < 2:
        raise ValueError(f"need budget >= 1, cycles >= 0, steps >= 1 and grid_size >= 2, got budget={budget}, "
                         f"cycles={cycles}, steps={steps}, grid_size={grid_size}")
    x0, x1, y0, y1 = pool.bounds()
    axes = (torch.linspace(x0, x1, grid_size), torch.linspace(y0, y1, grid_size))
    run = SandboxRun(strategy, pool, budget, seed, steps, axes, next_labeled=initial_labeled(pool, initial, seed))
    return run.advance(cycles)


def compare_strategies(pool: ToyPool, strategies: Sequence[str | SandboxStrategy | Callable[[SandboxContext], Tensor]],
                       seeds: Sequence[int] = (0,), **options: Any) -> dict[str, list[SandboxRun]]:
    """One run per (strategy, seed) with the same settings (``options`` of :func:`run_sandbox`):
    ``{name: [run per seed]}``."""
    runs: dict[str, list[SandboxRun]] = {}
    for strategy in strategies:
        resolved = resolve_strategy(strategy)
        runs[resolved.name] = [run_sandbox(pool, resolved, seed=seed, **options) for seed in seeds]
    return runs
