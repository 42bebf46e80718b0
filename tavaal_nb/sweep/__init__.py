"""Sweeps: every (dataset, method, trial) of an experiment grid, on one machine or a cluster, resumable.

A sweep is a directory::

    <out>/sweep.json                                   the manifest (format ``tavaal-nb/sweep``)
    <out>/<dataset>/<method>/trial-<k>/results.json    one ordinary run per task
    <out>/<dataset>/<method>/trial-<k>/task.log        what each attempt of that task did

Each task is an ordinary :func:`tavaal_nb.loop.run_experiment` call with a Config of one
method and one trial, so its records are exactly those of trial ``k`` of a multi-trial,
multi-method run with the same seed, and it can be opened, resumed and plotted like any
other run. Workers must see the sweep directory at the same path (one machine, or a
shared filesystem). The same machinery runs the trials of one run at once
(:func:`run_parallel_trials`, ``run --parallel-trials N``).

Modules: :mod:`~tavaal_nb.sweep.grid` (what is asked), :mod:`~tavaal_nb.sweep.manifest`
(``sweep.json``), :mod:`~tavaal_nb.sweep.task` (one task), :mod:`~tavaal_nb.sweep.backends`
(where tasks execute), :mod:`~tavaal_nb.sweep.driver` (plan, submit, collect) and
:mod:`~tavaal_nb.sweep.trials` (parallel trials of one run) and :mod:`~tavaal_nb.sweep.packing`
(how many trials share a GPU by default).
"""

from tavaal_nb.sweep.backends import DASK_EXTRA, MissingExtraError
from tavaal_nb.sweep.driver import run_sweep
from tavaal_nb.sweep.grid import RESERVED, SweepSpec, SweepTask, split_names
from tavaal_nb.sweep.manifest import SWEEP_FORMAT, SWEEP_NAME, Sweep, load_sweep
from tavaal_nb.sweep.packing import AUTO, auto_parallel_trials, parse_parallel_trials, trial_memory_bytes
from tavaal_nb.sweep.task import LOG_NAME, SweepTaskError, run_task
from tavaal_nb.sweep.trials import TRIALS_DIR, run_parallel_trials

__all__ = [
    "SweepSpec", "SweepTask", "Sweep", "SweepTaskError", "MissingExtraError", "run_sweep", "run_task",
    "load_sweep", "run_parallel_trials", "split_names", "SWEEP_NAME", "SWEEP_FORMAT", "LOG_NAME", "DASK_EXTRA",
    "RESERVED", "TRIALS_DIR", "AUTO", "auto_parallel_trials", "parse_parallel_trials", "trial_memory_bytes",
]
