"""The cells that use an exercise's answer say, in one line, which answer they wait for.

In the student edition an exercise is nbgrader's stub (``raise NotImplementedError()``) until the learner writes
it. Run All stops at its checker, as it should; a cell further down that uses the answer would otherwise fail
with a ``NameError`` (a variable its predecessor never made), a bare ``NotImplementedError`` or a stranger
error. Such a cell starts with :func:`needs_answers`, which raises :class:`AnswerNeeded`, shown by Jupyter as
one line, naming the functions still to write and where they are.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from tavaal_nb.classroom.exercises.harness import NotImplementedYet, function_name

__all__ = ["AnswerNeeded", "is_unanswered", "needs_answers"]


class AnswerNeeded(NotImplementedYet):
    """A cell uses an exercise's answer that is still nbgrader's stub. Jupyter shows it as one line."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook: the message alone, without a traceback
        return [f"{type(self).__name__}: {self}"]


def _written(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The function the learner wrote, behind ``functools.partial`` and ``functools.wraps`` wrappers."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.unwrap(fn)


def is_unanswered(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is still an exercise's stub: a function whose whole body raises ``NotImplementedError``."""
    code = getattr(_written(fn), "__code__", None)
    return code is not None and code.co_names == ("NotImplementedError",)


def needs_answers(*answers: Callable[..., Any], where: str) -> None:
    """Raise :class:`AnswerNeeded` when any of ``answers`` (the learner's functions) is still a stub; ``where``
    says where they are (``"section 8"``). Does nothing once they are written."""
    if not answers:
        raise ValueError("needs_answers: name at least one of the learner's functions this cell uses")
    missing = [function_name(_written(fn)) for fn in answers if is_unanswered(fn)]
    if missing:
        them = "it" if len(missing) == 1 else "them"
        raise AnswerNeeded(f"this cell uses your {', '.join(missing)} ({where}), still `raise NotImplementedError()`: "
                           f"write {them} and run {'its checker' if len(missing) == 1 else 'their checkers'}, "
                           "then this cell")
