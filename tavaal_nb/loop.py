"""The active-learning loop: trials x methods x cycles, resumable, written after every cycle."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from tavaal_nb.config import Config, config_diff
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.data.datasets import ImageData, load_dataset
from tavaal_nb.data.pool import ActivePool
from tavaal_nb.errors import NonFiniteLossError, ResultsMismatchError
from tavaal_nb.metrics import class_counts, class_entropy
from tavaal_nb.progress import progress_bar
from tavaal_nb.results import RESULTS_NAME, Results, ResultsFileError, atomic_write_text
from tavaal_nb.strategies import get_strategy
from tavaal_nb.strategies.base import QueryContext, Selection
from tavaal_nb.training import Runtime, build_task_model, evaluate, plain_test_accuracy, train_task_model

__all__ = ["Callback", "derive_seed", "run_experiment", "run_parallel_trials", "prepare_data", "make_augmenter",
           "SCORE_DECIMALS", "TRIALS_DIR"]

SCORE_DECIMALS = 6
"""Discriminator scores are stored rounded to this many decimals (keeps files small)."""

TRIALS_DIR = "trials"
"""Where a parallel-trials run keeps its per-trial runs: ``<out>/trials/trial-<k>/results.json``."""


class Callback:
    """Hooks the loop calls; override what you need (the live dashboard is one)."""

    def on_run_start(self, method: str, trial: int, config: Config) -> None: ...
    def on_epoch_end(self, method: str, trial: int, cycle: int, epoch: int, loss: float) -> None: ...
    def on_cycle_end(self, method: str, trial: int, record: dict, selection: Selection | None) -> None: ...
    def on_run_end(self, method: str, trial: int, run: dict) -> None: ...


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, stable across Python processes and versions."""
    digest = hashlib.sha256(repr(tuple(parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def make_augmenter(config: Config, data: ImageData) -> Augmenter:
    return Augmenter(data.mean, data.std, padding=config.crop_padding, flip=data.augment, crop=data.augment)


def prepare_data(config: Config, device: torch.device | None = None) -> ImageData:
    """The configured dataset, subset as configured, on the run's device."""
    device = device or config.resolved_device()
    data = load_dataset(config.dataset, config.data_dir, seed=config.seed,
                        train_limit=config.train_limit, test_limit=config.test_limit)
    return data.to(device)


def _check_sizes(config: Config, data: ImageData) -> None:
    needed = config.initial + config.budget * (config.cycles - 1)
    if needed > data.train_size:
        raise ValueError(
            f"{config.cycles} cycles of {config.initial} + {config.budget} per query need {needed} images, "
            f"but the {data.name} pool has {data.train_size}; lower --cycles, --initial or --budget"
        )


def _open_results(config: Config, data: ImageData, out_dir: Path | None, resume: bool, overwrite: bool) -> Results:
    if resume and overwrite:
        raise ValueError("--resume and --overwrite contradict each other: choose one")
    fresh = Results.new(config.to_dict(), data.describe())
    if out_dir is None:
        return fresh
    path = Path(out_dir) / RESULTS_NAME
    fresh.path = path
    if not path.exists():
        return fresh
    if resume:
        stored = Results.load(path)  # raises, leaving the file untouched, if it does not parse
        differences = config_diff(stored.config, config.to_dict())
        if differences:
            raise ResultsMismatchError(
                f"{path} was made with a different configuration, so it cannot be resumed by this command:\n  - "
                + "\n  - ".join(differences)
                + "\nRun with the stored settings, or write to another --out directory."
            )
        stored.data["config"] = config.to_dict()  # only the execution fields (device, data_dir) may differ
        return stored
    if overwrite:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{RESULTS_NAME}.replaced-{stamp}")
        path.rename(backup)
        print(f"--overwrite: the previous results were moved to {backup}")
        return fresh
    raise FileExistsError(
        f"{path} already exists. Pass --resume to continue it, --overwrite to start again "
        f"(the old file is kept as a backup), or choose another --out directory."
    )


def _rounded(values: torch.Tensor) -> list[float]:
    return [round(v, SCORE_DECIMALS) for v in values.tolist()]


def _session(device: torch.device) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": str(device), "device_name": name, "torch": torch.__version__,
        "python": platform.python_version(), "wall_time_s": 0.0,
    }


def run_experiment(
    config: Config,
    out_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    data: ImageData | None = None,
    parallel_trials: int = 1,
) -> Results:
    """Run every (trial, method) of ``config`` and return the results.

    With ``out_dir``, ``results.json`` there is rewritten atomically after every cycle.
    An existing file is refused unless ``resume`` (continue after the last finished
    cycle; the configuration must match) or ``overwrite`` (start again; the old file
    is kept as ``results.json.replaced-<time>``). Randomness is derived from
    ``(seed, dataset, trial)`` for the initial labeled set (shared by every method of
    a trial: the comparison is paired) and from ``(seed, dataset, method, trial,
    cycle)`` for everything else, so a resumed run gives the records of an
    uninterrupted one, and adding a method changes no other method's records.

    ``parallel_trials=N`` (N >= 2) runs the trials in N worker processes at once on the
    same device (:func:`run_parallel_trials`); the results file is the same. A directory
    left by an interrupted parallel run (``out_dir/trials/``) is resumed that way too.
    """
    if not isinstance(parallel_trials, int) or isinstance(parallel_trials, bool) or parallel_trials < 1:
        raise ValueError(f"parallel_trials must be a positive integer, got {parallel_trials!r}")
    leftover = out_dir is not None and (Path(out_dir) / TRIALS_DIR).is_dir()
    if parallel_trials > 1 or leftover:
        if callbacks:
            raise ValueError("callbacks run in this process, but parallel trials run in worker processes: "
                             "pass no callbacks, or run the trials one after another (parallel_trials=1)")
        if leftover and parallel_trials == 1 and resume:
            print(f"{Path(out_dir) / TRIALS_DIR} holds the per-trial runs of a --parallel-trials run: "
                  "continuing them in one worker process")
        return run_parallel_trials(config, out_dir, parallel_trials, resume=resume, overwrite=overwrite,
                                   progress=progress, data=data)
    device = config.resolved_device()
    data = prepare_data(config, device) if data is None else data.to(device)
    _check_sizes(config, data)
    results = _open_results(config, data, Path(out_dir) if out_dir is not None else None, resume, overwrite)
    session = _session(device)
    results.data.setdefault("sessions", []).append(session)
    augmenter = make_augmenter(config, data)
    started = time.perf_counter()
    try:
        for trial in range(config.first_trial, config.first_trial + config.trials):
            for method in config.methods:
                _run_one(config, data, augmenter, results, method, trial, callbacks, progress, session, started)
        results.data["status"] = "finished"
    except NonFiniteLossError as error:
        results.data["status"] = f"stopped: {error}"
        raise
    finally:
        session["wall_time_s"] = round(time.perf_counter() - started, 3)
        if results.path is not None:
            results.save()
    return results


def _run_one(
    config: Config, data: ImageData, augmenter: Augmenter, results: Results, method: str, trial: int,
    callbacks: Iterable[Callback], progress: bool, session: dict, started: float,
) -> None:
    strategy = get_strategy(method)
    device = data.train_labels.device
    run = results.run(method, trial)
    if run is None:
        trial_seed = derive_seed(config.seed, config.dataset, trial)
        pool = ActivePool.random(data.train_size, config.initial, torch.Generator().manual_seed(trial_seed))
        run = {"method": method, "trial": trial, "seed": trial_seed, "initial_indices": pool.labeled.tolist(),
               "finished": False, "cycles": []}
        results.runs.append(run)
    if run.get("finished"):
        return
    pool = ActivePool(data.train_size, run["initial_indices"])
    for record in run["cycles"]:
        pool.label(torch.as_tensor(record["selected_indices"], dtype=torch.long))
    for callback in callbacks:
        callback.on_run_start(method, trial, config)
    labels_cpu = data.train_labels.cpu()
    bar = progress_bar(range(len(run["cycles"]), config.cycles), desc=f"{method} trial {trial}", disable=not progress)
    for cycle in bar:
        cycle_seed = derive_seed(config.seed, config.dataset, method, trial, cycle)
        torch.manual_seed(cycle_seed)
        generator = torch.Generator().manual_seed(cycle_seed)
        device_generator = torch.Generator(device=device).manual_seed(cycle_seed)
        timings: dict[str, float] = {}
        labeled = pool.labeled.to(device)
        tic = time.perf_counter()
        task = build_task_model(config, data, strategy.rank_loss is not None, device)

        def on_epoch(epoch: int, loss: float, _cycle: int = cycle) -> None:
            for callback in callbacks:
                callback.on_epoch_end(method, trial, _cycle, epoch, loss)

        losses = train_task_model(task, data, labeled, config, augmenter, device_generator,
                                  strategy.ranking_loss(config), progress, on_epoch)
        timings["train"] = time.perf_counter() - tic
        tic = time.perf_counter()
        accuracy = evaluate(task, data, augmenter, config.eval_batch_size, Runtime.resolve(config, device))
        timings["evaluate"] = time.perf_counter() - tic
        plain_accuracy = None
        if config.retrain_plain:  # sec. 6.1 / Fig. 4: same labeled set, no Ranker, its own seed
            tic = time.perf_counter()
            plain_accuracy = plain_test_accuracy(config, data, labeled, augmenter, derive_seed(cycle_seed, "plain"))
            timings["plain"] = time.perf_counter() - tic
        selection: Selection | None = None
        if cycle < config.cycles - 1:
            tic = time.perf_counter()
            candidates = pool.candidates(config.subset, generator).to(device)
            context = QueryContext(config, data, augmenter, task, labeled, candidates, config.budget,
                                   generator, device_generator, progress, cycle)
            selection = strategy.select(context)
            pool.label(selection.indices)
            timings["select"] = time.perf_counter() - tic
        timings["total"] = sum(timings.values())
        record = _cycle_record(cycle, labels_cpu, labeled.cpu(), accuracy, selection, config, data.num_classes,
                               losses, timings)
        if plain_accuracy is not None:
            record["plain_test_accuracy"] = plain_accuracy
        run["cycles"].append(record)
        session["wall_time_s"] = round(time.perf_counter() - started, 3)
        if results.path is not None:
            results.save()
        bar.set_postfix(labeled=record["labeled_size"], acc=f"{accuracy:.2f}%")
        for callback in callbacks:
            callback.on_cycle_end(method, trial, record, selection)
    run["finished"] = True
    if results.path is not None:
        results.save()
    for callback in callbacks:
        callback.on_run_end(method, trial, run)


def _cycle_record(
    cycle: int, labels: torch.Tensor, labeled: torch.Tensor, accuracy: float, selection: Selection | None,
    config: Config, num_classes: int, losses: list[float], timings: dict[str, float],
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "cycle": cycle,
        "labeled_size": int(labeled.numel()),
        "test_accuracy": accuracy,
        "labeled_class_counts": class_counts(labels[labeled], num_classes),
        "selected_indices": [],
        "selected_class_counts": None,
        "selected_class_entropy": None,
        "candidate_count": 0,
        "discriminator_scores": None,
        "selection_threshold": None,
        "train_loss": [round(v, SCORE_DECIMALS) for v in losses],
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    if selection is not None:
        chosen = selection.indices
        counts = class_counts(labels[chosen], num_classes)
        record.update(
            selected_indices=chosen.tolist(),
            selected_class_counts=counts,
            selected_class_entropy=class_entropy(counts) if chosen.numel() else None,
            candidate_count=int(selection.candidates.numel()),
        )
        if selection.discriminator_scores is not None:
            scores = selection.discriminator_scores
            record["discriminator_scores"] = _rounded(scores)
            chosen_scores = scores[torch.isin(selection.candidates, chosen)]
            # rounded like the stored scores, so "score <= threshold" read from the file marks the chosen ones
            record["selection_threshold"] = (
                round(float(chosen_scores.max()), SCORE_DECIMALS) if chosen_scores.numel() else None
            )
        history = selection.extras.get("loss_history")
        if history is not None:
            record["vae_loss"] = [round(v, SCORE_DECIMALS) for v in history["vae"]]
            record["discriminator_loss"] = [round(v, SCORE_DECIMALS) for v in history["discriminator"]]
    return record


# ------------------------------------------------------------------------------ parallel trials
MERGE_EVERY_S = 15.0
"""Seconds between merges of the per-trial files into ``results.json`` while trials run."""
STOP_GRACE_S = 30.0
"""Seconds a worker gets to stop after SIGINT (it saves nothing new: cycles are saved as they end)."""
_OUTCOME_NAME = "worker-outcome.json"


def _stamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _run_rank(run: dict) -> tuple[bool, int]:
    """How far a run got: finished first, then the number of saved cycles."""
    return bool(run.get("finished")), len(run["cycles"])


def _trial_config(config: Config, trial: int) -> Config:
    return config.replace(trials=1, first_trial=trial)


def _trial_dir(root: Path, trial: int) -> Path:
    return root / TRIALS_DIR / f"trial-{trial}"


def _reconcile_trial(config: Config, trial: int, root: Path, merged: Results, dataset: dict) -> bool:
    """Bring ``trials/trial-<k>/results.json`` up to what ``merged`` holds for trial ``k``.

    Records are deterministic, so of two versions of a run the longer one continues the
    shorter: it is kept (``results.json`` may be ahead after a resume made without
    parallel trials). Returns whether every method of the trial is finished.
    """
    sub_config = _trial_config(config, trial)
    path = _trial_dir(root, trial) / RESULTS_NAME
    sub: Results | None = None
    if path.exists():
        sub = Results.load(path)  # raises, leaving it untouched, if it is not a results file
        differences = config_diff(sub.config, sub_config.to_dict())
        if differences:
            raise ResultsMismatchError(
                f"{path} (trial {trial} of a --parallel-trials run) was made with a different configuration:\n  - "
                + "\n  - ".join(differences) + "\nRun with the stored settings, or write to another --out directory."
            )
    stored = [run for run in merged.runs if run["trial"] == trial]
    changed = False
    for run in stored:
        if sub is None:
            sub = Results.new(sub_config.to_dict(), dataset, path)
        mine = sub.run(run["method"], trial)
        if mine is None or _run_rank(run) > _run_rank(mine):
            sub.data["runs"] = [r for r in sub.runs if r is not mine] + [json.loads(json.dumps(run))]
            changed = True
    if changed and sub is not None:
        order = {m: i for i, m in enumerate(config.methods)}
        sub.data["runs"].sort(key=lambda r: order.get(r["method"], len(order)))
        sub.save()
    runs = sub.runs if sub is not None else []
    return all(any(r["method"] == m and r.get("finished") for r in runs) for m in config.methods)


def _merge_trials(config: Config, root: Path, merged: Results, session: dict, started: float) -> None:
    """Fold every per-trial file into ``merged`` (the furthest version of each run wins), in the
    order a sequential run writes them (trial by trial, methods in config order), and save."""
    runs = {(r["method"], r["trial"]): r for r in merged.runs}
    walls: dict[str, float] = {}
    trials = range(config.first_trial, config.first_trial + config.trials)
    for trial in trials:
        path = _trial_dir(root, trial) / RESULTS_NAME
        if not path.is_file():
            continue
        try:
            sub = Results.load(path)
        except ResultsFileError:  # never torn (atomic writes): edited by hand; its worker will say so
            continue
        walls[str(trial)] = round(sum(s.get("wall_time_s", 0.0) for s in sub.data.get("sessions", [])), 3)
        for run in sub.runs:
            key = (run["method"], run["trial"])
            if key not in runs or _run_rank(run) >= _run_rank(runs[key]):
                runs[key] = run
    merged.data["runs"] = [runs[m, t] for t in trials for m in config.methods if (m, t) in runs]
    session["trial_wall_time_s"] = walls  # each trial's own sessions, summed
    session["wall_time_s"] = round(time.perf_counter() - started, 3)
    if merged.path is not None:
        merged.save()


class _Fault(Callback):
    """Test hook: make one trial's worker hang or exit after a given cycle (``_fault`` of run_parallel_trials)."""

    def __init__(self, fault: dict) -> None:
        self.fault = fault

    def on_cycle_end(self, method: str, trial: int, record: dict, selection) -> None:
        if record["cycle"] != self.fault.get("after_cycle", 0):
            return
        if self.fault.get("action") == "exit":
            os._exit(self.fault.get("code", 9))
        while True:  # "hang": until the process is stopped
            time.sleep(0.1)


def _exit_with_parent(parent: int) -> None:
    """Exit when the process that started this worker is gone (no orphaned trials after a crash)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


def _trial_worker(payload: dict) -> None:
    """Entry point of a worker process: one trial as an ordinary run in its own directory."""
    threading.Thread(target=_exit_with_parent, args=(payload["parent"],), daemon=True).start()
    # one thread: CPU results depend on torch's thread count, and N workers share the machine
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    directory = Path(payload["dir"])
    outcome: dict[str, Any] = {"ok": True}
    code = 0
    try:
        config = Config.from_dict(payload["config"])
        callbacks = [_Fault(payload["fault"])] if payload.get("fault") else []
        run_experiment(config, directory, resume=(directory / RESULTS_NAME).exists(), progress=False,
                       data=payload.get("data"), callbacks=callbacks)
    except NonFiniteLossError as error:
        outcome, code = {"ok": False, "kind": "nonfinite", "model": error.model, "step": error.step,
                         "message": str(error)}, 3
    except ResultsMismatchError as error:
        outcome, code = {"ok": False, "kind": "mismatch", "message": str(error)}, 2
    except KeyboardInterrupt:
        outcome, code = {"ok": False, "kind": "interrupted", "message": "interrupted"}, 130
    except BaseException as error:  # noqa: BLE001 - reported to the parent with its traceback
        outcome, code = {"ok": False, "kind": "error", "message": f"{type(error).__name__}: {error}",
                         "traceback": traceback.format_exc()}, 1
    atomic_write_text(directory / _OUTCOME_NAME, json.dumps(outcome))
    if code:
        sys.exit(code)


def _stop(processes: dict[int, Any], grace: float = STOP_GRACE_S) -> None:
    """SIGINT every running worker (they stop after their last saved cycle), then terminate stragglers."""
    for process in processes.values():
        if process.exitcode is None and process.pid is not None:
            try:
                os.kill(process.pid, signal.SIGINT)
            except (ProcessLookupError, OSError):
                pass
    deadline = time.monotonic() + grace
    for process in processes.values():
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes.values():
        if process.exitcode is None:
            process.terminate()
            process.join(5)
        if process.exitcode is None:
            process.kill()
            process.join()


def run_parallel_trials(
    config: Config,
    out_dir: str | Path | None,
    workers: int = 2,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    data: ImageData | None = None,
    _fault: dict | None = None,
) -> Results:
    """Run the trials of ``config`` concurrently, ``workers`` at a time, each in its own process.

    Each trial ``k`` is an ordinary run (``config`` with ``trials=1, first_trial=k``) in
    ``out_dir/trials/trial-<k>/``, made by a fresh (``spawn``) process with one torch
    thread, on ``config``'s device. This process merges them into ``out_dir/results.json``
    (atomically: at the start, after each finished trial, every :data:`MERGE_EVERY_S`
    seconds and at the end), in the layout of a sequential run: its records equal those of
    ``run_experiment(config)`` with one torch thread (on the CPU; timings and session
    entries differ). Once every trial is finished and merged, ``trials/`` is removed.

    The rules for an existing ``results.json`` are :func:`run_experiment`'s; ``resume``
    also continues unfinished trials from their last saved cycle, ``overwrite`` moves
    ``trials/`` aside with ``results.json``. ``data`` (optional) is sent to every worker;
    by default each loads the configured dataset. Without ``out_dir`` the trials run in a
    temporary directory and the merged results are returned without a path.
    A trial that fails stops the others (after their last saved cycle) and the error is
    raised here; Ctrl-C does the same, and ``resume`` continues.
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"the number of parallel trials must be a positive integer, got {workers!r}")
    if resume and overwrite:
        raise ValueError("--resume and --overwrite contradict each other: choose one")
    device = config.resolved_device()  # fails here, before any worker starts, when CUDA is missing
    temporary = tempfile.TemporaryDirectory(prefix="tavaal-trials-") if out_dir is None else None
    root = Path(temporary.name if temporary is not None else out_dir)
    try:
        return _run_parallel(config, root, temporary is None, workers, resume, overwrite, progress, data, device,
                             _fault)
    finally:
        if temporary is not None:
            temporary.cleanup()


def _run_parallel(config: Config, root: Path, keep_path: bool, workers: int, resume: bool, overwrite: bool,
                  progress: bool, data: ImageData | None, device: torch.device, fault: dict | None) -> Results:
    trials_root = root / TRIALS_DIR
    if trials_root.exists() and not (root / RESULTS_NAME).exists() and not (resume or overwrite):
        raise FileExistsError(
            f"{trials_root} holds the per-trial runs of an interrupted --parallel-trials run. Pass --resume to "
            f"continue it, --overwrite to start again (the old runs are kept as a backup), or choose another --out."
        )
    cpu_data = prepare_data(config, torch.device("cpu")) if data is None else data.to(torch.device("cpu"))
    _check_sizes(config, cpu_data)
    dataset = cpu_data.describe()
    merged = _open_results(config, cpu_data, root, resume, overwrite)
    if overwrite and trials_root.exists():
        backup = root / f"{TRIALS_DIR}.replaced-{_stamp()}"
        trials_root.rename(backup)
        print(f"--overwrite: the previous per-trial runs were moved to {backup}")
    session = _session(device)
    session["parallel_trials"] = workers
    started = time.perf_counter()
    merged.data.setdefault("sessions", []).append(session)
    trials = list(range(config.first_trial, config.first_trial + config.trials))
    pending = deque(t for t in trials if not _reconcile_trial(config, t, root, merged, dataset))

    def merge() -> None:
        _merge_trials(config, root, merged, session, started)

    merge()  # the directory is taken from now on (and is resumable)
    context = multiprocessing.get_context("spawn")  # CUDA-safe: nothing is inherited but the payload
    running: dict[int, Any] = {}
    failure: tuple[int, dict | None, int | None] | None = None
    bar = progress_bar(total=len(trials), initial=len(trials) - len(pending), desc="trials", unit="trial",
                       disable=not progress)
    payload_data = None if data is None else cpu_data

    def start(trial: int) -> None:
        directory = _trial_dir(root, trial)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _OUTCOME_NAME).unlink(missing_ok=True)
        payload = {"config": _trial_config(config, trial).to_dict(), "dir": str(directory), "parent": os.getpid(),
                   "data": payload_data, "fault": fault if fault and fault.get("trial") == trial else None}
        process = context.Process(target=_trial_worker, args=(payload,), name=f"tavaal-trial-{trial}")
        process.start()
        running[trial] = process

    try:
        last_merge = time.monotonic()
        while pending or running:
            while pending and len(running) < workers and failure is None:
                start(pending.popleft())
            if not running:
                break
            multiprocessing.connection.wait([p.sentinel for p in running.values()], timeout=MERGE_EVERY_S)
            ended = False
            for trial, process in list(running.items()):
                if process.exitcode is None:
                    continue
                process.join()
                del running[trial]
                ended = True
                outcome_path = _trial_dir(root, trial) / _OUTCOME_NAME
                outcome = json.loads(outcome_path.read_text()) if outcome_path.is_file() else None
                outcome_path.unlink(missing_ok=True)
                if outcome is not None and outcome.get("ok"):
                    bar.update(1)
                elif failure is None:
                    failure = (trial, outcome, process.exitcode)
                    pending.clear()
                    _stop(running)
            if ended or time.monotonic() - last_merge >= MERGE_EVERY_S:
                merge()
                last_merge = time.monotonic()
    except BaseException:
        _stop(running)
        merge()
        raise
    finally:
        bar.close()
    merge()
    if failure is not None:
        trial, outcome, code = failure
        kind = (outcome or {}).get("kind")
        if kind == "nonfinite":
            error: Exception = NonFiniteLossError(outcome["model"], outcome["step"], f"trial {trial}")
        elif kind == "mismatch":
            error = ResultsMismatchError(outcome["message"])
        elif outcome is None:
            how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
            error = RuntimeError(f"the worker process of trial {trial} {how} before it finished; its saved cycles "
                                 f"are kept: continue with --resume")
        else:
            detail = outcome.get("traceback") or outcome.get("message", "")
            error = RuntimeError(f"trial {trial} failed in its worker process; its saved cycles are kept, "
                                 f"continue with --resume:\n{detail}")
        merged.data["status"] = f"stopped: {error}"
        merge()
        raise error
    if not merged.is_finished():  # cannot happen unless a worker reported success without finishing
        raise RuntimeError(f"the parallel trials ended but {root / RESULTS_NAME} is not finished; run with --resume")
    merged.data["status"] = "finished"
    merge()
    shutil.rmtree(trials_root, ignore_errors=True)  # everything is in results.json now
    if not keep_path:
        merged.path = None
    return merged
