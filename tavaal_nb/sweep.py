"""Sweeps: every (dataset, method, trial) of an experiment grid, on one machine or a cluster, resumable.

A sweep is a directory::

    <out>/sweep.json                                   the manifest (format ``tavaal-nb/sweep``)
    <out>/<dataset>/<method>/trial-<k>/results.json    one ordinary engine run per task
    <out>/<dataset>/<method>/trial-<k>/task.log        what each attempt of that task did

Each task is an ordinary :func:`tavaal_nb.loop.run_experiment` call with a Config of one
method and one trial (``trials=1, first_trial=k``), so a single run of a sweep can be
opened, resumed (``python -m tavaal_nb run ... --resume``) and plotted like any other, and
its records are exactly those of trial ``k`` of an ordinary multi-trial, multi-method run
with the same seed: the engine derives the initial labeled set from ``(seed, dataset,
trial)`` (shared by every method of a trial, so the comparison stays paired) and
everything else from ``(seed, dataset, method, trial, cycle)`` (adding a method changes
no other method's records).

The manifest says what was asked (datasets, methods, trials, preset, overrides, seed),
every attempt of every task (when, where, how it ended) and which tasks finished or
failed (with the tail of their log). Only the process that drives the sweep writes it,
atomically. Finished runs are never recomputed or overwritten: a task whose
``results.json`` is finished is skipped, an unfinished one is resumed.

Executors (``run_sweep(executor=...)``):

* ``"local"`` (default): one process per GPU when several are visible (each with its own
  ``CUDA_VISIBLE_DEVICES``), otherwise the tasks run one after another in this process;
  ``workers=N`` asks for N processes instead.
* ``"dask"``: a dask.distributed cluster at ``scheduler`` (``tcp://host:8786``), or a
  ``LocalCluster`` on 127.0.0.1 with ``workers`` single-threaded worker processes.
  A ``distributed.Client`` may be passed directly. Needs the ``dask`` extra.
* any :class:`concurrent.futures.Executor` (``ProcessPoolExecutor``, a SLURM or Ray
  executor with that interface): ``run_task`` and its payload (a dict) are submitted.

Workers must see the sweep directory at the same path (one machine, or a shared filesystem).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import datetime as _dt
import json
import os
import platform
import queue
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tavaal_nb.config import Config, config_diff, make_config, resolve_preset
from tavaal_nb.errors import ResultsMismatchError
from tavaal_nb.results import RESULTS_NAME, Results, ResultsFileError, atomic_write_text, load_results, read_document

__all__ = [
    "SweepSpec", "SweepTask", "Sweep", "SweepTaskError", "MissingExtraError", "run_sweep", "run_task",
    "load_sweep", "SWEEP_NAME", "SWEEP_FORMAT", "LOG_NAME", "DASK_EXTRA",
]

SWEEP_NAME = "sweep.json"
SWEEP_FORMAT = "tavaal-nb/sweep"
SWEEP_VERSION = 1
LOG_NAME = "task.log"
DASK_EXTRA = "pip install 'tavaal-nb[dask]'"
LOG_TAIL_CHARS = 4000

# Config fields a sweep sets itself, per task; they cannot be overrides.
RESERVED = ("dataset", "methods", "trials", "first_trial", "seed", "preset")
# Overrides that only say where a task executes: they may change on --resume (as for `run --resume`).
EXECUTION_ONLY = ("device", "data_dir")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a,b"``, ``["a", "b,c"]`` -> ``("a", "b", "c")``."""
    if value is None:
        return ()
    chunks = [value] if isinstance(value, str) else list(value)
    return tuple(name.strip() for chunk in chunks for name in str(chunk).split(",") if name.strip())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


class MissingExtraError(RuntimeError):
    """An optional dependency is not installed; the message names the extra to install."""


