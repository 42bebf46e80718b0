"""Parallel trials of one run (``run --parallel-trials N``): N trials at once on the run's device.

Each trial ``k`` is a task of the sweep machinery: an ordinary run of ``config`` with
``trials=1, first_trial=k`` in ``<out>/trials/trial-<k>/``, executed by a
:class:`~tavaal_nb.sweep.backends.ProcessBackend` whose N slots share one device (one torch
thread each). This process merges the trials into ``<out>/results.json`` in the layout of a
sequential run, so its records equal those of :func:`tavaal_nb.loop.run_experiment` with one
torch thread (timings and session entries differ). Once everything is merged, ``trials/`` goes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from tavaal_nb.config import Config
from tavaal_nb.errors import ResultsMismatchError
from tavaal_nb.experiment_data import prepare_data
from tavaal_nb.loop import open_results
from tavaal_nb.outdir import FolderClaim, claim_folder, move_aside
from tavaal_nb.preflight import check_names, check_sizes
from tavaal_nb.progress import progress_bar
from tavaal_nb.provenance import session_entry
from tavaal_nb.results import RESULTS_NAME, Results, ResultsFileError
from tavaal_nb.stored_config import config_diff
from tavaal_nb.strategies.origin import strategy_provenance
from tavaal_nb.sweep.backends import ProcessBackend
from tavaal_nb.sweep.driver import Ledger, describe, execute
from tavaal_nb.sweep.packing import AUTO, MAX_PROCESSES, auto_parallel_trials
from tavaal_nb.sweep.task import LOG_NAME

__all__ = ["run_parallel_trials", "TRIALS_DIR", "MERGE_EVERY_S"]

TRIALS_DIR = "trials"
"""Where a parallel-trials run keeps its per-trial runs: ``<out>/trials/trial-<k>/results.json``."""
MERGE_EVERY_S = 15.0
"""Seconds between merges of the per-trial files into ``results.json`` while trials run."""


def _run_rank(run: dict) -> tuple[bool, int]:
    """How far a run got: finished first, then the number of saved cycles."""
    return bool(run.get("finished")), len(run["cycles"])


class _TrialFailed(Exception):
    """A trial's task failed: stops the others (after their last saved cycle)."""

    def __init__(self, trial: int, error: BaseException) -> None:
        super().__init__(trial, error)
        self.trial, self.error = trial, error


