"""The active-learning loop: trials x methods x cycles in this process, resumable, saved after every cycle.

One run of one (method, trial) is :func:`_run_one`; :func:`run_experiment` opens (or resumes)
the results file and runs every (trial, method) of a Config one after another. Running several
trials or runs at once (processes, GPUs, dask) is the sweep's job (:mod:`tavaal_nb.sweep`),
which calls this loop once per task.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from tavaal_nb.callbacks import Callback
from tavaal_nb.config import Config
from tavaal_nb.cuda_graphs import clear_eager_fallbacks, eager_fallbacks
from tavaal_nb.cycle_record import cycle_record
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.data.pool import ActivePool
from tavaal_nb.errors import NonFiniteLossError, ResultsMismatchError, ResultsSaveError
from tavaal_nb.experiment_data import make_augmenter, prepare_data
from tavaal_nb.files import check_regular_file, remove_orphan_temporaries
from tavaal_nb.losses import ranker_objective_loss
from tavaal_nb.outdir import FolderClaim, claim_folder, move_aside
from tavaal_nb.preflight import check_names, check_sizes, check_stored_indices, replay_pool
from tavaal_nb.progress import progress_bar
from tavaal_nb.provenance import session_entry
from tavaal_nb.query import query_strategy
from tavaal_nb.results import RESULTS_NAME, Results
from tavaal_nb.seeding import candidate_keys, cycle_seeds, derive_seed, initial_seed
from tavaal_nb.stored_config import config_diff, kept_on_resume
from tavaal_nb.strategies import get_strategy
from tavaal_nb.strategies.base import QueryContext, Selection
from tavaal_nb.strategies.origin import changed_sources, strategy_provenance
from tavaal_nb.strategies.params import resolve_params
from tavaal_nb.training import Runtime, build_task_model, evaluate, plain_test_accuracy, train_task_model

__all__ = ["run_experiment", "open_results", "save_results"]


def open_results(config: Config, data: ImageData, out_dir: Path | None, resume: bool, overwrite: bool,
                 allow_changed_plugin: bool = False) -> Results:
    """A new results document for ``config``, or the one in ``out_dir`` when resuming (same config only;
    a field the file predates and :data:`~tavaal_nb.stored_config.KEPT_ON_RESUME` names keeps the file's value).

    A resume is also refused when a strategy's code changed since the file's sessions recorded it
    (:func:`~tavaal_nb.strategies.origin.changed_sources`: a plug-in's source file), unless
    ``allow_changed_plugin``.

    An existing file is refused unless ``resume`` or ``overwrite`` (it is then moved aside to
    ``results.json.replaced-<time>[-n]``, never onto an existing backup); a file that does not
    parse is left untouched.
    """
    if resume and overwrite:
        raise ValueError("--resume and --overwrite contradict each other: choose one")
    fresh = Results.new(config.to_dict(), data.describe())
    if out_dir is None:
        return fresh
    path = Path(out_dir) / RESULTS_NAME
    fresh.path = path
    remove_orphan_temporaries(out_dir, RESULTS_NAME)  # left by saves killed before their rename (the folder is ours now)
    check_regular_file(path)  # a directory or a broken link named results.json: refused, left as it is
    if not path.exists():
        return fresh
    if resume:
        stored = Results.load(path)  # raises, leaving the file untouched, if it does not parse
        config, notes = kept_on_resume(stored.config, config)
        for note in notes:
            print(f"--resume: {note}")
        differences = config_diff(stored.config, config.to_dict())
        if differences:
            raise ResultsMismatchError(
                f"{path} was made with a different configuration, so it cannot be resumed by this command:\n  - "
                + "\n  - ".join(differences)
                + "\nRun with the stored settings, or write to another --out directory."
            )
        changed = changed_sources(stored.data.get("sessions"), strategy_provenance(config))
        if changed and not allow_changed_plugin:
            raise ResultsMismatchError(f"{path} cannot be resumed: {'; '.join(changed)}; pass --allow-changed-plugin "
                                       "(allow_changed_plugin=True) to resume with the new code, or write to another "
                                       "--out directory")
        check_stored_indices(stored, data.train_size, config)  # before anything (a session entry) is written
        stored.data["config"] = config.to_dict()  # only the execution fields (device, data_dir) may differ
        return stored
    if overwrite:
        backup = move_aside(path)
        print(f"--overwrite: the previous results were moved to {backup}")
        return fresh
    raise FileExistsError(
        f"{path} already exists. Pass --resume to continue it, --overwrite to start again "
        f"(the old file is kept as a backup), or choose another --out directory."
    )


def run_experiment(
    config: Config,
    out_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    data: ImageData | None = None,
    allow_changed_plugin: bool = False,
) -> Results:
    """Run every (trial, method) of ``config`` in this process and return the results.

    With ``out_dir``, ``results.json`` there is rewritten atomically after every cycle; the
    folder is claimed for the whole run (:func:`tavaal_nb.outdir.claim_folder`: one writer at
    a time, checked writable before anything trains).
    An existing file is refused unless ``resume`` (continue after the last finished
    cycle; the configuration must match) or ``overwrite`` (start again; the old file
    is kept as ``results.json.replaced-<time>[-n]``). Randomness is derived from
    ``(seed, dataset, trial)`` for the initial labeled set (shared by every method of
    a trial: the comparison is paired) and, per cycle, as ``config.seeding`` says
    (:mod:`tavaal_nb.seeding`: by default the training and candidate draws are shared by
    every method and only the strategy's own draws depend on the method), so a resumed run
    gives the records of an uninterrupted one, and adding a method changes no other method's records.
    Each strategy gets ``config.strategy_params`` (defaults filled in) as ``context.params``; every
    session records them and where each strategy's code comes from, and a resume after a plug-in's
    source changed is refused unless ``allow_changed_plugin`` (:mod:`tavaal_nb.strategies.origin`).
    (Several trials at once: :func:`tavaal_nb.sweep.run_parallel_trials`.)
    """
    check_names(config)
    device = config.resolved_device()
    data = prepare_data(config, device) if data is None else data.to(device)
    check_sizes(config, data)
    if out_dir is None:
        return _run_all(config, data, None, resume, overwrite, callbacks, progress, device,
                        allow_changed_plugin=allow_changed_plugin)
    with claim_folder(out_dir, "run") as claim:  # one writer per folder, checked writable before anything trains
        return _run_all(config, data, Path(out_dir), resume, overwrite, callbacks, progress, device, claim,
                        allow_changed_plugin)


def save_results(results: Results, claim: FolderClaim | None = None) -> None:
    """Save ``results`` after a cycle; a failed write becomes a :class:`ResultsSaveError` that says what is kept.

    With ``claim`` (the folder's), a folder removed or replaced since it was claimed is not recreated:
    :meth:`~tavaal_nb.outdir.FolderClaim.check_intact` raises first.
    """
    if claim is not None:
        claim.check_intact()
    try:
        results.save()
    except ResultsSaveError:
        raise  # already says what is wrong (a folder where the file belongs)
    except OSError as error:
        raise ResultsSaveError(
            f"could not save {results.path} ({(error.strerror or str(error)).lower()}); the cycles saved before "
            "are kept: fix the cause (space, permissions), then --resume continues from the last saved cycle"
        ) from error


def _saved_cycles(results: Results) -> int:
    return sum(len(run["cycles"]) for run in results.runs)


def _run_all(config: Config, data: ImageData, out_dir: Path | None, resume: bool, overwrite: bool,
             callbacks: Sequence[Callback], progress: bool, device: torch.device,
             claim: FolderClaim | None = None, allow_changed_plugin: bool = False) -> Results:
    """The body of :func:`run_experiment`, once ``out_dir`` is claimed."""
    results = open_results(config, data, out_dir, resume, overwrite, allow_changed_plugin)
    existed = results.path is not None and results.path.exists()
    if existed:  # a resumed file runs as it was made (kept_on_resume), with this command's execution fields
        config = Config.from_dict(results.config)
    session = session_entry(device)
    # execution fields: whether steps were captured as CUDA graphs, and which fell back to eager (cuda_graphs.py)
    session["cuda_graphs"] = Runtime.resolve(config, device).cuda_graphs
    session["eager_fallbacks"] = {}
    clear_eager_fallbacks()
    session["strategies"] = strategy_provenance(config)
    results.data.setdefault("sessions", []).append(session)
    augmenter = make_augmenter(config, data)
    started = time.perf_counter()
    stopped: BaseException | None = None
    try:
        for trial in range(config.first_trial, config.first_trial + config.trials):
            for method in config.methods:
                _run_one(config, data, augmenter, results, method, trial, callbacks, progress, session, started, claim)
        results.data["status"] = "finished"
    except NonFiniteLossError as error:
        results.data["status"] = f"stopped: {error}"
        stopped = error
        raise
    except BaseException as error:
        stopped = error
        raise
    finally:
        session["wall_time_s"] = round(time.perf_counter() - started, 3)
        session["eager_fallbacks"] = eager_fallbacks()
        # a new file is written once it holds a cycle or a NaN stop; a run that failed before either leaves nothing
        keep = existed or _saved_cycles(results) > 0 or isinstance(stopped, NonFiniteLossError)
        if results.path is not None and (stopped is None or keep):
            try:
                save_results(results, claim)
            except ResultsSaveError:
                if stopped is None:
                    raise  # otherwise the error that stopped the run is the one to report
    return results


def _run_one(
    config: Config, data: ImageData, augmenter: Augmenter, results: Results, method: str, trial: int,
    callbacks: Iterable[Callback], progress: bool, session: dict, started: float, claim: FolderClaim | None = None,
) -> None:
    """One run of one (method, trial): continue its saved cycles (or start it), saving after each cycle."""
    strategy = get_strategy(method)
    params = resolve_params(strategy, method, config.strategy_params.get(method))
    device = data.train_labels.device
    run = results.run(method, trial)
    if run is None:
        trial_seed = initial_seed(config, trial)
        pool = ActivePool.random(data.train_size, config.initial, torch.Generator().manual_seed(trial_seed))
        run = {"method": method, "trial": trial, "seed": trial_seed, "initial_indices": pool.labeled.tolist(),
               "finished": False, "cycles": []}
        results.runs.append(run)
    if run.get("finished"):
        return
    pool = replay_pool(run, data.train_size)
    for callback in callbacks:
        callback.on_run_start(method, trial, config)
    labels_cpu = data.train_labels.cpu()
    bar = progress_bar(range(len(run["cycles"]), config.cycles), desc=f"{method} trial {trial}", disable=not progress)
    for cycle in bar:
        seeds = cycle_seeds(config, method, trial, cycle)
        torch.manual_seed(seeds.training)
        generator = torch.Generator().manual_seed(seeds.strategy)
        device_generator = torch.Generator(device=device).manual_seed(seeds.training)
        timings: dict[str, float] = {}
        labeled = pool.labeled.to(device)
        tic = time.perf_counter()
        task = build_task_model(config, data, strategy.trains_ranker, device)

        def on_epoch(epoch: int, loss: float, _cycle: int = cycle) -> None:
            for callback in callbacks:
                callback.on_epoch_end(method, trial, _cycle, epoch, loss)

        ranking_loss = ranker_objective_loss(strategy.ranker_objective, config.ranker_margin)
        losses = train_task_model(task, data, labeled, config, augmenter, device_generator, ranking_loss, progress,
                                  on_epoch)
        timings["train"] = time.perf_counter() - tic
        tic = time.perf_counter()
        accuracy = evaluate(task, data, augmenter, config.eval_batch_size, Runtime.resolve(config, device))
        timings["evaluate"] = time.perf_counter() - tic
        plain_accuracy = None
        if config.retrain_plain:  # sec. 6.1 / Fig. 4: same labeled set, no Ranker, its own seed
            tic = time.perf_counter()
            plain_accuracy = plain_test_accuracy(config, data, labeled, augmenter, derive_seed(seeds.training, "plain"))
            timings["plain"] = time.perf_counter() - tic
        selection: Selection | None = None
        if cycle < config.cycles - 1:
            tic = time.perf_counter()
            if seeds.shared:  # the same candidates for every method (as far as their pools allow)
                candidates = pool.candidates_by_keys(config.subset, candidate_keys(data.train_size, seeds.candidates))
                torch.manual_seed(seeds.strategy)  # what the strategy initialises (a VAE) is its own draw
                device_generator = torch.Generator(device=device).manual_seed(seeds.strategy)
            else:  # before 0.2: the candidates came first from the method's generator
                candidates = pool.candidates(config.subset, generator)
            selection = query_strategy(strategy, method, cycle, QueryContext(
                config, data, augmenter, task, labeled, candidates.to(device), config.budget, generator,
                device_generator, progress, cycle, params))
            pool.label(selection.indices)
            timings["select"] = time.perf_counter() - tic
        timings["total"] = sum(timings.values())
        record = cycle_record(cycle, labels_cpu, labeled.cpu(), accuracy, selection, method, data.num_classes,
                              losses, timings, plain_accuracy, strategy.data_fields)
        run["cycles"].append(record)
        session["wall_time_s"] = round(time.perf_counter() - started, 3)
        session["eager_fallbacks"] = eager_fallbacks()
        if results.path is not None:
            save_results(results, claim)
        bar.set_postfix(labeled=record["labeled_size"], acc=f"{accuracy:.2f}%")
        for callback in callbacks:
            callback.on_cycle_end(method, trial, record, selection)
    run["finished"] = True
    if results.path is not None:
        save_results(results, claim)
    for callback in callbacks:
        callback.on_run_end(method, trial, run)
