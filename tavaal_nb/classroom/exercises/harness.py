"""What every checker shares: running the learner's function on named cases and saying what failed.

A checker calls the learner's function on a list of :class:`Case` objects, compares
its answer with the package's reference and, at the first disagreement, raises
:class:`ExerciseFailed` naming the case and what differs (numbers, shapes, dtypes,
gradients), never the reference's code. A function that still raises
``NotImplementedError`` (nbgrader's student stub) gives :class:`NotImplementedYet`.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["ExerciseFailed", "NotImplementedYet", "ReferenceUsed", "Case", "call_learner", "run_cases",
           "compare_tensors", "expect_value_error", "short", "forbid_references", "handed_in_reference"]


class ExerciseFailed(AssertionError):
    """The learner's function disagrees with the reference on a named case."""


class NotImplementedYet(ExerciseFailed):
    """The learner's function still raises ``NotImplementedError``."""


class ReferenceUsed(ExerciseFailed):
    """The learner's function called the package's own implementation of the exercise."""


_learner_depth = 0
"""How many learner calls are running: a tripwire fires only inside one."""
_reference_calls: list[str] = []
"""The references the learner called during the current :func:`call_learner` (kept even if it swallowed the error)."""


@dataclass
class Case:
    """One named check: ``run(fn)`` returns None when ``fn`` passes, else the reason it fails."""

    name: str
    run: Callable[[Callable[..., Any]], str | None]


def function_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", repr(fn))