class SweepTaskError(RuntimeError):
    """A task's run raised; carries the worker-side traceback and whether a retry can help."""

    def __init__(self, message: str, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable

    def __reduce__(self):  # keeps ``retriable`` through pickling (dask, process pools)
        return (type(self), (self.args[0], self.retriable))


# ---------------------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class SweepTask:
    """One (dataset, method, trial) of a sweep."""

    dataset: str
    method: str
    trial: int

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.method}/trial-{self.trial}"

    @property
    def directory(self) -> Path:
        """Relative to the sweep directory."""
        return Path(self.dataset) / self.method / f"trial-{self.trial}"


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep asks for: a grid of datasets x methods x trials on one preset.

    ``overrides`` are Config fields applied to every task (``{"epochs": 20}``); ``preset``
    ``None`` / ``"auto"`` is resolved here, where the sweep is launched; ``trials`` and
    ``seed`` ``None`` take the preset's values. Every task's Config is built and checked
    on creation, so unknown names and invalid values fail before anything runs.
    """

    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    trials: int | None = None
    preset: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        problems: list[str] = []
        datasets, methods = _names(self.datasets), _names(self.methods)
        object.__setattr__(self, "datasets", datasets)
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "preset", resolve_preset(self.preset))
        overrides = {k: v for k, v in dict(self.overrides or {}).items() if v is not None}
        reserved = sorted(set(overrides) & set(RESERVED))
        if reserved:
            problems.append(f"overrides cannot set {reserved}: a sweep sets them per task "
                            "(use datasets=, methods=, trials=, seed=, preset=)")
            overrides = {k: v for k, v in overrides.items() if k not in RESERVED}
        object.__setattr__(self, "overrides", _jsonable(overrides))
        base = make_config(self.preset)
        object.__setattr__(self, "trials", base.trials if self.trials is None else self.trials)
        object.__setattr__(self, "seed", base.seed if self.seed is None else self.seed)
        if not datasets:
            problems.append("no datasets given (see `python -m tavaal_nb datasets`)")
        if not methods:
            problems.append("no methods given (see `python -m tavaal_nb methods`)")
        for kind, names in (("datasets", datasets), ("methods", methods)):
            if len(set(names)) != len(names):
                problems.append(f"{kind} repeat a name: {list(names)}")
        if not isinstance(self.trials, int) or isinstance(self.trials, bool) or self.trials < 1:
            problems.append(f"trials must be a positive integer, got {self.trials!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            problems.append(f"seed must be an integer, got {self.seed!r}")
        if not problems:
            seen: set[str] = set()
            for dataset in datasets:  # one Config per (dataset, method) checks every name and value
                for method in methods:
                    try:
                        self.config_for(SweepTask(dataset, method, 0))
                    except ValueError as error:
                        for line in str(error).splitlines():
                            line = line.strip().removeprefix("- ")
                            if line and line != "invalid configuration:" and line not in seen:
                                seen.add(line)
                                problems.append(line)
        if problems:
            raise ValueError("invalid sweep:\n  - " + "\n  - ".join(problems))

    def tasks(self) -> list[SweepTask]:
        """Every task, trial by trial (a sweep stopped early leaves whole trials)."""
        return [SweepTask(d, m, t) for d in self.datasets for t in range(self.trials) for m in self.methods]

    def config_for(self, task: SweepTask) -> Config:
        """The engine Config of one task: one method, one trial (``first_trial=task.trial``)."""
        return make_config(self.preset, dataset=task.dataset, methods=(task.method,), trials=1,
                           first_trial=task.trial, seed=self.seed, **self.overrides)

    def to_dict(self) -> dict[str, Any]:
        return {"datasets": list(self.datasets), "methods": list(self.methods), "trials": self.trials,
                "preset": self.preset, "overrides": dict(self.overrides), "seed": self.seed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        return cls(datasets=tuple(data["datasets"]), methods=tuple(data["methods"]), trials=data["trials"],
                   preset=data["preset"], overrides=dict(data.get("overrides") or {}), seed=data["seed"])

    def extends(self, stored: SweepSpec) -> list[str]:
        """Why this spec cannot continue ``stored`` (empty when it can).

        A resumed sweep may add datasets, methods and trials; the preset, the seed and
        the overrides (except where tasks execute: device, data_dir) must stay.
        """
        problems = []
        if self.preset != stored.preset:
            problems.append(f"preset: the sweep has {stored.preset!r}, this command has {self.preset!r}")
        if self.seed != stored.seed:
            problems.append(f"seed: the sweep has {stored.seed!r}, this command has {self.seed!r}")
        for key in sorted(set(self.overrides) | set(stored.overrides)):
            if key in EXECUTION_ONLY:
                continue
            a, b = stored.overrides.get(key, "<preset value>"), self.overrides.get(key, "<preset value>")
            if a != b:
                problems.append(f"override {key}: the sweep has {a!r}, this command has {b!r}")
        for kind in ("datasets", "methods"):
            dropped = [n for n in getattr(stored, kind) if n not in getattr(self, kind)]
            if dropped:
                problems.append(f"{kind}: {dropped} are in the sweep but not in this command (a sweep can grow, not shrink)")
        if self.trials < stored.trials:
            problems.append(f"trials: the sweep has {stored.trials}, this command has {self.trials} (it can grow, not shrink)")
        return problems

    def merged_with(self, stored: SweepSpec) -> SweepSpec:
        """This spec with ``stored``'s datasets and methods first, in their order."""
        datasets = stored.datasets + tuple(d for d in self.datasets if d not in stored.datasets)
        methods = stored.methods + tuple(m for m in self.methods if m not in stored.methods)
        return dataclasses.replace(self, datasets=datasets, methods=methods, preset=self.preset)


