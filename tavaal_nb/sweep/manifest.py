"""The sweep manifest, ``<out>/sweep.json``: what was asked, every attempt of every task, how each ended.

Only the process that drives a sweep writes it, atomically. A task's state is read from its
own ``results.json`` (finished, partial, new, or unusable), so finished runs are never redone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tavaal_nb.files import atomic_write_text
from tavaal_nb.names import inside, safe_name
from tavaal_nb.outdir import SWEEP_NAME, FolderClaim
from tavaal_nb.results import RESULTS_NAME, Results, ResultsFileError, load_results, read_document
from tavaal_nb.stored_config import config_diff
from tavaal_nb.sweep.grid import SweepSpec, SweepTask
from tavaal_nb.sweep.task import LOG_NAME, now

__all__ = ["Sweep", "load_sweep", "task_state", "SWEEP_NAME", "SWEEP_FORMAT", "SWEEP_VERSION"]

SWEEP_FORMAT = "tavaal-nb/sweep"
SWEEP_VERSION = 1


def task_state(spec: SweepSpec, task: SweepTask, directory: Path) -> tuple[str, str | None]:
    """``("finished" | "partial" | "new" | "bad", why)`` from the task's results file."""
    path = directory / task.directory / RESULTS_NAME
    if not path.exists():
        return "new", None
    try:
        stored = Results.load(path)
    except (ResultsFileError, OSError) as error:
        return "bad", f"{error}; move the file away to run this task again"
    differences = config_diff(stored.config, spec.config_for(task).to_dict())
    if differences:
        return "bad", (f"{path} was made with a different configuration:\n  - " + "\n  - ".join(differences)
                       + "\nmove it away to run this task again")
    return ("finished" if stored.is_finished() else "partial"), None