class _TrialsLedger(Ledger):
    """The trials of one run: their directories, their configs, and the merged results file."""

    def __init__(self, config: Config, root: Path, merged: Results, session: dict[str, Any], bar,
                 claim: FolderClaim | None = None, allow_changed_plugin: bool = False) -> None:
        self.config, self.root, self.merged, self.session, self.bar = config, root, merged, session, bar
        self.allow_changed_plugin = allow_changed_plugin
        self.claim = claim  # the root's: a root removed or replaced meanwhile is not recreated
        self.started = time.perf_counter()
        self.last_merge = time.monotonic()
        self.trials = range(config.first_trial, config.first_trial + config.trials)

    def directory(self, trial: int) -> Path:
        if not isinstance(trial, int) or isinstance(trial, bool) or trial < 0:  # it names a folder
            raise ValueError(f"a trial number must be a non-negative integer, got {trial!r}")
        return self.root / TRIALS_DIR / f"trial-{trial}"

    def trial_config(self, trial: int) -> Config:
        return self.config.replace(trials=1, first_trial=trial)

    def reconcile(self, trial: int) -> bool:
        """Bring trial ``k``'s own file up to what ``results.json`` holds for it (the longer version of a
        run continues the shorter: records are deterministic); returns whether the trial is finished."""
        sub_config = self.trial_config(trial).to_dict()
        path = self.directory(trial) / RESULTS_NAME
        sub = Results.load(path) if path.exists() else None  # raises, leaving it untouched, if not a results file
        if sub is not None and config_diff(sub.config, sub_config):
            raise ResultsMismatchError(
                f"{path} (trial {trial} of a --parallel-trials run) was made with a different configuration:\n  - "
                + "\n  - ".join(config_diff(sub.config, sub_config))
                + "\nRun with the stored settings, or write to another --out directory.")
        ahead = [run for run in self.merged.runs if run["trial"] == trial
                 and (sub is None or (mine := sub.run(run["method"], trial)) is None or _run_rank(run) > _run_rank(mine))]
        if ahead:
            sub = sub or Results.new(sub_config, self.merged.dataset, path)
            keep = [r for r in sub.runs if r["method"] not in {run["method"] for run in ahead}]
            order = {m: i for i, m in enumerate(self.config.methods)}
            sub.data["runs"] = sorted(keep + json.loads(json.dumps(ahead)), key=lambda r: order.get(r["method"], 0))
            sub.save()
        return sub is not None and all((run := sub.run(m, trial)) is not None and run.get("finished")
                                       for m in self.config.methods)

    def merge(self) -> None:
        """Fold every trial's file into ``results.json`` (the furthest version of each run wins), in the
        order a sequential run writes them (trial by trial, methods in config order), and save."""
        runs = {(r["method"], r["trial"]): r for r in self.merged.runs}
        walls: dict[str, float] = {}
        fallbacks: dict[str, str] = {}
        for trial in self.trials:
            path = self.directory(trial) / RESULTS_NAME
            try:
                sub = Results.load(path)
            except (FileNotFoundError, ResultsFileError):  # not started, or edited by hand (its task says so)
                continue
            walls[str(trial)] = round(sum(s.get("wall_time_s", 0.0) for s in sub.data.get("sessions", [])), 3)
            latest = (sub.data.get("sessions") or [{}])[-1]  # the trial's own process, as the loop records it
            if "cuda_graphs" in latest:
                self.session["cuda_graphs"] = latest["cuda_graphs"]
            fallbacks.update({f"{name} (trial {trial})": error
                              for name, error in (latest.get("eager_fallbacks") or {}).items()})
            for run in sub.runs:
                key = (run["method"], run["trial"])
                if key not in runs or _run_rank(run) >= _run_rank(runs[key]):
                    runs[key] = run
        self.merged.data["runs"] = [runs[m, t] for t in self.trials for m in self.config.methods if (m, t) in runs]
        self.session["trial_wall_time_s"] = walls  # each trial's own sessions, summed
        self.session["eager_fallbacks"] = fallbacks  # steps whose capture failed in a trial's process
        self.session["wall_time_s"] = round(time.perf_counter() - self.started, 3)
        if self.merged.path is not None:
            if self.claim is not None:
                self.claim.check_intact()
            self.merged.save()
        self.last_merge = time.monotonic()

    # ------------------------------------------------------------------ what execute() reports
    def payload(self, task_id: str) -> dict[str, Any]:
        trial = int(task_id.removeprefix("trial-"))
        return {"id": task_id, "dir": str(self.directory(trial)), "config": self.trial_config(trial).to_dict(),
                "attempt": 1, "allow_changed_plugin": self.allow_changed_plugin}

    def failed(self, task_id: str, error: BaseException, retry: bool, tries: int) -> None:
        raise _TrialFailed(int(task_id.removeprefix("trial-")), error)

    def finished(self, task_id: str, outcome: dict[str, Any]) -> None:
        self.bar.update(1)
        self.merge()

    def idle(self) -> None:
        if time.monotonic() - self.last_merge >= MERGE_EVERY_S:
            self.merge()


def _user_error(trial: int, error: BaseException, log: Path) -> Exception:
    """A failed trial's error as this process raises it, in one line (the worker's traceback stays in its ``log``);
    a NaN stays a FloatingPointError (exit code 3)."""
    kind = getattr(error, "kind", "")
    text = describe(error).split("\nTraceback (most recent call last):")[0].strip().removeprefix(kind + ": ")
    first = (text.splitlines() or [type(error).__name__])[0]
    if kind == "NonFiniteLossError":
        return FloatingPointError(f"trial {trial}: {first}")
    if kind == "ResultsMismatchError":
        return ResultsMismatchError(text)  # the differences, one per line, as a sequential run lists them
    return RuntimeError(f"trial {trial} failed in its worker process: {kind or type(error).__name__}: {first} "
                        f"(its traceback is in {log}); its saved cycles are kept: fix the cause, then --resume")


