"""Checkers for the baseline strategies the learner writes in the sandbox (notebook 01).

Random, entropy and margin sampling (greedy k-center: :mod:`~tavaal_nb.classroom.exercises.k_center`,
MC-dropout BALD: :mod:`~tavaal_nb.classroom.exercises.bald`). Every picking rule returns the **positions**
of the chosen candidates (an integer tensor, ``min(budget, candidates)`` of them, each once);
ties at the threshold may be broken either way, so a pick is graded by the score it carries,
not by its position. Random picks are graded on their distribution (seeded, so the verdict
is the same at every run), greedy k-center step by step (every farthest candidate is a valid
next pick), BALD on its values.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from tavaal_nb.classroom.exercises.harness import (
    Case,
    ExerciseFailed,
    NotImplementedYet,
    ReferenceUsed,
    call_learner,
    run_cases,
    short,
)
from tavaal_nb.classroom.sandbox import strategies as sandbox_strategies
from tavaal_nb.strategies import base

__all__ = [
    "check_random_sampling", "check_entropy_sampling", "check_margin_sampling", "reference_entropy",
    "reference_margin", "picked_positions",
]

RandomRule = Callable[[int, int, torch.Generator], Tensor]
ScoreRule = Callable[[Tensor, int], Tensor]


# ----------------------------------------------------------------------------- shared


def picked_positions(got: object, count: int, limit: int, budget: int) -> Tensor:
    """The learner's answer as positions, or ExerciseFailed saying what is wrong with it."""
    if not isinstance(got, Tensor) or got.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        kind = got.dtype if isinstance(got, Tensor) else type(got).__name__
        raise ExerciseFailed(f"return the chosen candidates' positions as an integer tensor, got {kind}"
                             + (" (scores? return positions, e.g. from argsort or topk's indices)"
                                if isinstance(got, Tensor) and got.is_floating_point() else ""))
    got = got.reshape(-1).long().cpu()
    if got.numel() != count:
        raise ExerciseFailed(f"{got.numel()} positions chosen for budget {budget} among {limit} candidates, "
                             f"expected min(budget, candidates) = {count}")
    if got.unique().numel() != got.numel():
        raise ExerciseFailed(f"a candidate was chosen twice: {got.tolist()[:12]} (pick each position once)")
    if got.numel() and (int(got.min()) < 0 or int(got.max()) >= limit):
        raise ExerciseFailed(f"positions must lie in 0..{limit - 1}, got {got.tolist()[:12]}")
    return got


def _entropy(probabilities: Tensor) -> Tensor:
    """``-sum_c p_c log p_c`` over the last dimension, in float64, with ``0 log 0 = 0``."""
    p = probabilities.double()
    return -torch.where(p > 0, p * p.clamp_min(1e-300).log(), torch.zeros_like(p)).sum(dim=-1)


def reference_entropy(probabilities: Tensor) -> Tensor:
    """Predictive entropy per candidate, ``H(x) = -sum_c p(c|x) log p(c|x)`` (nats): entropy sampling
    labels the highest (Settles, *Active Learning Literature Survey*, 2009, sec. 3.1)."""
    return _entropy(probabilities)


def reference_margin(probabilities: Tensor) -> Tensor:
    """Margin per candidate, ``p_(1) - p_(2)``, the gap between the two most probable classes: margin
    sampling labels the smallest (Scheffer et al., 2001; Settles 2009, sec. 3.1)."""
    top = probabilities.double().topk(2, dim=1).values
    return top[:, 0] - top[:, 1]


WrongRule = tuple[Callable[[Tensor], Tensor], str, str]
"""A plausible wrong score, the end it is taken from ("highest" or "lowest"), and the hint naming it."""


def _takes_best(values: Tensor, picks: Tensor, prefer: str) -> bool:
    """Whether ``picks`` carry the ``len(picks)`` best ``values`` (ties broken either way)."""
    best = values.sort(descending=prefer == "highest").values[:picks.numel()].sort().values
    return bool(torch.allclose(values[picks].sort().values, best, rtol=1e-6, atol=1e-9, equal_nan=True))


def _wrong_rule(fn: ScoreRule, score: Callable[[Tensor], Tensor], prefer: str, wrong: Sequence[WrongRule]) -> str:
    """The hint of the first wrong rule that the learner's picks follow on *every* probability case where
    it differs from the right rule (and on at least one), or "" when none explains them."""
    answers = []
    for _, p, budget in _probability_cases():
        try:
            answers.append((p, picked_positions(call_learner(fn, p.clone(), budget), min(budget, len(p)), len(p), budget)))
        except (NotImplementedYet, ReferenceUsed):
            raise
        except Exception:  # a malformed answer on a case says nothing about the rule
            continue
    for other, other_prefer, hint in wrong:
        separated = 0
        for probabilities, picks in answers:
            right = order_positions(score(probabilities), prefer, picks.numel())
            values = other(probabilities)
            if _takes_best(values, right, other_prefer):
                continue  # this case does not tell the two rules apart
            if not _takes_best(values, picks, other_prefer):
                break
            separated += 1
        else:
            if separated:
                return f" ({hint})"
    return ""


