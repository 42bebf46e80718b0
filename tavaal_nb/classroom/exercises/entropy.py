"""Checkers for the learner's class-count entropy and Table 1 rows (notebook 05)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence

import torch

from tavaal_nb import metrics
from tavaal_nb.classroom.exercises.harness import Case, call_learner, expect_value_error, run_cases
from tavaal_nb.data import IMBALANCE_PROFILES
from tavaal_nb.metrics import class_entropy

__all__ = ["check_class_entropy", "check_table_1_row", "table_1_row"]

EntropyFunction = Callable[[Sequence[float]], float]
TableRowFunction = Callable[[Sequence[float]], tuple[int, float]]


def table_1_row(counts: Sequence[float]) -> tuple[int, float]:
    """One row of the paper's Table 1 from class counts: ``(total images, entropy as printed)``.

    The paper prints the class-count entropy (:func:`tavaal_nb.metrics.class_entropy`, nats)
    **cut** to two decimals, not rounded: 1.900 is printed 1.89.
    """
    entropy = class_entropy(counts)
    return round(sum(float(c) for c in counts)), math.floor(100 * entropy + 1e-9) / 100


def _entropy_case(counts: Sequence[float] | torch.Tensor) -> Callable[[EntropyFunction], str | None]:
    def run(fn: EntropyFunction) -> str | None:
        expected = class_entropy(counts)
        got = call_learner(fn, counts)
        try:
            value = float(got)
        except (TypeError, ValueError):
            return f"return one number (a float), got {type(got).__name__}"
        if math.isnan(value):
            return f"the entropy of {_shown(counts)} is nan" + (" (a class with no images adds 0: skip it)"
                                                                   if any(float(c) == 0 for c in counts) else "")
        if abs(value - expected) > 1e-6 * max(1.0, abs(expected)):  # float32 arithmetic is fine
            return f"the entropy of {_shown(counts)} is {value:.6f}, expected {expected:.6f}{_entropy_hint(counts, value)}"
        return None

    return run


def _entropy_hint(counts: Sequence[float] | torch.Tensor, value: float) -> str:
    """Name the mistake the value shows, when one of the usual ones explains it."""
    expected = class_entropy(counts)
    values = [float(c) for c in counts]
    close = lambda a, b: abs(a - b) <= 1e-6 * max(1.0, abs(b))  # noqa: E731
    if expected and close(value * math.log(2), expected):
        return " (your value is in bits, log base 2: use the natural log, nats)"
    if expected and close(value * math.log(10), expected):
        return " (your value uses log base 10: use the natural log, nats)"
    if expected and close(-value, expected):
        return " (the sign is flipped: H = -sum p_c log p_c is non-negative)"
    if close(value, -sum(v * math.log(v) for v in values if v > 0)):
        return " (the counts are not normalised: p_c = n_c / total)"
    return ""


def _shown(counts: Sequence[float] | torch.Tensor) -> str:
    values = counts.tolist() if isinstance(counts, torch.Tensor) else list(counts)
    return str(values)


def check_class_entropy(fn: EntropyFunction) -> int:
    """Grade the learner's class-count entropy ``fn(counts) -> float`` against
    :func:`tavaal_nb.metrics.class_entropy`: ``-sum p_c log p_c`` in nats, ``p_c = n_c / sum n``,
    zero counts adding nothing; negative counts and all-zero counts are a ValueError. Calling
    the package's ``class_entropy`` fails.
    """
    cases = [
        Case("a balanced pool of 10 classes (log 10)", _entropy_case([5000] * 10)),
        Case("two classes 3:1", _entropy_case([3, 1])),
        Case("Table 1, least imbalanced row", _entropy_case(list(IMBALANCE_PROFILES["entropy-2.11"]))),
        Case("Table 1 in hundreds (0.5 is a count too)", _entropy_case([30, 30, 40, 50, 0.5, 1, 1, 1, 2, 10])),
        Case("a class with no images", _entropy_case([4, 0, 4, 0])),
        Case("every image in one class (0)", _entropy_case([0, 7, 0])),
        Case("counts as a torch tensor", _entropy_case(torch.tensor([5, 1, 2, 2]))),
        Case("negative counts", lambda fn: expect_value_error(fn, [3, -1, 2], what="a negative count")),
        Case("all counts zero", lambda fn: expect_value_error(fn, [0, 0, 0], what="counts that are all zero")),
    ]
    return run_cases("the class-count entropy", fn, cases, "tavaal_nb.metrics.class_entropy", forbidden=_FORBIDDEN)


def _row_case(counts: Sequence[float]) -> Callable[[TableRowFunction], str | None]:
    def run(fn: TableRowFunction) -> str | None:
        total, entropy = table_1_row(counts)
        got = call_learner(fn, counts)
        if not isinstance(got, tuple) or len(got) != 2:
            return f"return a pair (total, entropy as the paper prints it), got {got!r}"
        if round(float(got[0])) != total or abs(float(got[0]) - total) > 1e-9:
            return f"the total of {list(counts)} is {got[0]}, expected {total}"
        if abs(float(got[1]) - entropy) > 1e-9:
            exact = class_entropy(counts)
            hint = " (cut to two decimals, do not round)" if abs(float(got[1]) - round(exact, 2)) < 1e-9 else ""
            return f"the printed entropy of {list(counts)} is {got[1]}, expected {entropy:.2f}{hint}"
        return None

    return run


def check_table_1_row(fn: TableRowFunction) -> int:
    """Grade the learner's Table 1 row ``fn(counts) -> (total, entropy cut to 2 decimals)``
    against :func:`table_1_row`, on the three rows of Table 1 and the public code's profile. The row
    must use the learner's entropy: calling the package's ``class_entropy`` or ``table_1_row`` fails."""
    profiles = ("entropy-1.65", "entropy-1.89", "entropy-2.11", "official-100x")
    cases = [Case(f"profile {name}", _row_case(list(IMBALANCE_PROFILES[name]))) for name in profiles]
    cases.append(Case("a balanced pool", _row_case([100] * 10)))
    return run_cases("Table 1 from class counts", fn, cases, "tavaal_nb.classroom.exercises.entropy.table_1_row",
                     forbidden=_FORBIDDEN)


_FORBIDDEN = [(metrics, "class_entropy"), (sys.modules[__name__], "table_1_row")]
"""The package's own answers: the learner's entropy and row (which may use the learner's entropy) may not call them."""
