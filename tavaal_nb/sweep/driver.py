"""The driver: plan a sweep, submit its tasks to a back-end, collect their outcomes, try failures again.

:func:`execute` is the submit/collect loop shared by every orchestration (a sweep, the parallel
trials of one run); it reports each event to a :class:`Ledger`. :func:`run_sweep` is
plan (the manifest and its task table) -> :func:`execute` -> summary.
"""

from __future__ import annotations

import concurrent.futures as cf
import platform
import queue
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tavaal_nb.errors import ResultsMismatchError
from tavaal_nb.names import no_links
from tavaal_nb.outdir import LOCK_NAME, FolderClaim, claim_folder
from tavaal_nb.sweep.backends import Backend, check_executor, make_backend
from tavaal_nb.sweep.grid import SweepSpec, SweepTask
from tavaal_nb.sweep.manifest import SWEEP_NAME, Sweep
from tavaal_nb.sweep.packing import AUTO, MAX_PROCESSES, auto_parallel_trials, trial_memory_bytes
from tavaal_nb.sweep.task import SweepTaskError, log_tail, now

__all__ = ["Ledger", "execute", "run_sweep", "describe"]


def describe(error: BaseException) -> str:
    """An attempt's error as the manifest and the messages show it."""
    text = str(error).strip()
    name = type(error).__name__
    return text if isinstance(error, SweepTaskError) else (f"{name}: {text}" if text else name)


class Ledger:
    """What an orchestration records as :func:`execute` runs its tasks (override what you need)."""

    def payload(self, task_id: str) -> dict[str, Any]:
        """The payload of the next attempt of ``task_id`` (``id``, ``dir``, ``config``, ``attempt``)."""
        raise NotImplementedError

    def failed(self, task_id: str, error: BaseException, retry: bool, tries: int) -> None:
        """An attempt raised; ``retry`` says whether the task goes back into the queue."""

    def finished(self, task_id: str, outcome: dict[str, Any]) -> None:
        """An attempt returned ``outcome``."""

    def idle(self) -> None:
        """Called about once a second while tasks run."""


def execute(task_ids: Iterable[str], backend: Backend, ledger: Ledger, retries: int = 0) -> None:
    """Run every task on ``backend``, at most ``backend.capacity`` at once.

    A retriable failure (see :class:`SweepTaskError`; a dead worker is retriable) is tried
    again up to ``retries`` times in this call. Returns when every task finished or failed.
    """
    todo = list(task_ids)
    tries: Counter[str] = Counter()
    events: queue.Queue = queue.Queue()
    in_flight = 0
    while todo or in_flight:
        while todo and in_flight < backend.capacity:
            task_id = todo.pop(0)
            tries[task_id] += 1
            try:
                future = backend.submit(ledger.payload(task_id))
            except Exception as error:  # noqa: BLE001 - e.g. a broken process pool: an attempt that failed
                future = cf.Future()
                future.set_exception(error)
            in_flight += 1
            future.add_done_callback(lambda f, _id=task_id: events.put((_id, f)))
        try:
            task_id, future = events.get(timeout=1.0)
        except queue.Empty:
            ledger.idle()
            continue
        in_flight -= 1
        try:
            outcome = future.result()
        except BaseException as error:  # noqa: BLE001 - every failure is recorded
            retry = getattr(error, "retriable", True) and tries[task_id] <= retries
            ledger.failed(task_id, error, retry, tries[task_id])
            if retry:
                todo.append(task_id)
        else:
            ledger.finished(task_id, outcome)