def call_learner(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's ``fn``; ``NotImplementedError`` becomes :class:`NotImplementedYet`."""
    global _learner_depth
    _learner_depth += 1
    outer_calls = len(_reference_calls)
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError as error:
        raise NotImplementedYet(
            f"not implemented yet: write {function_name(fn)} in the cell above "
            f"(replace `raise NotImplementedError()` by your code), then run this cell again"
        ) from error
    finally:
        _learner_depth -= 1
    if len(_reference_calls) > outer_calls:  # the tripwire fired, but the learner's code caught the error
        raise ReferenceUsed(_reference_message(_reference_calls[-1]))
    return result


def _reference_message(name: str) -> str:
    return f"your answer calls the package's {name}; write it yourself"


def _tripwire(target: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``target`` for the checker, an error for the learner's code."""

    @functools.wraps(target)
    def tripwire(*args: Any, **kwargs: Any) -> Any:
        if _learner_depth > 0:
            _reference_calls.append(name)
            raise ReferenceUsed(_reference_message(name))
        return target(*args, **kwargs)

    return tripwire


@contextmanager
def forbid_references(fn: Callable[..., Any], references: Sequence[tuple[Any, str]]) -> Iterator[None]:
    """While grading, the package's own solutions (``(module or class, attribute)``) fail when the learner calls them.

    Each reference is replaced by a tripwire in its owner, in every loaded ``tavaal_nb`` module that
    imported it, in the learner's globals (``fn.__globals__``: the notebook's namespace) and in
    ``fn``'s closure. Outside a learner call the tripwire calls the reference, so the checker's own
    answers are unchanged. Everything is restored afterwards.
    """
    restore: list[Callable[[], None]] = []
    namespaces = [vars(module) for name, module in list(sys.modules.items())
                  if name.split(".")[0] == "tavaal_nb" and module is not None]
    namespaces.append(getattr(fn, "__globals__", {}))
    try:
        for owner, attribute in references:
            raw = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
            static = isinstance(raw, staticmethod)
            target = raw.__func__ if static else raw
            owner_name = getattr(owner, "__module__", None) if isinstance(owner, type) else None
            prefix = f"{owner.__name__}." if owner_name else f"{getattr(owner, '__name__', '')}."
            wire = _tripwire(target, (prefix + attribute).lstrip("."))
            setattr(owner, attribute, staticmethod(wire) if static else wire)
            restore.append(functools.partial(setattr, owner, attribute, raw))
            for namespace in namespaces:
                for key, value in list(namespace.items()):
                    if value is target:
                        namespace[key] = wire
                        restore.append(functools.partial(namespace.__setitem__, key, target))
            for cell in getattr(fn, "__closure__", None) or ():
                try:
                    if cell.cell_contents is target:
                        cell.cell_contents = wire
                        restore.append(functools.partial(setattr, cell, "cell_contents", target))
                except ValueError:  # an empty cell
                    continue
        yield
    finally:
        for undo in reversed(restore):
            undo()


_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder of the ``tavaal_nb`` package: a function whose code lives there is the package's, not the learner's."""


def _stands_for(fn: Any) -> Iterator[Any]:
    """``fn`` and everything it merely re-labels: a ``functools.partial``'s function, a bound method's, a
    ``staticmethod``'s or ``classmethod``'s function, a decorator's ``__wrapped__`` (:func:`inspect.unwrap`)."""
    seen: set[int] = set()
    todo = [fn]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, functools.partial):
            todo.append(item.func)
        if isinstance(item, (types.MethodType, staticmethod, classmethod)):
            todo.append(item.__func__)
        if isinstance(item, (types.FunctionType, types.MethodType, functools.partial)):
            try:
                todo.append(inspect.unwrap(item))
            except ValueError:  # a cycle of __wrapped__
                pass


def _package_name(item: Any) -> str | None:
    """The package's name for ``item`` when its code (or its class's) lives in ``tavaal_nb``, else None."""
    code = getattr(item, "__code__", None)
    if isinstance(item, types.FunctionType) and code is not None:
        filename = Path(code.co_filename).resolve()
        if _PACKAGE_ROOT in filename.parents:
            return f"{item.__module__}.{item.__qualname__}"
        return None
    owner = item if isinstance(item, type) else type(item)
    if not isinstance(item, (types.BuiltinFunctionType, types.MethodType, functools.partial)) and \
            (owner.__module__ or "").split(".")[0] == "tavaal_nb":
        return f"{owner.__module__}.{owner.__qualname__}"
    return None


def handed_in_reference(fn: Any, references: Sequence[tuple[Any, str]] = ()) -> str | None:
    """What ``fn`` is, when it *is* one of the package's own functions rather than the learner's: one of
    ``references`` (``(module or class, attribute)``, named as in :func:`forbid_references`) or any function
    whose code lives in ``tavaal_nb``, looked for through aliases, ``functools.partial``, bound methods,
    ``staticmethod``/``classmethod`` and decorators. None for the learner's own code (a lambda that merely
    forwards to the reference is left to the tripwire)."""
    targets = {}
    for owner, attribute in references:
        raw = owner.__dict__.get(attribute) if isinstance(owner, type) else getattr(owner, attribute, None)
        for item in _stands_for(raw):
            targets[id(item)] = f"{getattr(owner, '__name__', '')}.{attribute}".lstrip(".")
            code = getattr(item, "__code__", None)
            if code is not None:
                targets[id(code)] = targets[id(item)]
    for item in _stands_for(fn):
        for key in (id(item), id(getattr(item, "__code__", None))):
            if key in targets:
                return targets[key]
        name = _package_name(item)
        if name:
            return name
    return None


def run_cases(exercise: str, fn: Callable[..., Any], cases: Sequence[Case], reference: str,
              forbidden: Sequence[tuple[Any, str]] = ()) -> int:
    """Run every case in order; raise at the first failure, print one line when all pass.

    ``exercise`` names what the learner writes ("eq. 4, the Ranker loss"), ``reference``
    the package function the answers come from; ``forbidden`` lists the package's own
    solutions, ``(module or class, attribute)``, that the learner's code may not call
    (:func:`forbid_references`). Returns the number of cases passed.
    """
    if not callable(fn):
        raise ExerciseFailed(f"{exercise}: expected a function, got {type(fn).__name__}")
    handed = handed_in_reference(fn, forbidden)
    if handed is not None:
        raise ReferenceUsed(f"{exercise}: the function handed in is the package's {handed}, not your own "
                            "answer; write it yourself")
    # the cases seed the CPU generator; the lesson's stream is kept
    with torch.random.fork_rng(devices=[]), forbid_references(fn, forbidden):
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
    except (NotImplementedYet, ReferenceUsed):
        raise
    except ValueError:
        return None
    except Exception as error:
        return f"{what} should raise ValueError, but raised {type(error).__name__}: {error}"
    return f"{what} should raise ValueError, but your function returned a value"
