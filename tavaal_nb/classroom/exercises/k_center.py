"""Checker for greedy k-center (core-set, Sener & Savarese 2018), the picking rule the learner writes in the
sandbox (notebook 01): graded step by step, since every farthest candidate is a valid next pick."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
from torch import Tensor

from tavaal_nb.classroom.exercises.harness import (
    Case,
    call_learner,
    run_cases,
)
from tavaal_nb.classroom.exercises.sampling import picked_positions
from tavaal_nb.strategies import coreset

__all__ = ["check_k_center", "reference_k_center"]

KCenterRule = Callable[[Tensor, Tensor, int], Tensor]


def reference_k_center(labeled: Tensor, candidates: Tensor, budget: int) -> Tensor:
    """Greedy k-center (Sener & Savarese, 2018, Alg. 1): ``budget`` times, label the candidate farthest
    from its nearest centre, ``u = argmax_i min_j ||x_i - x_j||``, the centres being the labeled points
    and the picks so far. Returns positions in pick order."""
    return _greedy(labeled, candidates, budget, norm=2.0)


def _greedy(labeled: Tensor, candidates: Tensor, budget: int, norm: float) -> Tensor:
    candidates = candidates.double()
    nearest = torch.full((candidates.shape[0],), math.inf, dtype=torch.float64)
    if labeled.shape[0]:
        nearest = torch.cdist(candidates, labeled.double(), p=norm).min(dim=1).values
    picks = []
    for _ in range(min(budget, candidates.shape[0])):
        choice = int(torch.argmax(nearest))
        picks.append(choice)
        nearest = torch.minimum(nearest, torch.cdist(candidates, candidates[choice:choice + 1], p=norm).reshape(-1))
        nearest[choice] = -1.0
    return torch.tensor(picks, dtype=torch.long)


def _k_center_case(labeled: Tensor, candidates: Tensor, budget: int) -> Callable[[KCenterRule], str | None]:
    def run(fn: KCenterRule) -> str | None:
        n = candidates.shape[0]
        count = min(budget, n)
        got = picked_positions(call_learner(fn, labeled.clone(), candidates.clone(), budget), count, n, budget)
        points = candidates.double()
        nearest = torch.full((n,), math.inf, dtype=torch.float64)
        if labeled.shape[0]:
            nearest = torch.cdist(points, labeled.double()).min(dim=1).values
        taken = torch.zeros(n, dtype=torch.bool)
        for step, choice in enumerate(got.tolist()):
            free = nearest.masked_fill(taken, -1.0)
            best = float(free.max())
            distance = float(nearest[choice])
            if not (distance == best or distance >= best - 1e-5 * (1.0 + best)):
                return f"pick {step + 1}: " + _k_center_hint(got, labeled, candidates, budget, step, choice,
                                                            distance, best, int(free.argmax()))
            taken[choice] = True
            nearest = torch.minimum(nearest, (points - points[choice]).norm(dim=1))
        return None

    return run


def _k_center_hint(got: Tensor, labeled: Tensor, candidates: Tensor, budget: int, step: int, choice: int,
                   distance: float, best: float, farthest: int) -> str:
    said = (f"candidate {choice} is {distance:.4g} from its nearest centre, but candidate {farthest} is {best:.4g} "
            "away (the centres: the labeled points and the picks so far)")
    expected = reference_k_center(labeled, candidates, budget)
    if sorted(got.tolist()) == sorted(expected.tolist()):
        return said + "; your picks are the right set in another order: return them in the order chosen"
    points = candidates.double()
    if labeled.shape[0]:
        distances = torch.cdist(points, labeled.double())
        for name, values in (("nearest", distances.min(dim=1).values), ("mean", distances.mean(dim=1)),
                             ("farthest", distances.max(dim=1).values)):
            top = torch.argsort(-values, stable=True)[:got.numel()]
            if sorted(got.tolist()) == sorted(top.tolist()):
                if name == "nearest":
                    return said + ("; your picks are the candidates farthest from the labeled set, all measured "
                                   "once: after each pick, update the distances (a pick is a centre too)")
                return said + (f"; your picks are the candidates with the largest {name} distance to the labeled "
                               "points: a candidate's distance to a set is to its *nearest* member")
        if got.tolist() == _greedy(labeled, candidates, budget, norm=1.0).tolist():
            return said + "; your picks are greedy k-center in L1 distance: use the Euclidean distance"
    if step == 0 and labeled.shape[0]:
        nearest = torch.cdist(points, labeled.double()).min(dim=1).values
        if choice == int(torch.argmin(nearest)):
            return said + "; you took the candidate *nearest* to the labeled set: k-center takes the farthest"
        if choice == int(reference_k_center(labeled[:0], candidates, budget)[0]):
            return said + "; your first pick is the one made with nothing labeled: measure from the labeled points"
    return said


def check_k_center(fn: KCenterRule) -> int:
    """Grade ``fn(labeled, candidates, budget) -> positions`` (embeddings ``(m, d)`` and ``(n, d)``):
    greedy k-center, the ``min(budget, n)`` positions in pick order, each the candidate farthest
    (Euclidean) from its nearest centre among the labeled points and the earlier picks. Every
    tie may be broken either way: each pick is graded against the distances at its step. With
    no labeled point (``m = 0``) any first pick is right. Calling the package's
    ``k_center_greedy`` fails."""
    generator = torch.Generator().manual_seed(4)
    labeled, candidates = torch.randn(5, 2, generator=generator), torch.randn(40, 2, generator=generator)
    deep_labeled, deep = torch.randn(12, 16, generator=generator), torch.randn(60, 16, generator=generator)
    grid = torch.stack(torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij"), dim=-1).reshape(-1, 2)
    twins = torch.cat([candidates[:6], candidates[:6]])
    cases = [
        Case("40 points in 2-D, 5 labeled, budget 6", _k_center_case(labeled, candidates, 6)),
        Case("60 embeddings in 16-D, 12 labeled, budget 10", _k_center_case(deep_labeled, deep, 10)),
        Case("nothing labeled yet (any first pick), budget 4", _k_center_case(torch.empty(0, 2), candidates, 4)),
        Case("budget 1", _k_center_case(labeled, candidates, 1)),
        Case("a 4 x 4 grid, one corner labeled: ties at every step", _k_center_case(grid[:1], grid[1:], 5)),
        Case("every candidate twice (a twin of a pick is 0 away), budget = all 12", _k_center_case(labeled, twins, 12)),
        Case("a labeled point is also a candidate", _k_center_case(candidates[:3], candidates[2:20], 5)),
        Case("a budget above the number of candidates takes them all", _k_center_case(labeled, candidates[:5], 9)),
        Case("float64 embeddings", _k_center_case(deep_labeled.double(), deep.double(), 8)),
    ]
    return run_cases("greedy k-center (core-set)", fn, cases, "k-center greedy, step by step",
                     forbidden=[(coreset, "k_center_greedy"), (sys.modules[__name__], "reference_k_center")])