class _SweepLedger(Ledger):
    """Attempts of a sweep, recorded in its manifest (saved after every change) and told to ``say``."""

    def __init__(self, sweep: Sweep, spec: SweepSpec, todo: Sequence[SweepTask], retries: int,
                 say: Callable[[str], None], allow_changed_plugin: bool = False) -> None:
        self.sweep, self.spec, self.retries, self.say = sweep, spec, retries, say
        self.allow_changed_plugin = allow_changed_plugin
        self.tasks = {task.id: task for task in todo}

    def payload(self, task_id: str) -> dict[str, Any]:
        task = self.tasks[task_id]
        number = self.sweep.start_attempt(task_id)
        self.sweep.save()
        entry = self.sweep.task(task_id)
        try:  # checked before anything is written there: a link planted since the sweep was planned is refused
            for key in ("path", "log"):
                no_links(self.sweep.directory, entry[key], f"task {task_id!r} {key}")
        except ValueError as error:
            raise SweepTaskError(str(error), retriable=False, kind="LinkRefusedError") from None
        return {"id": task_id, "dir": str(self.sweep.directory / task.directory),
                "config": self.spec.config_for(task).to_dict(), "attempt": number,
                "allow_changed_plugin": self.allow_changed_plugin}

    def failed(self, task_id: str, error: BaseException, retry: bool, tries: int) -> None:
        message = describe(error)
        entry = self.sweep.task(task_id)
        try:
            tail = log_tail(no_links(self.sweep.directory, entry["log"], "log"))
        except ValueError:
            tail = None  # never read through a link either
        failure = {"attempts_this_session": tries, "log_tail": tail}
        self.sweep.attempt_failed(task_id, message, not retry, failure)
        if retry:
            self.say(f"sweep: {task_id} attempt {len(entry['attempts'])} failed ({message.splitlines()[0]}); "
                     f"trying again ({self.retries + 1 - tries} attempt(s) left)")
        else:
            why = "" if getattr(error, "retriable", True) else " (not retried: it would fail the same way)"
            self.say(f"sweep: {task_id} FAILED after {tries} attempt(s){why}: {message.splitlines()[0]}")
        self.sweep.save()

    def finished(self, task_id: str, outcome: dict[str, Any]) -> None:
        self.sweep.attempt_finished(task_id, outcome)
        self.sweep.save()
        acc, seconds = outcome.get("final_accuracy"), outcome.get("seconds")
        self.say(f"sweep: [{len(self.sweep.finished)}/{len(self.sweep.tasks)}] {task_id} finished"
                 + (f" in {seconds:.1f} s" if seconds is not None else "")
                 + (f", final accuracy {acc:.2f}%" if acc is not None else ""))


def _open_sweep(spec: SweepSpec | None, directory: Path, resume: bool) -> tuple[Sweep, SweepSpec]:
    """The manifest in ``directory`` (continued: ``spec`` may grow it) or a new one."""
    if (directory / SWEEP_NAME).exists():
        if not resume:
            raise FileExistsError(f"{directory} already holds a sweep ({SWEEP_NAME}). Pass --resume to continue it "
                                  "(finished runs are kept), or choose another --out directory.")
        sweep = Sweep.load(directory)
        stored = sweep.spec
        spec = stored if spec is None else spec
        problems = spec.extends(stored)
        if problems:
            raise ResultsMismatchError(f"{directory} holds a sweep that this command cannot continue:\n  - "
                                       + "\n  - ".join(problems)
                                       + "\nRun with the stored settings, or write to another --out directory.")
        spec = spec.merged_with(stored)
        sweep.data["spec"] = spec.to_dict()
        return sweep, spec
    if spec is None:
        raise FileNotFoundError(f"no sweep to resume in {directory} (no {SWEEP_NAME}); give datasets and methods")
    if directory.exists() and any(p.name != LOCK_NAME for p in directory.iterdir()):
        raise FileExistsError(f"{directory} exists and is not a sweep directory (no {SWEEP_NAME}); "
                              "choose another --out directory")
    return Sweep.new(spec, directory), spec


