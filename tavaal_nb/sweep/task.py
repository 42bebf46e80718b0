"""One task of a sweep, as a back-end runs it: an ordinary run in its own directory, with a log.

:func:`run_task` is what every back-end calls (in this process, in a process of its own, on a
dask worker). It runs, resumes, or skips a finished run of :func:`tavaal_nb.loop.run_experiment`,
appends what it did to ``task.log`` and turns any failure into a :class:`SweepTaskError` that
says whether trying again can help.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tavaal_nb.callbacks import Callback
from tavaal_nb.config import Config
from tavaal_nb.files import open_append
from tavaal_nb.loop import run_experiment
from tavaal_nb.results import RESULTS_NAME, Results
from tavaal_nb.strategies import load_plugins

__all__ = ["run_task", "SweepTaskError", "TaskLog", "append_log", "log_tail", "now", "LOG_NAME", "LOG_TAIL_CHARS"]

LOG_NAME = "task.log"
LOG_TAIL_CHARS = 4000

_RUN_LOCK = threading.Lock()  # one task at a time per process: the engine seeds torch's global RNG


class SweepTaskError(RuntimeError):
    """A task's run raised; carries the worker-side traceback and whether a retry can help.

    ``kind`` is the name of the original exception's class (``"NonFiniteLossError"``, ...).
    """

    def __init__(self, message: str, retriable: bool = True, kind: str = "") -> None:
        super().__init__(message)
        self.retriable = retriable
        self.kind = kind

    def __reduce__(self):  # keeps the attributes through pickling (dask, process pools)
        return (type(self), (self.args[0], self.retriable, self.kind))


def now() -> str:
    """The time in UTC, as logs and the manifest write it."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def append_log(path: Path, text: str) -> None:
    """Append a line to a task's log (never through a symbolic link: see :func:`~tavaal_nb.files.open_append`)."""
    with open_append(path) as handle:
        handle.write(text if text.endswith("\n") else text + "\n")


def log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str | None:
    """The end of a task's log (None when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[-chars:]


class TaskLog(Callback):
    """Writes a line to the task's log after every cycle."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_cycle_end(self, method: str, trial: int, record: dict, selection) -> None:
        append_log(self.path, f"{now()} cycle {record['cycle']}: {record['labeled_size']} labeled, "
                              f"test accuracy {record['test_accuracy']:.2f}%")


def run_task(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Run (or resume, or skip when finished) one task; what back-ends call.

    ``payload``: ``id``, ``dir`` (absolute), ``config`` (a Config dict), ``attempt`` and, optionally,
    ``allow_changed_plugin`` (:func:`~tavaal_nb.loop.run_experiment`'s).
    Returns a small summary; raises :class:`SweepTaskError` (with the traceback) when the
    run raises. Configuration problems and non-finite losses are not retriable: the same
    seeds fail the same way.
    """
    with _RUN_LOCK:
        directory = Path(payload["dir"])
        directory.mkdir(parents=True, exist_ok=True)
        log_path = directory / LOG_NAME
        started = time.perf_counter()
        where = f"{socket.gethostname()} pid {os.getpid()}"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        append_log(log_path, f"{now()} attempt {payload.get('attempt', 1)} of {payload['id']} on {where}"
                             + (f", CUDA_VISIBLE_DEVICES={visible}" if visible is not None else ""))
        try:
            load_plugins()  # the plug-ins the parent named (TAVAAL_PLUGINS), before the method is looked up
            config = Config.from_dict(payload["config"])
            path = directory / RESULTS_NAME
            resumed_from = None
            if path.exists():
                stored = Results.load(path)
                if stored.is_finished():
                    append_log(log_path, f"{now()} already finished: kept as it is")
                    return {"id": payload["id"], "where": where, "seconds": 0.0, "kept": True}
                resumed_from = sum(len(run["cycles"]) for run in stored.runs)
                append_log(log_path, f"{now()} resuming after {resumed_from} finished cycle(s)")
            results = run_experiment(config, directory, resume=path.exists(), progress=False,
                                     callbacks=[TaskLog(log_path)],
                                     allow_changed_plugin=bool(payload.get("allow_changed_plugin", False)))
        except BaseException as error:
            text = traceback.format_exc()
            append_log(log_path, f"{now()} failed:\n{text}")
            if not isinstance(error, Exception):
                raise
            retriable = not isinstance(error, (ValueError, FloatingPointError))
            raise SweepTaskError(f"{type(error).__name__}: {error}\n{text}", retriable,
                                 type(error).__name__) from None
        seconds = round(time.perf_counter() - started, 3)
        run = results.runs[-1]
        final = run["cycles"][-1]["test_accuracy"] if run["cycles"] else None
        append_log(log_path, f"{now()} finished in {seconds} s")
        return {"id": payload["id"], "where": where, "seconds": seconds, "kept": False,
                "resumed_from_cycle": resumed_from, "final_accuracy": final}