def _score_case(probabilities: Tensor, budget: int, score: Callable[[Tensor], Tensor], prefer: str,
                wrong_end_hint: str, wrong: Sequence[WrongRule]) -> Callable[[ScoreRule], str | None]:
    def run(fn: ScoreRule) -> str | None:
        scores = score(probabilities)
        count = min(budget, scores.numel())
        got = picked_positions(call_learner(fn, probabilities.clone(), budget), count, scores.numel(), budget)
        order = scores.sort(descending=prefer == "highest").values
        chosen, wanted = scores[got].sort().values, order[:count].sort().values
        if torch.allclose(chosen, wanted, rtol=1e-6, atol=1e-9):  # ties may be broken either way
            return None
        if torch.allclose(chosen, scores.sort(descending=prefer != "highest").values[:count].sort().values):
            return f"you chose the {count} {'lowest' if prefer == 'highest' else 'highest'} scores{wrong_end_hint}"
        hint = _wrong_rule(fn, score, prefer, wrong)
        if not hint and (probabilities == 0).any():
            hint = " (some probabilities are exactly 0: does your score give nan there? 0 log 0 counts as 0)"
        return f"the chosen candidates score {short(chosen, 8)}, expected the {count} {prefer}, {short(wanted, 8)}{hint}"

    return run


def order_positions(scores: Tensor, prefer: str, count: int) -> Tensor:
    return torch.argsort(scores if prefer == "lowest" else -scores, stable=True)[:count]


def _dirichlet(n: int, classes: int, seed: int, concentration: float = 1.0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    gamma = -torch.log(torch.rand(n, classes, generator=generator, dtype=torch.float64)) ** (1 / concentration)
    return (gamma / gamma.sum(dim=1, keepdim=True)).float()


def _probability_cases() -> list[tuple[str, Tensor, int]]:
    """Named ``(what, probabilities, budget)``: random rows, one-hot rows, tied rows, edge budgets."""
    three = _dirichlet(30, 3, seed=1)
    ten = _dirichlet(25, 10, seed=2)
    two = _dirichlet(20, 2, seed=3)
    with_zeros = torch.cat([torch.eye(3)[[0, 1, 2, 0]], three[:8]])  # certain rows: p = 0 for two classes
    tied = torch.tensor([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05], [0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.8, 0.1, 0.1],
                         [0.5, 0.3, 0.2], [0.6, 0.2, 0.2], [0.7, 0.2, 0.1]])
    # rows zero for one class only: [0.5, 0.5, 0] has entropy log 2 (0 log 0 = 0 term by term), not nan nor 0
    partly_zero = torch.tensor([[0.9, 0.05, 0.05], [0.5, 0.5, 0.0], [0.8, 0.1, 0.1], [0.0, 0.6, 0.4], [1.0, 0.0, 0.0],
                                [0.34, 0.33, 0.33], [0.7, 0.2, 0.1], [0.45, 0.0, 0.55], [0.98, 0.01, 0.01],
                                [0.6, 0.3, 0.1]])
    sparse = torch.tensor([[0.23, 0.32, 0.17, 0.28], [0.34, 0.56, 0.05, 0.05], [0.34, 0.54, 0.1, 0.02], [0, 0, 0, 1.0],
                           [0, 0, 0.33, 0.67], [0, 0.56, 0.44, 0], [0, 0.47, 0.03, 0.5], [0.42, 0, 0.58, 0],
                           [0.01, 0.11, 0.76, 0.12], [0, 0, 0, 1.0], [0.97, 0.03, 0, 0], [0.82, 0.08, 0.06, 0.04],
                           [0.05, 0, 0, 0.95], [0, 0, 0.47, 0.53], [0, 1.0, 0, 0], [0.27, 0.04, 0, 0.69]])
    return [
        ("30 candidates, 3 classes, budget 5", three, 5),
        ("25 candidates, 10 classes, budget 7", ten, 7),
        ("two classes, budget 4", two, 4),
        ("certain candidates (probability exactly 0 for some classes), budget 6", with_zeros, 6),
        ("three identical candidates tie at the threshold, two fit (budget 3)", tied, 3),
        ("budget 1", three, 1),
        ("budget = number of candidates (take them all)", tied, 8),
        ("a budget above the number of candidates takes them all", two[:4], 9),
        ("float64 probabilities, budget 5", ten.double(), 5),
        ("rows zero for one class only, such as [0.5, 0.5, 0], budget 5", partly_zero, 5),
        ("16 candidates, 4 classes, many zero for some classes, budget 5", sparse, 5),
    ]


