"""What every checker shares: running the learner's function on named cases and saying what failed.

A checker calls the learner's function on a list of :class:`Case` objects, compares
its answer with the package's reference and, at the first disagreement, raises
:class:`ExerciseFailed` naming the case and what differs (numbers, shapes, dtypes,
gradients), never the reference's code. A function that still raises
``NotImplementedError`` (nbgrader's student stub) gives :class:`NotImplementedYet`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["ExerciseFailed", "NotImplementedYet", "Case", "call_learner", "run_cases", "compare_tensors",
           "expect_value_error", "short"]


class ExerciseFailed(AssertionError):
    """The learner's function disagrees with the reference on a named case."""


class NotImplementedYet(ExerciseFailed):
    """The learner's function still raises ``NotImplementedError``."""


@dataclass
class Case:
    """One named check: ``run(fn)`` returns None when ``fn`` passes, else the reason it fails."""

    name: str
    run: Callable[[Callable[..., Any]], str | None]


def function_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", repr(fn))


def call_learner(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's ``fn``; ``NotImplementedError`` becomes :class:`NotImplementedYet`."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        raise NotImplementedYet(
            f"not implemented yet: write {function_name(fn)} in the cell above "
            f"(replace `raise NotImplementedError()` by your code), then run this cell again"
        ) from error


def run_cases(exercise: str, fn: Callable[..., Any], cases: Sequence[Case], reference: str) -> int:
    """Run every case in order; raise at the first failure, print one line when all pass.

    ``exercise`` names what the learner writes ("eq. 4, the Ranker loss"), ``reference``
    the package function the answers come from. Returns the number of cases passed.
    """
    if not callable(fn):
        raise ExerciseFailed(f"{exercise}: expected a function, got {type(fn).__name__}")
    with torch.random.fork_rng(devices=[]):  # the cases seed the CPU generator; the lesson's stream is kept
        for number, case in enumerate(cases, 1):
            reason = _run_case(case, fn)
            if reason is not None:
                raise ExerciseFailed(f"{exercise}: case {number}/{len(cases)} '{case.name}' failed: {reason}")
    print(f"✓ {function_name(fn)}: {exercise} agrees with {reference} on all {len(cases)} cases")
    return len(cases)


def _run_case(case: Case, fn: Callable[..., Any]) -> str | None:
    try:
        return case.run(fn)
    except NotImplementedYet:
        raise
    except ExerciseFailed as failure:
        return str(failure)
    except Exception as error:  # the learner's code crashed: say where and how
        return f"your function raised {type(error).__name__}: {error}"


def compare_tensors(what: str, got: Any, expected: Tensor, rtol: float = 1e-5, atol: float = 1e-6,
                    check_dtype: bool = True) -> str | None:
    """None when ``got`` is a tensor of ``expected``'s shape (and dtype) and values; else why not."""
    if not isinstance(got, Tensor):
        return f"{what} should be a torch.Tensor, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
    if check_dtype and got.dtype != expected.dtype:
        return f"{what} has dtype {got.dtype}, expected {expected.dtype}"
    got_values, expected_values = got.detach().double().cpu(), expected.detach().double().cpu()
    if not torch.isfinite(got_values).all():
        return f"{what} is not finite: {short(got_values)}"
    if not torch.allclose(got_values, expected_values, rtol=rtol, atol=atol):
        return f"{what} is {short(got_values)}, expected {short(expected_values)}"
    return None


def short(values: Tensor, limit: int = 6) -> str:
    """A tensor's values, rounded, at most ``limit`` of them."""
    flat = values.detach().reshape(-1).double().tolist()
    shown = ", ".join(f"{v:.6g}" for v in flat[:limit])
    if values.dim() == 0:
        return shown
    return f"[{shown}{', ...' if len(flat) > limit else ''}]"


def expect_value_error(fn: Callable[..., Any], *args: Any, what: str) -> str | None:
    """None when ``fn(*args)`` raises ValueError; else why the case fails."""
    try:
        call_learner(fn, *args)
    except NotImplementedYet:
        raise
    except ValueError:
        return None
    except Exception as error:
        return f"{what} should raise ValueError, but raised {type(error).__name__}: {error}"
    return f"{what} should raise ValueError, but your function returned a value"
