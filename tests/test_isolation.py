"""tavaal_nb.bench.isolation.run_isolated: a function in a spawned process, its crash or hang an exception here."""

from __future__ import annotations

import operator
import os
import time

import pytest

from tavaal_nb.bench.isolation import ChildProcessFailed, run_isolated

pytestmark = pytest.mark.slow  # every test spawns a process


def test_the_return_value_comes_back():
    assert run_isolated(operator.add, (2, 40)) == 42
    assert run_isolated(divmod, (17, 5), timeout=60) == (3, 2)


def test_the_childs_exception_is_raised_here():
    with pytest.raises(ZeroDivisionError):
        run_isolated(operator.truediv, (1, 0))
    with pytest.raises(ValueError, match="invalid literal"):
        run_isolated(int, ("not a number",))


def test_a_process_that_dies_of_a_signal_is_named():
    with pytest.raises(ChildProcessFailed, match="^the process died of SIGABRT$"):
        run_isolated(os.abort)


def test_a_process_that_exits_without_an_answer_is_named():
    with pytest.raises(ChildProcessFailed, match="exited with status 3 without an answer"):
        run_isolated(os._exit, (3,))


def test_a_hang_is_killed_after_the_timeout():
    tic = time.monotonic()
    with pytest.raises(ChildProcessFailed, match=r"no answer after 2 s \(a hang; the process was killed\)"):
        run_isolated(time.sleep, (120,), timeout=2)
    assert time.monotonic() - tic < 60  # killed, not waited for
