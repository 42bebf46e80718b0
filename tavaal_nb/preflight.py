"""What a run checks before it writes anything: the Config, its names, the pool's size, a resumed file's indices."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import torch

from tavaal_nb.config import Config
from tavaal_nb.data.datasets import DATASETS, ImageData
from tavaal_nb.data.pool import ActivePool
from tavaal_nb.errors import NeverQueriedWarning, ResultsMismatchError
from tavaal_nb.names import safe_name
from tavaal_nb.results import Results
from tavaal_nb.strategies import get_strategy, strategy_names
from tavaal_nb.strategies.params import param_problems

__all__ = ["check_config", "check_names", "warn_if_never_queried", "check_sizes", "check_stored_indices",
           "replay_pool"]


def check_config(config: Any) -> None:
    """Raise ``ValueError`` unless ``config`` is a :class:`Config` (a dict or None is not one)."""
    if not isinstance(config, Config):
        raise ValueError(f"a run needs a Config, got {type(config).__name__} {str(config)[:60]!r}; build one with "
                         "tavaal_nb.config.make_config(preset, **overrides) or Config.from_dict(a_dict)")


def _name_error(kind: str, name: object) -> ValueError | None:
    try:
        safe_name(kind, name)
    except ValueError as error:
        return error
    return None


def check_names(config: Config) -> None:
    """Raise ``ValueError`` naming every dataset or method of ``config`` that no registry knows.

    :class:`Config` checks values only; names are looked up here, in the dataset registry and
    the strategy registry (which plug-ins may extend), before a run or a sweep writes anything.
    The methods' ``strategy_params`` are checked against what each strategy declares
    (:func:`~tavaal_nb.strategies.params.param_problems`). A configuration whose methods would never be queried (one cycle) is warned about
    (:func:`warn_if_never_queried`).
    """
    check_config(config)
    problems = [str(error) for kind, name in (("dataset", config.dataset), *(("method", m) for m in config.methods))
                if (error := _name_error(kind, name)) is not None]
    if problems:  # a name that would be a path outside the results folder is refused before any lookup
        raise ValueError("invalid configuration:\n  - " + "\n  - ".join(problems))
    if config.dataset not in DATASETS:
        problems.append(f"dataset {config.dataset!r} is unknown; valid: {', '.join(DATASETS)}")
    known = strategy_names()
    problems += [f"method {method!r} is unknown; valid: {', '.join(known)}"
                 for method in config.methods if method not in known]
    if not problems:  # each given strategy parameter against what its strategy declares
        problems = param_problems(config.strategy_params, {m: get_strategy(m) for m in config.methods})
    if problems:
        raise ValueError("invalid configuration:\n  - " + "\n  - ".join(problems))
    warn_if_never_queried(config)


def warn_if_never_queried(config: Config) -> None:
    """Warn (:class:`~tavaal_nb.errors.NeverQueriedWarning`) when ``config`` has one cycle and a method
    other than ``random``: a query follows every cycle but the last, so that method's ``select()`` is
    never called and a plug-in would seem to pass without having run. :func:`check_names` calls it."""
    untried = [method for method in config.methods if method != "random"]
    if config.cycles == 1 and untried:
        warnings.warn(f"cycles=1: the run trains once on the initial labeled set and makes no query, so "
                      f"select() of {', '.join(map(repr, untried))} is never called; set cycles to 2 or more "
                      "(--cycles 2) to run a query", NeverQueriedWarning, stacklevel=2)


def check_sizes(config: Config, data: ImageData) -> None:
    """Refuse a run whose cycles need more images than the pool holds."""
    needed = config.initial + config.budget * (config.cycles - 1)
    if needed > data.train_size:
        raise ValueError(
            f"{config.cycles} cycles of {config.initial} + {config.budget} per query need {needed} images, "
            f"but the {data.name} pool has {data.train_size}; lower --cycles, --initial or --budget"
        )


def check_stored_indices(results: Results, pool_size: int, config: Config | None = None) -> None:
    """Raise :class:`~tavaal_nb.errors.ResultsMismatchError` naming the file, run and cycle of the first stored
    index a resumed run could not replay (out of the pool's range, repeated, or labeled twice), or, given the
    ``config`` that resumes it, of the first count that is not the configuration's (``initial`` indices at the
    start, ``budget`` per query, none after the last cycle)."""
    for k, run in enumerate(results.runs):
        where = f"{results.path}: run {k} ({run['method']}, trial {run['trial']})"
        initial = run["initial_indices"]
        if config is not None and len(initial) != config.initial:
            raise ResultsMismatchError(f"{where}, initial_indices holds {len(initial)} indices, the configuration's "
                                       f"initial is {config.initial}; it was left untouched")
        count_check = None if config is None else partial(_check_count, config, pool_size, where)
        try:
            replay_pool(run, pool_size, count_check)
        except ResultsMismatchError:
            raise
        except ValueError as error:
            raise ResultsMismatchError(f"{where}, {error}; it was left untouched") from None


def _check_count(config: Config, pool_size: int, where: str, pool: ActivePool, record: Mapping[str, Any]) -> None:
    """Refuse a cycle's ``selected_indices`` whose count is not ``config``'s: ``budget`` (or what the ``pool``
    has left) per query, none after the last cycle."""
    selected = record["selected_indices"]
    last = record["cycle"] >= config.cycles - 1
    wanted = 0 if last else min(config.budget, pool_size - pool.labeled.numel())
    if len(selected) != wanted:
        raise ResultsMismatchError(
            f"{where}, cycle {record['cycle']}, selected_indices holds {len(selected)} indices, the "
            + (f"configuration's budget is {config.budget}" if not last else
               f"last cycle ({config.cycles - 1}) makes no query") + "; it was left untouched")


def replay_pool(run: Mapping[str, Any], pool_size: int,
                before_label: Callable[[ActivePool, Mapping[str, Any]], None] | None = None) -> ActivePool:
    """The pool of a stored ``run`` as its indices left it: ``initial_indices`` labeled, then each cycle's
    ``selected_indices`` in order (what a resumed run continues from). ``before_label(pool, record)``, if
    given, sees each cycle's record before its indices are labeled. Raises ``ValueError`` naming the stored
    list the pool refuses (``initial_indices: ...`` or ``cycle N, selected_indices: ...``: an index out of
    the pool's range, repeated, or labeled twice)."""
    try:
        pool = ActivePool(pool_size, run["initial_indices"])
    except ValueError as error:
        raise ValueError(f"initial_indices: {error}") from None
    for record in run["cycles"]:
        if before_label is not None:
            before_label(pool, record)
        try:
            pool.label(torch.as_tensor(record["selected_indices"], dtype=torch.long))
        except ValueError as error:
            raise ValueError(f"cycle {record['cycle']}, selected_indices: {error}") from None
    return pool