# ------------------------------------------------------------------------------------ the manifest
class Sweep:
    """A sweep manifest (``sweep.json``) and helpers to read a sweep directory."""

    def __init__(self, data: dict[str, Any], directory: Path) -> None:
        self.data = data
        self.directory = Path(directory)

    @property
    def path(self) -> Path:
        return self.directory / SWEEP_NAME

    @classmethod
    def new(cls, spec: SweepSpec, directory: Path) -> Sweep:
        return cls({"format": SWEEP_FORMAT, "version": SWEEP_VERSION, "spec": spec.to_dict(), "created": _now(),
                    "updated": _now(), "sessions": [], "tasks": [], "summary": {}}, directory)

    @classmethod
    def load(cls, directory: str | Path) -> Sweep:
        directory = Path(directory)
        if directory.name == SWEEP_NAME and directory.is_file():
            directory = directory.parent
        path = directory / SWEEP_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no {SWEEP_NAME} in {directory}: not a sweep directory")
        return cls(read_document(path, SWEEP_FORMAT, SWEEP_VERSION, "sweep manifest"), directory)

    def save(self) -> Path:
        counts: dict[str, int] = {}
        for entry in self.tasks:
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        self.data["summary"] = counts
        self.data["updated"] = _now()
        atomic_write_text(self.path, json.dumps(self.data, indent=1))
        return self.path

    @property
    def spec(self) -> SweepSpec:
        return SweepSpec.from_dict(self.data["spec"])

    @property
    def tasks(self) -> list[dict[str, Any]]:
        return self.data["tasks"]

    def task(self, task_id: str) -> dict[str, Any] | None:
        return next((entry for entry in self.tasks if entry["id"] == task_id), None)

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
        paths = [self.directory / e["path"] for e in self.tasks
                 if e["status"] == "finished" and (dataset is None or e["dataset"] == dataset)]
        return load_results([p for p in paths if p.is_file()]) if paths else []


def load_sweep(directory: str | Path) -> Sweep:
    """Read ``<directory>/sweep.json``."""
    return Sweep.load(directory)


# ------------------------------------------------------------------------------ the worker's side
_RUN_LOCK = threading.Lock()  # one task at a time per process: the engine seeds torch's global RNG