def _least_confidence(probabilities: Tensor) -> Tensor:
    return 1.0 - probabilities.double().max(dim=1).values


def _entropy_with_nan_rows_zero(probabilities: Tensor) -> Tensor:
    p = probabilities.double()
    return torch.nan_to_num(-(p * p.log()).sum(dim=1), nan=0.0)


def _entropy_of_softmax(probabilities: Tensor) -> Tensor:
    return _entropy(torch.softmax(probabilities.double(), dim=1))


def _one_vs_rest_entropies(probabilities: Tensor) -> Tensor:
    p = probabilities.double()
    return _entropy(torch.stack([p, 1.0 - p], dim=-1)).sum(dim=1)


def _margin_of_classes_0_1(probabilities: Tensor) -> Tensor:
    return (probabilities[:, 0] - probabilities[:, 1]).double().abs()


def _margin_ratio(probabilities: Tensor) -> Tensor:
    top = probabilities.double().topk(2, dim=1).values
    return top[:, 1] / top[:, 0]


def _top_minus_least(probabilities: Tensor) -> Tensor:
    p = probabilities.double()
    return p.max(dim=1).values - p.min(dim=1).values


# ----------------------------------------------------------------------------- random


def _random_counts(fn: RandomRule, n: int, b: int, draws: int) -> tuple[Tensor, Tensor]:
    """How often each position, and each pair of positions, was picked over ``draws`` seeded calls."""
    singles = torch.zeros(n)
    pairs = torch.zeros(n, n)
    for seed in range(draws):
        got = picked_positions(call_learner(fn, n, b, torch.Generator().manual_seed(10_000 + seed)), b, n, b)
        singles[got] += 1
        pairs[got[:, None], got[None, :]] += 1
    return singles, pairs


def _random_shape_case(n: int, b: int) -> Callable[[RandomRule], str | None]:
    def run(fn: RandomRule) -> str | None:
        picked_positions(call_learner(fn, n, b, torch.Generator().manual_seed(5)), min(b, n), n, b)
        return None

    return run


