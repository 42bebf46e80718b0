"""The grid of a sweep: which (dataset, method, trial) tasks it holds and the Config of each.

A :class:`SweepSpec` is what the user asks for (datasets x methods x trials on one preset,
with overrides and a seed); it is checked whole on creation, so a bad name or value fails
before anything runs. Each :class:`SweepTask` runs as an ordinary one-method, one-trial run
(``trials=1, first_trial=k``), whose records equal trial ``k`` of a multi-trial run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tavaal_nb.config import Config, make_config, renamed_fields, resolve_preset
from tavaal_nb.names import safe_name
from tavaal_nb.preflight import check_names
from tavaal_nb.stored_config import EXECUTION_FIELDS

__all__ = ["SweepSpec", "SweepTask", "split_names", "RESERVED", "EXECUTION_ONLY"]

RESERVED = ("dataset", "methods", "trials", "first_trial", "seed", "preset")
"""Config fields a sweep sets itself, per task; they cannot be overrides."""
EXECUTION_ONLY = EXECUTION_FIELDS
"""Overrides that only say where or how a task executes: they may change on resume (as for ``run --resume``:
:data:`tavaal_nb.stored_config.EXECUTION_FIELDS`)."""


def split_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a,b"``, ``["a", "b,c"]`` -> ``("a", "b", "c")``."""
    if value is None:
        return ()
    chunks = [value] if isinstance(value, str) else list(value)
    return tuple(name.strip() for chunk in chunks for name in str(chunk).split(",") if name.strip())


@dataclass(frozen=True)
class SweepTask:
    """One (dataset, method, trial) of a sweep."""

    dataset: str
    method: str
    trial: int

    def __post_init__(self) -> None:  # each becomes a folder under the sweep's: one path component each
        safe_name("dataset", self.dataset)
        safe_name("method", self.method)
        if not isinstance(self.trial, int) or isinstance(self.trial, bool) or self.trial < 0:
            raise ValueError(f"a task's trial must be a non-negative integer, got {self.trial!r}")

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
        datasets, methods = split_names(self.datasets), split_names(self.methods)
        object.__setattr__(self, "datasets", datasets)
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "preset", resolve_preset(self.preset))
        overrides = renamed_fields({k: v for k, v in dict(self.overrides or {}).items() if v is not None})
        reserved = sorted(set(overrides) & set(RESERVED))
        if reserved:
            problems.append(f"overrides cannot set {reserved}: a sweep sets them per task "
                            "(use datasets=, methods=, trials=, seed=, preset=)")
            overrides = {k: v for k, v in overrides.items() if k not in RESERVED}
        object.__setattr__(self, "overrides", json.loads(json.dumps(overrides)))
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
        params = overrides.get("strategy_params")
        if isinstance(params, Mapping):
            problems += [f"strategy_params names method {method!r}, which the sweep does not run; its methods: "
                         f"{', '.join(methods)}" for method in params if method not in methods]
        if not problems:
            problems = self._task_problems()
        if problems:
            raise ValueError("invalid sweep:\n  - " + "\n  - ".join(problems))

    def _task_problems(self) -> list[str]:
        """Every distinct problem of the grid's Configs (one per (dataset, method) checks each name and value)."""
        found: list[str] = []
        for dataset in self.datasets:
            for method in self.methods:
                try:
                    check_names(self.config_for(SweepTask(dataset, method, 0)))
                except ValueError as error:
                    for line in str(error).splitlines():
                        line = line.strip().removeprefix("- ")
                        if line and line != "invalid configuration:" and line not in found:
                            found.append(line)
        return found

    def tasks(self) -> list[SweepTask]:
        """Every task, trial by trial (a sweep stopped early leaves whole trials)."""
        assert self.trials is not None  # __post_init__ resolved None to the preset's count
        return [SweepTask(d, m, t) for d in self.datasets for t in range(self.trials) for m in self.methods]

    def config_for(self, task: SweepTask) -> Config:
        """The engine Config of one task: one method, one trial (``first_trial=task.trial``), with the
        ``strategy_params`` of that method only."""
        overrides = dict(self.overrides)
        if isinstance(overrides.get("strategy_params"), Mapping):
            overrides["strategy_params"] = {m: v for m, v in overrides["strategy_params"].items() if m == task.method}
        return make_config(self.preset, dataset=task.dataset, methods=(task.method,), trials=1,
                           first_trial=task.trial, seed=self.seed, **overrides)

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
        assert self.trials is not None and stored.trials is not None  # __post_init__ resolved None to the preset's
        if self.trials < stored.trials:
            problems.append(f"trials: the sweep has {stored.trials}, this command has {self.trials} (it can grow, not shrink)")
        return problems

    def merged_with(self, stored: SweepSpec) -> SweepSpec:
        """This spec with ``stored``'s datasets and methods first, in their order."""
        datasets = stored.datasets + tuple(d for d in self.datasets if d not in stored.datasets)
        methods = stored.methods + tuple(m for m in self.methods if m not in stored.methods)
        return dataclasses.replace(self, datasets=datasets, methods=methods, preset=self.preset)
