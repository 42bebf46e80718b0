"""Faults for the orchestration tests, injected by monkeypatching: a task that exits, hangs or raises.

:func:`inject` replaces the function every sweep back-end submits
(``tavaal_nb.sweep.backends.run_task``) with ``run_task_with_faults`` bound to a fault table.
The bound function pickles by reference to this module, so the processes the tests start
(spawned task processes, process pools, dask workers) import it from ``tests/``:
multiprocessing hands its children the parent's ``sys.path``.

A fault: ``{"action": "exit" | "hang" | "raise", "after_cycle": c, "attempts": [1], "code": 17}``,
keyed by task id (``"synthetic/random/trial-0"``; a parallel run's trials are ``"trial-<k>"``).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tavaal_nb.sweep.backends as backends
import tavaal_nb.sweep.task as task_module
from tavaal_nb.callbacks import Callback


class FaultAfterCycle(Callback):
    """Exits the process, or hangs until it is stopped, after a given cycle; says so in the task's log."""

    def __init__(self, fault: Mapping[str, Any], log: Path) -> None:
        self.fault, self.log = fault, log

    def on_cycle_end(self, method: str, trial: int, record: dict, selection) -> None:
        if record["cycle"] != self.fault.get("after_cycle", 0):
            return
        if self.fault["action"] == "exit":
            task_module.append_log(self.log, f"test fault: the process exits after cycle {record['cycle']}")
            os._exit(self.fault.get("code", 17))
        task_module.append_log(self.log, f"test fault: hanging after cycle {record['cycle']}")
        while True:
            time.sleep(0.1)


def run_task_with_faults(faults: Mapping[str, Mapping[str, Any]], payload: Mapping[str, Any]) -> dict[str, Any]:
    """``run_task``, with the fault of ``payload``'s task (if any, and if this attempt is one it hits)."""
    fault = faults.get(payload["id"])
    if not fault or payload.get("attempt", 1) not in fault.get("attempts", [1]):
        return task_module.run_task(payload)
    real = task_module.run_experiment

    def faulty(config, *args, callbacks=(), **kwargs):
        if fault["action"] == "raise":
            raise RuntimeError(f"test fault: attempt {payload.get('attempt', 1)} raises")
        log = Path(payload["dir"]) / task_module.LOG_NAME
        return real(config, *args, callbacks=[*callbacks, FaultAfterCycle(fault, log)], **kwargs)

    task_module.run_experiment = faulty
    try:
        return task_module.run_task(payload)
    finally:
        task_module.run_experiment = real


def inject(monkeypatch, faults: Mapping[str, Mapping[str, Any]]) -> None:
    """Make every back-end run tasks with ``faults`` (undone with ``monkeypatch``; None: for good)."""
    faulty = functools.partial(run_task_with_faults, dict(faults))
    if monkeypatch is None:
        backends.run_task = faulty
    else:
        monkeypatch.setattr(backends, "run_task", faulty)