def run_sweep(
    spec: SweepSpec | None,
    out: str | Path,
    executor: str | cf.Executor | Any = "local",
    *,
    resume: bool = False,
    retries: int = 2,
    workers: int | str | None = None,
    scheduler: str | None = None,
    gpus: Sequence[str | int] | None = None,
    log: Callable[[str], None] | None = print,
    allow_changed_plugin: bool = False,
) -> Sweep:
    """Run every task of ``spec`` under ``out`` and return the manifest.

    ``executor``: ``"local"``, ``"dask"`` (with ``scheduler`` or ``workers``), a
    ``distributed.Client``, or any ``concurrent.futures.Executor``. An existing sweep
    directory is refused unless ``resume``: then finished runs are kept untouched,
    unfinished ones are resumed and failed ones tried again; the spec may add datasets,
    methods or trials (``spec=None`` continues the stored one). A failing attempt (an
    exception, or a worker that dies) is tried again up to ``retries`` times in this
    call, then the task is reported as failed in the manifest, with its log; the other
    tasks go on. ``allow_changed_plugin`` lets a task resume after its plug-in's source changed
    (:func:`~tavaal_nb.loop.run_experiment`). ``workers`` ``None`` or ``"auto"``: with the local executor, each GPU runs as many tasks
    at once as its free memory holds (:func:`~tavaal_nb.sweep.packing.auto_parallel_trials`; one
    process per GPU, or this process, when that is 1, as on the CPU); with dask, the LocalCluster's default.
    """
    say = log or (lambda _text: None)
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if workers == AUTO:
        workers = None
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool)
                                or not 1 <= workers <= MAX_PROCESSES):
        raise ValueError(f"workers must be auto or a positive integer of at most {MAX_PROCESSES}, got {workers!r}")
    check_executor(executor, scheduler, gpus)
    directory = Path(out).resolve()
    with claim_folder(directory, "sweep") as claim:  # one sweep per folder; each task claims its own run folder
        return _run_claimed(spec, directory, executor, resume, retries, workers, scheduler, gpus, say, claim,
                            allow_changed_plugin)


def _run_claimed(spec: SweepSpec | None, directory: Path, executor: str | cf.Executor | Any, resume: bool,
                 retries: int, workers: int | None, scheduler: str | None, gpus: Sequence[str | int] | None,
                 say: Callable[[str], None], claim: FolderClaim | None = None,
                 allow_changed_plugin: bool = False) -> Sweep:
    """The body of :func:`run_sweep`, once ``directory`` is claimed (``claim``)."""
    # plan
    sweep, spec = _open_sweep(spec, directory, resume)
    sweep.claim = claim
    todo = sweep.plan(spec)
    session = {"started": now(), "host": socket.gethostname(), "python": platform.python_version(),
               "resume": bool(resume), "retries": retries, "executor": None, "ended": None}
    sweep.data["sessions"].append(session)
    directory.mkdir(parents=True, exist_ok=True)
    sweep.save()
    if sweep.finished:
        say(f"sweep: {len(sweep.finished)} of {len(sweep.tasks)} runs already finished: kept")
    for entry in sweep.tasks:
        if entry["status"] == "failed":
            say(f"sweep: {entry['id']} cannot run: {entry['failure']['error']}")
    # submit and collect
    backend, interrupted = None, False
    try:
        if todo:
            per_gpu = 1
            if executor == "local" and workers is None:  # auto: pack tasks onto each GPU while memory allows
                biggest = max((spec.config_for(task) for task in todo), key=trial_memory_bytes)
                per_gpu = auto_parallel_trials(biggest, len(todo))
            backend = make_backend(executor, workers, scheduler, gpus, spec.overrides.get("device"), per_gpu)
            session["executor"] = backend.name
            say(f"sweep: {len(todo)} run(s) to do on {backend.name}, writing {directory}")
            execute([task.id for task in todo], backend, _SweepLedger(sweep, spec, todo, retries, say, allow_changed_plugin), retries)
    except BaseException:
        interrupted = True
        raise
    finally:
        sweep.release_running()
        session["ended"] = now()
        session["interrupted"] = interrupted
        sweep.save()
        if backend is not None:
            backend.close(cancel=interrupted)
    # summary
    failed = sweep.failed
    say(f"sweep: {len(sweep.finished)} of {len(sweep.tasks)} runs finished"
        + (f", {len(failed)} failed: {', '.join(failed)} (see {sweep.path}; fix the cause, then --resume)"
           if failed else ""))
    return sweep
