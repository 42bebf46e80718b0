"""Grouping, merging and pooling of results: the one rule the report, the widgets and the
notebooks share.

* :func:`group_results`: results that measure the same thing (same dataset and settings,
  whatever the methods, trials, seed or device) belong to one group;
* :func:`merge_results`: a group's results as one :class:`~tavaal_nb.results.Results`,
  trials renumbered per method so runs from several directories stay apart;
The numbers computed from a group (learning-curve statistics) are in :mod:`tavaal_nb.analysis.stats`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tavaal_nb.results import Results
from tavaal_nb.stored_config import EXECUTION_FIELDS, completed_config

__all__ = ["POOLED_FIELDS", "group_results", "merge_results"]

POOLED_FIELDS = ("methods", "trials", "first_trial", "seed", "strategy_params", *EXECUTION_FIELDS)
"""Config fields that may differ between results that are pooled into one group (``strategy_params`` only where
no method is in both with different parameters: :func:`group_results`)."""


def _params(result: Results) -> dict[str, Any]:
    params = result.config.get("strategy_params")
    return params if isinstance(params, dict) else {}


def _conflict(result: Results, members: list[Results]) -> bool:
    """Whether ``result`` runs a method of ``members`` with other parameters (its curve would mix two strategies)."""
    mine = _params(result)
    for other in members:
        shared = {run["method"] for run in result.runs} & {run["method"] for run in other.runs}
        if any(mine.get(method, {}) != _params(other).get(method, {}) for method in shared):
            return True
    return False


def group_results(results: Sequence[Results]) -> dict[str, list[Results]]:
    """Results that measure the same thing, grouped: same dataset and settings, whatever the
    methods, trials, seed or device (e.g. one directory per method, or a sweep over seeds).

    Keys are short labels: the dataset name, plus the settings that tell groups of the same
    dataset apart (``"synthetic (epochs=4)"``). Results that run a method with different
    ``strategy_params`` are not pooled (each such group's label names its parameters).
    """
    keyed: dict[str, list[Results]] = {}
    for result in results:
        key = json.dumps({k: v for k, v in completed_config(result.config).items() if k not in POOLED_FIELDS},
                         sort_keys=True, default=str)
        suffix = 0
        while f"{key}#{suffix}" in keyed and _conflict(result, keyed[f"{key}#{suffix}"]):
            suffix += 1
        keyed.setdefault(f"{key}#{suffix}", []).append(result)
    configs = {key: json.loads(key.rpartition("#")[0]) for key in keyed}
    for key, members in keyed.items():  # the parameters each group ran with, to tell split groups apart
        params = sorted({f"{m}.{k}={v}" for r in members for m, given in _params(r).items() for k, v in given.items()})
        configs[key]["strategy_params"] = ", ".join(params)
    labels: dict[str, list[Results]] = {}
    for key, members in keyed.items():
        name = members[0].dataset.get("name", configs[key].get("dataset", "?"))
        siblings = [other for other in configs if other != key and configs[other].get("dataset") == configs[key].get("dataset")]
        differing = sorted({field for other in siblings for field in configs[key]
                            if configs[key].get(field) != configs[other].get(field)})
        label = name + (" (" + ", ".join(f"{f}={configs[key][f]}" for f in differing[:3]) + ")" if differing else "")
        while label in labels:
            label += "'"
        labels[label] = members
    return labels


def merge_results(results: Sequence[Results]) -> Results:
    """One in-memory :class:`Results` holding the runs of several (same dataset and settings).

    Trials keep their numbers when no (method, trial) appears twice (a sweep's files: trial ``k``
    of every method started from the same labeled set, which paired comparisons rely on);
    otherwise they are renumbered per method (0, 1, ...) in the order met, so runs from several
    directories that each call their trial 0 stay apart. A run's original place is kept in its
    ``source`` field. A single result is returned unchanged.
    """
    results = list(results)
    if not results:
        raise ValueError("nothing to merge: no results given")
    if len(results) == 1:
        return results[0]
    first = results[0]
    config = dict(first.config)
    methods: list[str] = []
    runs: list[dict] = []
    next_trial: dict[str, int] = {}
    keys = [(run["method"], run["trial"]) for result in results for run in result.runs]
    keep = len(set(keys)) == len(keys)
    for result in results:
        for run in result.runs:
            if run["method"] not in methods:
                methods.append(run["method"])
            copy = dict(run)
            copy["trial"] = run["trial"] if keep else next_trial.get(run["method"], 0)
            next_trial[run["method"]] = next_trial.get(run["method"], 0) + 1
            copy["source"] = {"path": str(result.path) if result.path else None, "trial": run["trial"]}
            runs.append(copy)
    config["methods"] = methods
    config["trials"] = max(next_trial.values(), default=0)
    merged = Results.new(config, first.dataset)
    merged.data["runs"] = runs
    return merged