def _random_seeded_case(fn: RandomRule) -> str | None:
    torch.manual_seed(1)
    first = call_learner(fn, 40, 6, torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    second = call_learner(fn, 40, 6, torch.Generator().manual_seed(7))
    first, second = picked_positions(first, 6, 40, 6), picked_positions(second, 6, 40, 6)
    if not torch.equal(first, second):
        return (f"two calls with generators seeded alike chose {first.tolist()} and {second.tolist()}: draw from "
                "the `generator` argument (e.g. generator=generator), not from torch's global stream")
    answers = {tuple(picked_positions(call_learner(fn, 40, 6, torch.Generator().manual_seed(s)), 6, 40, 6).tolist())
               for s in range(8)}
    if len(answers) == 1:
        return f"eight generators seeded differently all gave {sorted(answers)[0]}: the picks are not random"
    return None


def _random_uniform_case(fn: RandomRule) -> str | None:
    n, b, draws = 10, 3, 2000
    singles, _ = _random_counts(fn, n, b, draws)
    expected = draws * b / n
    chi2 = float(((singles - expected) ** 2 / expected).sum())
    if chi2 > 45.0:  # 9 degrees of freedom: a correct sampler exceeds 45 with probability below 1e-6
        return (f"over {draws} seeded draws of {b} among {n}, the positions were picked {singles.long().tolist()} "
                f"times, expected about {expected:.0f} each (chi-square {chi2:.0f}): every candidate must be "
                "equally likely")
    return None


def _random_pairs_case(fn: RandomRule) -> str | None:
    n, b, draws = 6, 2, 3000
    _, pairs = _random_counts(fn, n, b, draws)
    together = pairs[torch.triu_indices(n, n, 1).unbind()]
    expected = draws / together.numel()
    chi2 = float(((together - expected) ** 2 / expected).sum())
    if chi2 > 55.0:  # 14 degrees of freedom: a correct sampler exceeds 55 with probability below 1e-6
        return (f"over {draws} seeded draws of {b} among {n}, the {together.numel()} pairs came "
                f"{together.long().tolist()} times, expected about {expected:.0f} each: every *batch* must be "
                "equally likely, not only every position (are the picks neighbours of one random start?)")
    return None


def check_random_sampling(fn: RandomRule) -> int:
    """Grade ``fn(num_candidates, budget, generator) -> positions``: ``min(budget, num_candidates)``
    distinct positions, a uniform random subset, drawn from ``generator`` only (the same seed
    gives the same picks, whatever the global stream). Graded on seeded draws: the counts per
    position and per pair of positions must be those of a uniform sample. Calling the
    package's random strategy fails."""
    cases = [
        Case("10 of 50 candidates", _random_shape_case(50, 10)),
        Case("budget 1", _random_shape_case(7, 1)),
        Case("budget = number of candidates (take them all)", _random_shape_case(9, 9)),
        Case("a budget above the number of candidates takes them all", _random_shape_case(4, 10)),
        Case("the picks come from the generator", _random_seeded_case),
        Case("every position equally likely (2000 seeded draws)", _random_uniform_case),
        Case("every pair equally likely (3000 seeded draws)", _random_pairs_case),
    ]
    forbidden = [(sandbox_strategies, "_random")] if hasattr(sandbox_strategies, "_random") else []
    return run_cases("random sampling", fn, cases, "a uniform sample without replacement", forbidden=forbidden)


# ----------------------------------------------------------------------------- entropy and margin


def check_entropy_sampling(fn: ScoreRule) -> int:
    """Grade ``fn(probabilities, budget) -> positions``: the ``min(budget, n)`` candidates with the
    highest predictive entropy ``-sum_c p_c log p_c`` (:func:`reference_entropy`; ``0 log 0 = 0`` term by
    term, so ``[0.5, 0.5, 0]`` scores ``log 2``), ties at the threshold broken either way. Calling the
    package's ``entropy_scores``, ``highest`` or ``lowest`` fails."""
    wrong = [(_entropy_with_nan_rows_zero, "highest", "the rows holding a probability of exactly 0 scored 0 (or were "
              "left out): p log p is nan at p = 0, but 0 log 0 counts as 0 term by term, so [0.5, 0.5, 0] keeps the "
              "entropy of its other classes, log 2"),
             (_entropy_of_softmax, "highest", "you took the entropy of softmax(probabilities): the rows are "
              "probabilities already, do not apply a second softmax"),
             (_least_confidence, "highest", "you chose the lowest top probability (least confidence); entropy "
              "weighs every class's probability, -sum_c p_c log p_c"),
             (_one_vs_rest_entropies, "highest", "you summed each class's binary entropy, one class against the "
              "rest; the predictive entropy is -sum_c p_c log p_c over the classes"),
             (reference_margin, "lowest", "you chose the smallest margin p_(1) - p_(2) (margin sampling): entropy "
              "sampling takes the highest -sum_c p_c log p_c")]
    cases = [Case(what, _score_case(p, b, reference_entropy, "highest",
                                    ": entropy sampling labels the most uncertain, the highest entropy", wrong))
             for what, p, b in _probability_cases()]
    return run_cases("entropy sampling", fn, cases, "the highest predictive entropy",
                     forbidden=_score_references())


def check_margin_sampling(fn: ScoreRule) -> int:
    """Grade ``fn(probabilities, budget) -> positions``: the ``min(budget, n)`` candidates with the
    smallest margin ``p_(1) - p_(2)`` between the two most probable classes
    (:func:`reference_margin`), ties broken either way. Calling the package's ``margin_scores``,
    ``highest`` or ``lowest`` fails."""
    wrong = [(reference_entropy, "highest", "you chose the highest entropy (entropy sampling); margin sampling takes "
              "the smallest gap p_(1) - p_(2) between the two most probable classes"),
             (_margin_of_classes_0_1, "lowest", "you chose the smallest gap between classes 0 and 1 of every row; the "
              "margin is between each candidate's *two most probable* classes, whichever they are (sort the row)"),
             (_margin_ratio, "highest", "you ranked by the ratio p_(2) / p_(1); the margin is the difference "
              "p_(1) - p_(2)"),
             (_least_confidence, "highest", "you chose the lowest top probability (least confidence); the margin "
              "is the gap between the two most probable classes"),
             (_top_minus_least, "lowest", "you chose the smallest gap between the most and the *least* probable "
              "class; the margin uses the two most probable")]
    cases = [Case(what, _score_case(p, b, reference_margin, "lowest",
                                    ": margin sampling labels the smallest margin (the most uncertain)", wrong))
             for what, p, b in _probability_cases()]
    return run_cases("margin sampling", fn, cases, "the smallest margin p_(1) - p_(2)", forbidden=_score_references())


def _score_references() -> list[tuple[object, str]]:
    """The package's entropy and margin (wherever they live now), its top-k pickers and this module's answers."""
    this = sys.modules[__name__]
    references: list[tuple[object, str]] = [(base, "highest"), (base, "lowest"), (this, "reference_entropy"),
                                            (this, "reference_margin")]
    for module_name in ("tavaal_nb.classroom.sandbox.strategies", "tavaal_nb.strategies.scores"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        references += [(module, name) for name in ("entropy_scores", "margin_scores") if hasattr(module, name)]
    return references