def run_parallel_trials(
    config: Config,
    out_dir: str | Path | None,
    workers: int | str = 2,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    allow_changed_plugin: bool = False,
) -> Results:
    """Run the trials of ``config`` concurrently, ``workers`` at a time, each in its own process
    (``"auto"``: as many as the GPU's free memory holds, :func:`~tavaal_nb.sweep.packing.auto_parallel_trials`).

    ``results.json`` in ``out_dir`` is merged from the trials at the start, after each finished
    trial, every :data:`MERGE_EVERY_S` seconds and at the end. The rules for an existing
    ``results.json`` are :func:`~tavaal_nb.loop.run_experiment`'s; ``resume`` also continues
    unfinished trials from their last saved cycle, ``overwrite`` moves ``trials/`` aside too
    (``allow_changed_plugin``: as for :func:`~tavaal_nb.loop.run_experiment`).
    Without ``out_dir`` the trials run in a temporary directory and the merged results are
    returned without a path. A trial that fails stops the others (after their last saved
    cycle) and its error is raised here; Ctrl-C does the same; ``resume`` continues.
    """
    if workers == AUTO:
        workers = auto_parallel_trials(config, config.trials)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= MAX_PROCESSES:
        raise ValueError(f"the number of parallel trials must be auto or a positive integer of at most "
                         f"{MAX_PROCESSES}, got {workers!r}")
    if resume and overwrite:
        raise ValueError("--resume and --overwrite contradict each other: choose one")
    check_names(config)
    device = config.resolved_device()  # fails here, before any worker starts, when CUDA is missing
    temporary: tempfile.TemporaryDirectory[str] | None = None
    if out_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="tavaal-trials-")
        root = Path(temporary.name)
    else:
        root = Path(out_dir)
    try:
        with claim_folder(root, "run") as claim:  # the trials' workers each claim their own trials/trial-<k>/
            merged = _run(config, root, workers, resume, overwrite, progress, device, claim, allow_changed_plugin)
    finally:
        if temporary is not None:
            temporary.cleanup()
    if temporary is not None:
        merged.path = None
    return merged


def _open(config: Config, root: Path, resume: bool, overwrite: bool, allow_changed_plugin: bool = False) -> Results:
    """The merged results file, with the refusals of an existing directory; ``overwrite`` moves ``trials/`` aside."""
    trials_root = root / TRIALS_DIR
    if trials_root.exists() and not (root / RESULTS_NAME).exists() and not (resume or overwrite):
        raise FileExistsError(
            f"{trials_root} holds the per-trial runs of an interrupted --parallel-trials run. Pass --resume to "
            f"continue it, --overwrite to start again (the old runs are kept as a backup), or choose another --out.")
    data = prepare_data(config, torch.device("cpu"))
    check_sizes(config, data)
    merged = open_results(config, data, root, resume, overwrite, allow_changed_plugin)
    if overwrite and trials_root.exists():
        backup = move_aside(trials_root)
        print(f"--overwrite: the previous per-trial runs were moved to {backup}")
    return merged


def _run(config: Config, root: Path, workers: int, resume: bool, overwrite: bool, progress: bool,
         device: torch.device, claim: FolderClaim | None = None, allow_changed_plugin: bool = False) -> Results:
    merged = _open(config, root, resume, overwrite, allow_changed_plugin)
    session = session_entry(device)
    session["strategies"] = strategy_provenance(config)
    session["parallel_trials"] = workers
    merged.data.setdefault("sessions", []).append(session)
    bar = progress_bar(total=config.trials, desc="trials", unit="trial", disable=not progress)
    ledger = _TrialsLedger(config, root, merged, session, bar, claim, allow_changed_plugin)
    pending = [f"trial-{t}" for t in ledger.trials if not ledger.reconcile(t)]
    bar.update(config.trials - len(pending))
    ledger.merge()  # the directory is taken from now on (and is resumable)
    backend = ProcessBackend([None] * max(1, min(workers, len(pending))), torch_threads=1)
    interrupted = False
    try:
        execute(pending, backend, ledger)
    except _TrialFailed as failure:
        interrupted = True
        error = _user_error(failure.trial, failure.error, ledger.directory(failure.trial) / LOG_NAME)
        merged.data["status"] = f"stopped: {error}"
        raise error from None
    except BaseException:
        interrupted = True
        raise
    finally:
        backend.close(cancel=interrupted)
        bar.close()
        ledger.merge()
    if not merged.is_finished():  # cannot happen unless a task reported success without finishing
        raise RuntimeError(f"the parallel trials ended but {root / RESULTS_NAME} is not finished; run with --resume")
    merged.data["status"] = "finished"
    ledger.merge()
    shutil.rmtree(root / TRIALS_DIR, ignore_errors=True)  # everything is in results.json now
    return merged