class Sweep:
    """A sweep manifest (``sweep.json``) and helpers to read a sweep directory."""

    def __init__(self, data: dict[str, Any], directory: Path) -> None:
        self.data = data
        self.directory = Path(directory)
        self.claim: FolderClaim | None = None  # set by run_sweep: every save first checks the folder is still ours

    @property
    def path(self) -> Path:
        return self.directory / SWEEP_NAME

    @classmethod
    def new(cls, spec: SweepSpec, directory: Path) -> Sweep:
        return cls({"format": SWEEP_FORMAT, "version": SWEEP_VERSION, "spec": spec.to_dict(), "created": now(),
                    "updated": now(), "sessions": [], "tasks": [], "summary": {}}, directory)

    @classmethod
    def load(cls, directory: str | Path) -> Sweep:
        directory = Path(directory)
        if directory.name == SWEEP_NAME and directory.is_file():
            directory = directory.parent
        path = directory / SWEEP_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no {SWEEP_NAME} in {directory}: not a sweep directory")
        sweep = cls(read_document(path, SWEEP_FORMAT, SWEEP_VERSION, "sweep manifest"), directory)
        problem = sweep._path_problem()
        if problem is not None:
            raise ResultsFileError(f"{path} is refused, nothing in it was opened: {problem}")
        return sweep

    def _path_problem(self) -> str | None:
        """Why the task table points outside the sweep folder (None when every path stays inside).

        A task's ``path`` and ``log`` are opened, and its dataset and method become folders, so an edited
        manifest could otherwise read or write anywhere (``../x``, ``/tmp/x``, a symlink out).
        """
        tasks = self.data.get("tasks")
        if not isinstance(tasks, list) or not all(isinstance(entry, dict) for entry in tasks):
            return "its 'tasks' is not a list of task entries"
        for entry in tasks:
            try:
                for kind in ("dataset", "method"):
                    safe_name(kind, entry.get(kind))
                for key in ("path", "log"):
                    self.task_file(entry, key)
            except ValueError as error:
                return str(error)
        return None

    def save(self) -> Path:
        counts: dict[str, int] = {}
        for entry in self.tasks:
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        self.data["summary"] = counts
        self.data["updated"] = now()
        if self.claim is not None:
            self.claim.check_intact()  # a sweep folder removed or replaced mid-sweep is not recreated
        atomic_write_text(self.path, json.dumps(self.data, indent=1))
        return self.path

    # ------------------------------------------------------------------------- reading
    @property
    def spec(self) -> SweepSpec:
        return SweepSpec.from_dict(self.data["spec"])

    @property
    def tasks(self) -> list[dict[str, Any]]:
        return self.data["tasks"]

    def task(self, task_id: str) -> dict[str, Any]:
        """The task table's entry of ``task_id``; a KeyError naming the known ids when there is none."""
        entry = next((entry for entry in self.tasks if entry["id"] == task_id), None)
        if entry is None:
            example = f", e.g. {self.tasks[0]['id']!r}" if self.tasks else ""
            raise KeyError(f"no task {task_id!r} in {self.path} ({len(self.tasks)} tasks{example})")
        return entry

    def task_file(self, entry: dict[str, Any], key: str) -> Path:
        """A task's ``path`` (its results file) or ``log``, refused when it leads outside the sweep folder."""
        return inside(self.directory, entry.get(key), f"task {entry.get('id')!r} {key}")

    def ids(self, status: str) -> list[str]:
        return [entry["id"] for entry in self.tasks if entry["status"] == status]

    @property
    def finished(self) -> list[str]:
        return self.ids("finished")

    @property
    def failed(self) -> list[str]:
        return self.ids("failed")

    @property
    def complete(self) -> bool:
        return all(entry["status"] == "finished" for entry in self.tasks)

    def results(self, dataset: str | None = None) -> list[Results]:
        """The finished runs' results (optionally of one dataset), in task order."""
        paths = [self.task_file(e, "path") for e in self.tasks
                 if e["status"] == "finished" and (dataset is None or e["dataset"] == dataset)]
        return load_results([p for p in paths if p.is_file()]) if paths else []

    # ------------------------------------------------------------------------- writing
    def plan(self, spec: SweepSpec) -> list[SweepTask]:
        """Rebuild the task table in ``spec``'s order (entries keep their history); return the tasks to run.

        A task whose results file is finished is marked finished, one whose file cannot be
        continued is marked failed (with why); every other one is pending.
        """
        known = {entry["id"]: entry for entry in self.tasks}
        entries, todo = [], []
        for task in spec.tasks():
            entry = known.pop(task.id, None) or {
                "id": task.id, "dataset": task.dataset, "method": task.method, "trial": task.trial,
                "path": (task.directory / RESULTS_NAME).as_posix(), "log": (task.directory / LOG_NAME).as_posix(),
                "status": "pending", "attempts": [],
            }
            entries.append(entry)
            state, why = task_state(spec, task, self.directory)
            entry.pop("failure", None)
            if state == "finished":
                entry["status"] = "finished"
            elif state == "bad":
                entry["status"] = "failed"
                entry["failure"] = {"error": why, "log_tail": None}
            else:
                entry["status"] = "pending"
                todo.append(task)
        entries.extend(known.values())  # tasks of no current grid cell (cannot happen: a sweep only grows)
        self.data["tasks"] = entries
        return todo

    def start_attempt(self, task_id: str) -> int:
        """Record a new attempt of a task as running; returns its number (1, 2, ... over all sessions)."""
        entry = self.task(task_id)
        number = len(entry["attempts"]) + 1
        entry["status"] = "running"
        entry["attempts"].append({"attempt": number, "submitted": now(), "ended": None, "outcome": None})
        return number

    def attempt_failed(self, task_id: str, message: str, final: bool, failure: dict[str, Any]) -> None:
        """The last attempt raised: the task is pending again, or failed (``final``) with ``failure``."""
        entry = self.task(task_id)
        entry["attempts"][-1].update(ended=now(), outcome="error", error=message)
        entry["status"] = "failed" if final else "pending"
        if final:
            entry["failure"] = {"error": message, **failure}

    def attempt_finished(self, task_id: str, outcome: dict[str, Any]) -> None:
        """The last attempt returned ``outcome`` (from :func:`~tavaal_nb.sweep.task.run_task`)."""
        entry = self.task(task_id)
        attempt = entry["attempts"][-1]
        attempt.update(ended=now(), outcome="finished", where=outcome.get("where"), seconds=outcome.get("seconds"))
        if outcome.get("resumed_from_cycle"):
            attempt["resumed_from_cycle"] = outcome["resumed_from_cycle"]
        entry["status"] = "finished"
        entry.pop("failure", None)
        if outcome.get("final_accuracy") is not None:
            entry["final_accuracy"] = outcome["final_accuracy"]
        if not self.task_file(entry, "path").is_file():
            attempt["warning"] = "the results file is not visible here (do the workers share this filesystem?)"

    def release_running(self) -> None:
        """Tasks still marked running (the sweep was interrupted) are pending again."""
        for entry in self.tasks:
            if entry["status"] == "running":
                entry["status"] = "pending"


def load_sweep(directory: str | Path) -> Sweep:
    """Read ``<directory>/sweep.json``."""
    return Sweep.load(directory)