def _append_log(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")


def _log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[-chars:]


def _task_log_callback(log_path: Path, fault: Mapping[str, Any] | None):
    from tavaal_nb.loop import Callback

    class _TaskLog(Callback):
        def on_cycle_end(self, method: str, trial: int, record: dict, selection) -> None:
            _append_log(log_path, f"{_now()} cycle {record['cycle']}: {record['labeled_size']} labeled, "
                                  f"test accuracy {record['test_accuracy']:.2f}%")
            if fault and fault.get("after_cycle") == record["cycle"]:
                if fault.get("action") == "exit":  # test hook: the worker process dies mid-task
                    _append_log(log_path, f"{_now()} test fault: the process exits after cycle {record['cycle']}")
                    os._exit(17)
                if fault.get("action") == "hang":  # test hook: stays here until killed
                    _append_log(log_path, f"{_now()} test fault: hanging after cycle {record['cycle']}")
                    while True:
                        time.sleep(0.2)

    return _TaskLog()


def run_task(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Run (or resume, or skip when finished) one task; what executors call.

    ``payload``: ``id``, ``dir`` (absolute), ``config`` (a Config dict), ``attempt`` and
    optionally a test ``fault``. Returns a small summary; raises :class:`SweepTaskError`
    (with the traceback) when the run raises.
    """
    with _RUN_LOCK:
        directory = Path(payload["dir"])
        directory.mkdir(parents=True, exist_ok=True)
        log_path = directory / LOG_NAME
        fault = payload.get("fault")
        started = time.perf_counter()
        where = f"{socket.gethostname()} pid {os.getpid()}"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        _append_log(log_path, f"{_now()} attempt {payload.get('attempt', 1)} of {payload['id']} on {where}"
                              + (f", CUDA_VISIBLE_DEVICES={visible}" if visible is not None else ""))
        try:
            if fault and fault.get("action") == "raise":
                raise RuntimeError(f"test fault: attempt {payload.get('attempt', 1)} raises")
            from tavaal_nb.loop import run_experiment

            config = Config.from_dict(payload["config"])
            path = directory / RESULTS_NAME
            resumed_from = None
            if path.exists():
                stored = Results.load(path)
                if stored.is_finished():
                    _append_log(log_path, f"{_now()} already finished: kept as it is")
                    return {"id": payload["id"], "where": where, "seconds": 0.0, "kept": True}
                resumed_from = sum(len(run["cycles"]) for run in stored.runs)
                _append_log(log_path, f"{_now()} resuming after {resumed_from} finished cycle(s)")
            results = run_experiment(config, directory, resume=path.exists(), progress=False,
                                     callbacks=[_task_log_callback(log_path, fault)])
        except BaseException as error:
            text = traceback.format_exc()
            _append_log(log_path, f"{_now()} failed:\n{text}")
            if not isinstance(error, Exception):
                raise
            # configuration problems and non-finite losses repeat identically (same seeds): no retry
            retriable = not isinstance(error, (ValueError, FloatingPointError))
            raise SweepTaskError(f"{type(error).__name__}: {error}\n{text}", retriable) from None
        seconds = round(time.perf_counter() - started, 3)
        run = results.runs[-1]
        final = run["cycles"][-1]["test_accuracy"] if run["cycles"] else None
        _append_log(log_path, f"{_now()} finished in {seconds} s")
        return {"id": payload["id"], "where": where, "seconds": seconds, "kept": False,
                "resumed_from_cycle": resumed_from, "final_accuracy": final}


# --------------------------------------------------------------------------------------- backends
class _Backend:
    name = "?"
    capacity = 1 << 30

    def submit(self, payload: dict[str, Any]):  # returns a future with add_done_callback / result
        raise NotImplementedError

    def close(self, cancel: bool = False) -> None: ...


class _InlineBackend(_Backend):
    """Tasks one after another in this process (a crash stops the sweep; --resume continues it)."""

    name = "local (in this process)"
    capacity = 1

    def submit(self, payload):
        future: cf.Future = cf.Future()
        try:
            future.set_result(run_task(payload))
        except Exception as error:  # noqa: BLE001 - reported through the future
            future.set_exception(error)
        return future


class _ExecutorBackend(_Backend):
    """Any concurrent.futures.Executor (its futures are plain concurrent.futures ones)."""

    def __init__(self, executor: cf.Executor) -> None:
        self.executor = executor
        self.name = f"executor {type(executor).__module__}.{type(executor).__name__}"

    def submit(self, payload):
        return self.executor.submit(run_task, payload)


class _ProcessBackend(_Backend):
    """A process per task, at most one per slot; a slot may pin a GPU (CUDA_VISIBLE_DEVICES)."""

    def __init__(self, slots: Sequence[str | None]) -> None:
        self.slots: queue.Queue = queue.Queue()
        for slot in slots:
            self.slots.put(slot)
        self.capacity = len(slots)
        self.pool = cf.ThreadPoolExecutor(len(slots), thread_name_prefix="tavaal-sweep")
        self.processes: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        gpus = [s for s in slots if s is not None]
        self.name = (f"local ({len(slots)} processes, GPUs {','.join(gpus)})" if gpus
                     else f"local ({len(slots)} processes)")

    def submit(self, payload):
        return self.pool.submit(self._run, payload)

    def _run(self, payload: dict[str, Any]) -> dict[str, Any]:
        slot = self.slots.get()
        try:
            directory = Path(payload["dir"])
            directory.mkdir(parents=True, exist_ok=True)
            stem = f".task-attempt-{payload['attempt']}"
            payload_file, result_file = directory / f"{stem}.json", directory / f"{stem}.result.json"
            atomic_write_text(payload_file, json.dumps(payload))
            result_file.unlink(missing_ok=True)
            env = dict(os.environ)
            package_root = str(Path(__file__).resolve().parents[1])
            env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
            if slot is not None:
                env["CUDA_VISIBLE_DEVICES"] = slot
            command = [sys.executable, "-m", "tavaal_nb.sweep", str(payload_file), str(result_file)]
            with open(directory / LOG_NAME, "a", encoding="utf-8") as log:
                process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL)
                with self.lock:
                    self.processes.add(process)
                try:
                    code = process.wait()
                finally:
                    with self.lock:
                        self.processes.discard(process)
            outcome = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else None
            payload_file.unlink(missing_ok=True)
            result_file.unlink(missing_ok=True)
            if outcome is not None and outcome.get("ok"):
                return outcome["result"]
            if outcome is not None:
                raise SweepTaskError(outcome["error"], outcome.get("retriable", True))
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise RuntimeError(f"the task's process {how} before it reported a result")
        finally:
            self.slots.put(slot)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            with self.lock:
                for process in list(self.processes):
                    process.terminate()
        self.pool.shutdown(wait=True, cancel_futures=cancel)


class _DaskBackend(_Backend):
    """A dask.distributed Client (ours, on a LocalCluster or a scheduler address, or the caller's)."""

    def __init__(self, client, cluster=None, owned: bool = False) -> None:
        self.client, self.cluster, self.owned = client, cluster, owned
        self.futures: list = []
        where = getattr(client, "scheduler", None)
        address = getattr(where, "address", None) or "?"
        self.name = f"dask ({'LocalCluster ' if cluster is not None else ''}{address})"

    def submit(self, payload):
        key = f"tavaal-sweep-{payload['id'].replace('/', ':')}-attempt{payload['attempt']}-{os.urandom(4).hex()}"
        future = self.client.submit(run_task, payload, key=key, pure=False)
        self.futures.append(future)
        return future

    def close(self, cancel: bool = False) -> None:
        try:
            if cancel:
                pending = [f for f in self.futures if not f.done()]
                if pending:
                    self.client.cancel(pending)
        finally:
            self.futures.clear()
            if self.owned:
                self.client.close()
                if self.cluster is not None:
                    self.cluster.close()


def _import_distributed():
    try:
        import distributed
    except ImportError as error:
        raise MissingExtraError(
            f"the dask executor needs dask.distributed, which is not installed ({error}); "
            f"install the extra with: {DASK_EXTRA}   (or use --executor local)"
        ) from error
    return distributed


def _dask_backend(scheduler: str | None, workers: int | None) -> _DaskBackend:
    distributed = _import_distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except OSError as error:
            raise RuntimeError(f"cannot reach the dask scheduler at {scheduler}: {error}") from error
        return _DaskBackend(client, owned=True)
    import logging

    n = workers if workers else max(1, _gpu_count() or (os.cpu_count() or 2) // 2)
    # allowed_failures=0: a worker death fails the attempt at once; run_sweep's own retries count it
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=logging.ERROR,
                                       scheduler_kwargs={"allowed_failures": 0})
    try:
        client = distributed.Client(cluster)
    except BaseException:
        cluster.close()
        raise
    return _DaskBackend(client, cluster, owned=True)


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - no usable CUDA means no GPUs
        return 0


def _local_backend(workers: int | None, gpus: Sequence[str | int] | None, device: str | None) -> _Backend:
    """One process per GPU when several are visible (or ``gpus`` names some), ``workers``
    processes when asked, else this process."""
    explicit = gpus is not None
    if gpus is None:
        gpus = []
        # a named device (cpu, cuda:N) is used as it is: no process per GPU
        count = 0 if device == "cpu" or str(device).startswith("cuda:") else _gpu_count()
        if count:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            ids = [g.strip() for g in visible.split(",") if g.strip()] if visible else []
            gpus = ids[:count] if ids else [str(k) for k in range(count)]
    gpus = [str(g) for g in gpus]
    n = workers or (len(gpus) if len(gpus) > 1 or explicit else 1)
    if n == 1 and not explicit:
        return _InlineBackend()
    slots = [gpus[k % len(gpus)] for k in range(n)] if gpus else [None] * n
    return _ProcessBackend(slots)


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__name__ == "Client" and type(obj).__module__.startswith("distributed")


# ------------------------------------------------------------------------------------- the driver
def _task_state(spec: SweepSpec, task: SweepTask, directory: Path) -> tuple[str, str | None]:
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


def run_sweep(
    spec: SweepSpec | None,
    out: str | Path,
    executor: str | cf.Executor | Any = "local",
    *,
    resume: bool = False,
    retries: int = 2,
    workers: int | None = None,
    scheduler: str | None = None,
    gpus: Sequence[str | int] | None = None,
    log: Callable[[str], None] | None = print,
    _faults: Mapping[str, Mapping[str, Any]] | None = None,
) -> Sweep:
    """Run every task of ``spec`` under ``out`` and return the manifest.

    ``executor``: ``"local"``, ``"dask"`` (with ``scheduler`` or ``workers``), a
    ``distributed.Client``, or any ``concurrent.futures.Executor``. An existing sweep
    directory is refused unless ``resume``: then finished runs are kept untouched,
    unfinished ones are resumed and failed ones tried again; the spec may add datasets,
    methods or trials (``spec=None`` continues the stored one). A failing attempt (an
    exception, or a worker that dies) is tried again up to ``retries`` times in this
    call, then the task is reported as failed in the manifest, with its log; the other
    tasks go on. ``_faults`` is a test hook: ``{task_id: {"action": "exit" | "hang" |
    "raise", "after_cycle": c, "attempts": [1]}}``.
    """
    say = log or (lambda _text: None)
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if isinstance(executor, str) and executor not in ("local", "dask"):
        raise ValueError(f"unknown executor {executor!r}; valid: local, dask (or pass a concurrent.futures.Executor)")
    if scheduler and executor != "dask":
        raise ValueError("--scheduler is for --executor dask")
    if gpus is not None and executor != "local":
        raise ValueError("--gpus is for --executor local (dask workers choose their own GPUs)")
    if executor == "dask":
        _import_distributed()  # a missing extra is said before anything is written
    elif not (executor == "local" or _is_dask_client(executor) or isinstance(executor, cf.Executor)):
        raise TypeError(f"executor must be 'local', 'dask', a distributed.Client or a concurrent.futures.Executor, "
                        f"not {type(executor).__name__}")
    directory = Path(out).resolve()
    manifest_path = directory / SWEEP_NAME
    if manifest_path.exists():
        if not resume:
            raise FileExistsError(f"{directory} already holds a sweep ({SWEEP_NAME}). Pass --resume to continue it "
                                  "(finished runs are kept), or choose another --out directory.")
        sweep = Sweep.load(directory)
        stored = sweep.spec
        if spec is None:
            spec = stored
        problems = spec.extends(stored)
        if problems:
            raise ResultsMismatchError(f"{directory} holds a sweep that this command cannot continue:\n  - "
                                       + "\n  - ".join(problems)
                                       + "\nRun with the stored settings, or write to another --out directory.")
        spec = spec.merged_with(stored)
        sweep.data["spec"] = spec.to_dict()
    else:
        if spec is None:
            raise FileNotFoundError(f"no sweep to resume in {directory} (no {SWEEP_NAME}); give datasets and methods")
        if directory.exists() and any(directory.iterdir()):
            raise FileExistsError(f"{directory} exists and is not a sweep directory (no {SWEEP_NAME}); "
                                  "choose another --out directory")
        sweep = Sweep.new(spec, directory)

    # the task table, in spec order; existing entries keep their history
    known = {entry["id"]: entry for entry in sweep.tasks}
    entries = []
    todo: deque[SweepTask] = deque()
    for task in spec.tasks():
        entry = known.pop(task.id, None) or {
            "id": task.id, "dataset": task.dataset, "method": task.method, "trial": task.trial,
            "path": (task.directory / RESULTS_NAME).as_posix(), "log": (task.directory / LOG_NAME).as_posix(),
            "status": "pending", "attempts": [],
        }
        entries.append(entry)
        state, why = _task_state(spec, task, directory)
        if state == "finished":
            if entry["status"] != "finished":
                entry["status"] = "finished"
                entry.pop("failure", None)
            continue
        if state == "bad":
            entry["status"] = "failed"
            entry["failure"] = {"error": why, "log_tail": None}
            continue
        entry["status"] = "pending"
        entry.pop("failure", None)
        todo.append(task)
    entries.extend(known.values())  # tasks of no current grid cell (cannot happen: a sweep only grows)
    sweep.data["tasks"] = entries
    session = {"started": _now(), "host": socket.gethostname(), "python": platform.python_version(),
               "resume": bool(resume), "retries": retries, "executor": None, "ended": None}
    sweep.data["sessions"].append(session)
    directory.mkdir(parents=True, exist_ok=True)
    sweep.save()
    total = len(entries)
    kept = len(sweep.finished)
    if kept:
        say(f"sweep: {kept} of {total} runs already finished: kept")
    for entry in entries:
        if entry["status"] == "failed":
            say(f"sweep: {entry['id']} cannot run: {entry['failure']['error']}")

    backend: _Backend | None = None
    owned_backend = True
    by_id = {entry["id"]: entry for entry in entries}
    tasks = {task.id: task for task in spec.tasks()}
    session_attempts: dict[str, int] = {}
    events: queue.Queue = queue.Queue()
    in_flight: dict[tuple[str, int], Any] = {}
    interrupted = False
    try:
        while todo or in_flight:
            while todo and (backend is None or len(in_flight) < backend.capacity):
                if backend is None:
                    backend, owned_backend = _make_backend(executor, workers, scheduler, gpus, spec)
                    session["executor"] = backend.name
                    say(f"sweep: {len(todo)} run(s) to do on {backend.name}, writing {directory}")
                    if len(in_flight) >= backend.capacity:
                        break
                task = todo.popleft()
                entry = by_id[task.id]
                session_attempts[task.id] = session_attempts.get(task.id, 0) + 1
                number = len(entry["attempts"]) + 1
                fault = (_faults or {}).get(task.id)
                if fault is not None and session_attempts[task.id] not in fault.get("attempts", [1]):
                    fault = None
                payload = {"id": task.id, "dir": str(directory / task.directory),
                           "config": spec.config_for(task).to_dict(), "attempt": number, "fault": fault}
                entry["status"] = "running"
                entry["attempts"].append({"attempt": number, "submitted": _now(), "ended": None, "outcome": None})
                sweep.save()
                try:
                    future = backend.submit(payload)
                except Exception as error:  # noqa: BLE001 - e.g. a broken process pool
                    future = cf.Future()
                    future.set_exception(error)
                key = (task.id, number)
                in_flight[key] = future
                future.add_done_callback(lambda f, _key=key: events.put((_key, f)))
            if not in_flight:
                continue
            try:
                (task_id, number), future = events.get(timeout=1.0)
            except queue.Empty:
                continue
            in_flight.pop((task_id, number), None)
            entry = by_id[task_id]
            attempt = entry["attempts"][-1]
            attempt["ended"] = _now()
            try:
                outcome = future.result()
            except BaseException as error:  # noqa: BLE001 - every failure is recorded
                message = _describe(error)
                attempt.update(outcome="error", error=message)
                retriable = getattr(error, "retriable", True)
                left = retries + 1 - session_attempts[task_id]
                if retriable and left > 0:
                    say(f"sweep: {task_id} attempt {number} failed ({message.splitlines()[0]}); "
                        f"trying again ({left} attempt(s) left)")
                    entry["status"] = "pending"
                    todo.append(tasks[task_id])
                else:
                    tail = _log_tail(directory / entry["log"])
                    entry["status"] = "failed"
                    entry["failure"] = {"error": message, "attempts_this_session": session_attempts[task_id],
                                        "log_tail": tail}
                    why = "" if retriable else " (not retried: it would fail the same way)"
                    say(f"sweep: {task_id} FAILED after {session_attempts[task_id]} attempt(s){why}: "
                        f"{message.splitlines()[0]}")
            else:
                attempt.update(outcome="finished", where=outcome.get("where"), seconds=outcome.get("seconds"))
                if outcome.get("resumed_from_cycle"):
                    attempt["resumed_from_cycle"] = outcome["resumed_from_cycle"]
                entry["status"] = "finished"
                entry.pop("failure", None)
                if outcome.get("final_accuracy") is not None:
                    entry["final_accuracy"] = outcome["final_accuracy"]
                if not (directory / entry["path"]).is_file():
                    attempt["warning"] = "the results file is not visible here (do the workers share this filesystem?)"
                done = len(sweep.finished)
                acc = outcome.get("final_accuracy")
                say(f"sweep: [{done}/{total}] {task_id} finished"
                    + (f" in {outcome['seconds']:.1f} s" if outcome.get("seconds") is not None else "")
                    + (f", final accuracy {acc:.2f}%" if acc is not None else ""))
            sweep.save()
    except BaseException:
        interrupted = True
        raise
    finally:
        for entry in entries:
            if entry["status"] == "running":
                entry["status"] = "pending"
        session["ended"] = _now()
        session["interrupted"] = interrupted
        sweep.save()
        if backend is not None and owned_backend:
            backend.close(cancel=interrupted)
        elif backend is not None and interrupted:
            for future in in_flight.values():
                future.cancel()
    failed = sweep.failed
    say(f"sweep: {len(sweep.finished)} of {total} runs finished"
        + (f", {len(failed)} failed: {', '.join(failed)} (see {manifest_path}; fix the cause, then --resume)"
           if failed else ""))
    return sweep


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    name = type(error).__name__
    return text if isinstance(error, SweepTaskError) else (f"{name}: {text}" if text else name)


def _make_backend(executor, workers, scheduler, gpus, spec: SweepSpec) -> tuple[_Backend, bool]:
    if executor == "local":
        return _local_backend(workers, gpus, spec.overrides.get("device")), True
    if executor == "dask":
        return _dask_backend(scheduler, workers), True
    if _is_dask_client(executor):
        return _DaskBackend(executor), False
    if isinstance(executor, cf.Executor):
        return _ExecutorBackend(executor), False
    raise TypeError(f"executor must be 'local', 'dask', a distributed.Client or a concurrent.futures.Executor, "
                    f"not {type(executor).__name__}")


# ------------------------------------------------------------------------------------ command line
def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``python -m tavaal_nb sweep`` on the CLI's sub-parsers."""
    from tavaal_nb.cli import _flag_type
    from tavaal_nb.config import PRESET_HELP

    parser = subparsers.add_parser(
        "sweep", help="every (dataset, method, trial) of a grid, locally or on dask; resumable",
        description="One ordinary run per (dataset, method, trial) under --out/<dataset>/<method>/trial-<k>/, "
                    "plus --out/sweep.json. Finished runs are never recomputed; --resume continues.")
    parser.add_argument("--datasets", action="append", help="dataset name(s), comma-separated (see `datasets`)")
    parser.add_argument("--methods", action="append", help="method name(s), comma-separated (see `methods`)")
    parser.add_argument("--trials", type=int, default=None, help="trials per (dataset, method) (default: the preset's)")
    parser.add_argument("--seed", type=int, default=None, help="the sweep seed (default: the preset's, 0)")
    parser.add_argument("--preset", default=None, help=f"one of {', '.join(PRESET_HELP)} (default: $TAVAAL_PRESET or auto)")
    parser.add_argument("--out", required=True, type=Path, help="the sweep directory")
    parser.add_argument("--resume", action="store_true",
                        help="continue the sweep in --out: finished runs are kept, the rest run (datasets, "
                             "methods and trials may be added; without --datasets/--methods the stored ones)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="local: a process per GPU (or this process); dask: a dask.distributed cluster")
    parser.add_argument("--scheduler", default=None, help="dask scheduler address, e.g. tcp://host:8786 "
                                                          "(default: a LocalCluster on 127.0.0.1)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local: processes (default: one per GPU, or this process); dask: LocalCluster workers")
    parser.add_argument("--gpus", default=None, help="local: GPU ids, one process each (default: every visible GPU)")
    parser.add_argument("--retries", type=int, default=2, help="attempts after a failure, per task (default 2)")
    parser.add_argument("--quiet", action="store_true", help="only the summary")
    group = parser.add_argument_group("overrides of the preset, for every run (default: the preset's value)")
    for fld in dataclasses.fields(Config):
        if fld.name in RESERVED:
            continue
        group.add_argument("--" + fld.name.replace("_", "-"), dest=fld.name, type=_flag_type(fld), default=None,
                           metavar=fld.name.upper())
    parser.set_defaults(func=_cmd_sweep)
    return parser


def _cmd_sweep(args: argparse.Namespace) -> int:
    from tavaal_nb.report import accuracy_table

    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
                 if f.name not in RESERVED and getattr(args, f.name, None) is not None}
    if args.resume and (Path(args.out) / SWEEP_NAME).is_file():
        # what this command does not say is taken from the stored sweep (so repeating the
        # original command, or just `--out DIR --resume`, continues it as it was)
        stored = Sweep.load(args.out).spec
        spec = SweepSpec(datasets=_names(args.datasets) or stored.datasets,
                         methods=_names(args.methods) or stored.methods,
                         trials=args.trials if args.trials is not None else stored.trials,
                         preset=args.preset or stored.preset, overrides={**stored.overrides, **overrides},
                         seed=args.seed if args.seed is not None else stored.seed)
    else:
        if not (args.datasets and args.methods):
            raise ValueError("give --datasets and --methods (or --resume to continue the sweep in --out)")
        spec = SweepSpec(datasets=_names(args.datasets), methods=_names(args.methods), trials=args.trials,
                         preset=args.preset, overrides=overrides, seed=args.seed)
    gpus = _names(args.gpus) if args.gpus else None
    sweep = run_sweep(spec, args.out, args.executor, resume=args.resume, retries=args.retries, workers=args.workers,
                      scheduler=args.scheduler, gpus=gpus, log=None if args.quiet else print)
    results = sweep.results()
    if results:
        print(accuracy_table(results))
    print(f"sweep: {sweep.path}")
    return 0 if not sweep.failed else 1


# ------------------------------------------------------------- a task in its own process (local)
def _watch_parent(parent: int) -> None:
    """Exit when the process that started this one is gone (no orphaned runs after a crash)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(3)


def _task_process_main(argv: Sequence[str]) -> int:
    payload_file, result_file = Path(argv[0]), Path(argv[1])
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    payload = json.loads(payload_file.read_text(encoding="utf-8"))
    try:
        result = run_task(payload)
    except SweepTaskError as error:
        atomic_write_text(result_file, json.dumps({"ok": False, "error": str(error), "retriable": error.retriable}))
        return 1
    atomic_write_text(result_file, json.dumps({"ok": True, "result": result}))
    return 0


if __name__ == "__main__":  # pragma: no cover - run by _ProcessBackend
    sys.exit(_task_process_main(sys.argv[1:]))
