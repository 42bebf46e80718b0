"""The sandbox's query strategies, and how any scoring function becomes one.

A strategy looks at a :class:`SandboxContext` (the current MLP's view of the candidates and of the
labeled points) and returns the positions, among the candidates, of the ``budget`` points to label.
Most are a score per candidate plus "take the highest" (or lowest): :func:`scoring_strategy`
turns any ``fn(context) -> scores`` into one, which is how a learner's own function joins the
sandbox. Entropy and margin score with the functions the package's strategies use
(:mod:`tavaal_nb.strategies.scores`). Core-set is not a score: it picks greedily (k-center), with
the package's :func:`~tavaal_nb.strategies.coreset.k_center_greedy`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tavaal_nb.classroom.sandbox.learner import adam
from tavaal_nb.losses import discriminator_loss
from tavaal_nb.strategies.base import highest, lowest
from tavaal_nb.strategies.coreset import k_center_greedy
from tavaal_nb.strategies.scores import entropy_scores, margin_scores

__all__ = [
    "SandboxContext", "SandboxStrategy", "scoring_strategy", "discriminator_scores", "SANDBOX_STRATEGIES",
    "resolve_strategy",
]


@dataclass
class SandboxContext:
    """What a sandbox strategy may look at; every per-candidate tensor has one row per candidate.

    ``features`` (m, 2): the candidates' coordinates; ``probabilities`` (m, C): the MLP's softmax;
    ``embedding`` (m, h): its last hidden layer; ``predicted_loss`` (m,): its loss-prediction head
    (trained with eq. 1 only for a strategy with ``trains_loss_head``; None otherwise).
    ``labeled_*``: the same for the labeled points, with their ``labeled_labels``.
    ``candidates``: pool indices of the candidates; ``labeled``: the pool's labeled mask.
    ``generator``: a seeded CPU generator for any randomness a strategy needs.
    """

    features: Tensor
    probabilities: Tensor
    embedding: Tensor
    predicted_loss: Tensor | None
    labeled_features: Tensor
    labeled_embedding: Tensor
    labeled_labels: Tensor
    candidates: Tensor
    labeled: Tensor
    budget: int
    generator: torch.Generator
    cycle: int = 0


@dataclass(frozen=True)
class SandboxStrategy:
    """A named rule: ``choose(context)`` returns candidate positions (at most ``context.budget``).

    ``trains_loss_head``: the MLP's loss-prediction head is trained (eq. 1) for this strategy,
    as the package trains a Ranker only for the methods that use one."""

    name: str
    choose: Callable[[SandboxContext], Tensor]
    help: str = ""
    trains_loss_head: bool = False

    def __call__(self, context: SandboxContext) -> Tensor:
        positions = torch.as_tensor(self.choose(context), dtype=torch.long).reshape(-1)
        if positions.numel() > context.budget or positions.unique().numel() != positions.numel():
            raise ValueError(f"strategy {self.name!r} chose {positions.numel()} positions (with repeats: "
                             f"{positions.unique().numel() != positions.numel()}); it may choose at most "
                             f"budget={context.budget}, each once")
        return positions


def scoring_strategy(fn: Callable[[SandboxContext], Tensor], name: str | None = None, prefer: str = "highest",
                     help: str = "", trains_loss_head: bool = False) -> SandboxStrategy:
    """A strategy that takes the ``budget`` candidates with the highest (or, ``prefer="lowest"``,
    lowest) ``fn(context)``, ties broken by position. The sandbox twin of the package's
    ``register_strategy(fn, name=..., prefer=...)``; ``name`` defaults to ``fn.__name__``."""
    if prefer not in ("highest", "lowest"):
        raise ValueError(f"prefer must be 'highest' or 'lowest', got {prefer!r}")
    label = name or getattr(fn, "__name__", "").replace("_", "-")
    if not label or label == "<lambda>":
        raise ValueError("give the strategy a name (name=...): the function has none")
    chooser = highest if prefer == "highest" else lowest

    def choose(context: SandboxContext) -> Tensor:
        scores = torch.as_tensor(fn(context)).float().reshape(-1)
        if scores.numel() != context.candidates.numel():
            raise ValueError(f"{label} returned {scores.numel()} scores for {context.candidates.numel()} "
                             "candidates; return one score per candidate")
        return chooser(scores, min(context.budget, scores.numel()))

    return SandboxStrategy(label, choose, help or f"{prefer} {label} score", trains_loss_head)


def discriminator_scores(labeled: Tensor, candidates: Tensor, generator: torch.Generator, steps: int = 60,
                         hidden: int = 32, lr: float = 0.01) -> Tensor:
    """VAAL's selection in miniature: train a discriminator to tell labeled (1) from unlabeled (0)
    points with **eq. 8** and return ``D`` on the candidates (eq. 9 labels the lowest: the points
    that look least like the labeled set). Here D sees the 2-D points themselves, not a VAE's latents."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(labeled.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                              nn.Linear(hidden, 1))
    optimizer = adam(model.parameters(), lr)
    for _ in range(steps):
        loss = discriminator_loss(model(labeled).reshape(-1), model(candidates).reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return torch.sigmoid(model(candidates).reshape(-1))


def _random(context: SandboxContext) -> Tensor:
    return torch.rand(context.candidates.numel(), generator=context.generator)


def _predicted_loss(context: SandboxContext) -> Tensor:
    if context.predicted_loss is None:
        raise ValueError("scoring by predicted loss needs the MLP's loss-prediction head: make the strategy "
                         "with trains_loss_head=True")
    return context.predicted_loss


def _coreset(context: SandboxContext) -> Tensor:
    positions, _ = k_center_greedy(context.labeled_embedding, context.embedding, context.budget)
    return positions


SANDBOX_STRATEGIES: dict[str, SandboxStrategy] = {
    strategy.name: strategy for strategy in (
        scoring_strategy(_random, "random", help="uniform random picks"),
        scoring_strategy(lambda c: entropy_scores(c.probabilities), "entropy", help="highest predictive entropy"),
        scoring_strategy(lambda c: margin_scores(c.probabilities), "margin", "lowest",
                         help="smallest gap between the two most probable classes"),
        SandboxStrategy("coreset", _coreset, "k-center greedy on the MLP's last hidden layer"),
        scoring_strategy(lambda c: discriminator_scores(c.labeled_features, c.features, c.generator), "vaal", "lowest",
                         help="lowest D of a labeled-vs-unlabeled discriminator (eqs. 8-9) on the points"),
        scoring_strategy(_predicted_loss, "lloss", help="highest predicted loss (head trained with eq. 1)",
                         trains_loss_head=True),
    )
}
"""The built-in sandbox strategies by name."""


def resolve_strategy(strategy: str | SandboxStrategy | Callable[[SandboxContext], Tensor]) -> SandboxStrategy:
    """A built-in's name, a :class:`SandboxStrategy`, or a scoring function (highest scores win)."""
    if isinstance(strategy, SandboxStrategy):
        return strategy
    if isinstance(strategy, str):
        if strategy not in SANDBOX_STRATEGIES:
            raise ValueError(f"unknown sandbox strategy {strategy!r}; valid: {', '.join(SANDBOX_STRATEGIES)}")
        return SANDBOX_STRATEGIES[strategy]
    if callable(strategy):
        return scoring_strategy(strategy)
    raise ValueError(f"a strategy is a name ({', '.join(SANDBOX_STRATEGIES)}), a SandboxStrategy or a function "
                     f"context -> scores, got {type(strategy).__name__}")
