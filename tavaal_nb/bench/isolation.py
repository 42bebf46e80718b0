"""Run one function in a fresh (spawned) process, so that a crash or a hang inside a native
library becomes an exception in the caller instead of killing it.

The benchmark's ablation measures each variant this way: on CPUs without AVX-512 (AMD EPYC of the
Zen 2/3 generations, for one), PyTorch 2.14's oneDNN convolution backward in ``channels_last`` can
segfault, abort or hang on very narrow networks (the ``ci`` preset's ResNet-18 of width 4;
docs/benchmarks.md gives the reproduction), and one such variant must not take the rows after it,
or the whole ``bench --ablation`` command, down with it.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable
from typing import Any

__all__ = ["ChildProcessFailed", "run_isolated"]


class ChildProcessFailed(RuntimeError):
    """The isolated process died (a signal or an exit status) or gave no answer in time."""


def _child(sender, target: Callable[..., Any], args: tuple) -> None:
    try:
        outcome = ("ok", target(*args))
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the caller
        outcome = ("error", error)
    try:
        sender.send(outcome)
    except Exception:  # noqa: BLE001 - an unpicklable result or exception: send its text instead
        kind, value = outcome
        sender.send(("error", RuntimeError(f"{type(value).__name__}: {value}")))
    finally:
        sender.close()


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"the process died of {signal.Signals(-code).name}"
        except ValueError:
            return f"the process died of signal {-code}"
    return f"the process exited with status {code} without an answer"


def run_isolated(target: Callable[..., Any], args: tuple = (), timeout: float | None = None) -> Any:
    """``target(*args)`` in a spawned process: its return value, or its exception raised here.

    ``target`` and ``args`` must be picklable (a module-level function). A process that dies (a
    segfault, an abort, ``os._exit``) or gives no answer within ``timeout`` seconds (it is killed)
    raises :class:`ChildProcessFailed`, whose message says which.
    """
    context = multiprocessing.get_context("spawn")  # nothing inherited: safe with CUDA and threads
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, target, args), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):  # True also when the child died and closed its end
            process.kill()
            process.join()
            raise ChildProcessFailed(f"no answer after {timeout:g} s (a hang; the process was killed)")
        try:
            kind, value = receiver.recv()
        except EOFError:
            process.join()
            raise ChildProcessFailed(_describe_exit(process.exitcode)) from None
    finally:
        receiver.close()
    process.join()
    if kind == "error":
        raise value
    return value
