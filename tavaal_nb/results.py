"""The results file: one JSON document per experiment directory, rewritten atomically after every cycle.

Layout (``format: tavaal-nb/results``, ``version: 2``)::

    config        the Config as a dict
    dataset       name, num_classes, class_names, train_size, test_size, class_counts, ...
    sessions      one entry per invocation (:data:`tavaal_nb.provenance.SESSION_FIELDS`; never compared on resume;
                  with cuda_graphs and eager_fallbacks: :mod:`tavaal_nb.cuda_graphs`)
    runs          one per (method, trial): method, trial, seed, initial_indices, finished,
                  cycles: [one record per cycle, :data:`tavaal_nb.cycle_record.CYCLE_FIELDS`, ...]

A cycle's ``selected_*`` and ``candidate_*`` fields describe the query made at the end of that cycle
(what is added for the next one); the last cycle makes no query and has them empty / null.
``candidate_scores`` holds the strategy's score of every candidate (any strategy), in the candidates'
order; ``strategy_data`` is what the strategy asked to keep, under its own keys, checked by its own rules
(:attr:`tavaal_nb.strategies.base.Strategy.data_fields`; the VAAL family's are exported by
:mod:`tavaal_nb.strategies.vaal`); ``{}`` for the others.

Every field is defined once, where its record is built; a file is checked against those definitions when it is
read. An older file is upgraded as it is read (:func:`upgrade`): version 1's records written before
``strategy_data`` existed held the VAAL family's fields at their top level, and move into it; a field added
since gets its ``before`` value (``candidate_scores: null``: not recorded then), like a config field added later
(:data:`tavaal_nb.stored_config.VALUE_BEFORE_FIELD_EXISTED`): an old file loads, resumes and pools with new ones, and
is saved in today's version.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tavaal_nb.cycle_record import CYCLE_FIELDS
from tavaal_nb.errors import ResultsFileError
from tavaal_nb.files import atomic_write_text, check_regular_file, check_save_target
from tavaal_nb.markup import terminal
from tavaal_nb.provenance import SESSION_FIELDS
from tavaal_nb.schema import REQUIRED, Field, field_problem, is_count, is_index_list, run_of, type_name
from tavaal_nb.stored_config import config_problem

__all__ = ["Results", "ResultsFileError", "load_results", "check_runs", "check_sections", "upgrade",
           "read_document", "RESULTS_NAME", "FORMAT", "VERSION"]

FORMAT = "tavaal-nb/results"
VERSION = 2
RESULTS_NAME = "results.json"


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def read_document(path: Path, fmt: str, version: int, what: str, oldest: int | None = None) -> dict[str, Any]:
    """Parse a versioned tavaal-nb JSON document, or raise :class:`ResultsFileError` (file untouched).

    Versions ``oldest`` (default: ``version``) to ``version`` are read; the caller upgrades an older one."""
    check_regular_file(path, what)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsFileError(f"{path} is not valid JSON ({error}); it was left untouched") from error
    except RecursionError:
        raise ResultsFileError(f"{path} nests its JSON too deeply to be a tavaal-nb {what}; it was left "
                               "untouched") from None
    except OSError as error:
        raise ResultsFileError(f"{path} cannot be read as a {what} ({error.strerror or error}); it was left "
                               "untouched") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise ResultsFileError(f"{path} is not a tavaal-nb {what} (no 'format': '{fmt}'); it was left untouched")
    stored, low = data.get("version"), version if oldest is None else oldest
    if type(stored) is not int or not low <= stored <= version:
        valid = f"version {version!r}" if low == version else f"versions {low} to {version}"
        raise ResultsFileError(f"{path} has {what} format version {stored!r}, this tavaal-nb reads {valid} "
                               "(an integer); it was left untouched")
    return data


_RUN_FIELDS = {"method": Field(lambda v: isinstance(v, str) and bool(v), "a method name"),
               "trial": Field(is_count, "an integer >= 0"),
               "seed": Field(lambda v: type(v) is int, "an integer", before=None),
               "initial_indices": Field(lambda v: is_index_list(v) and bool(v), "a non-empty list of pool indices"),
               "finished": Field(lambda v: isinstance(v, bool), "true or false", before=False),
               "cycles": Field(lambda v: isinstance(v, list), "a list of cycle records")}
_DATASET_FIELDS = {"name": Field(lambda v: isinstance(v, str), "a dataset name"),
                   "num_classes": Field(lambda v: type(v) is int and v >= 1, "an integer >= 1"),
                   "class_names": Field(lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                                        "a list of names"),
                   "class_counts": Field(is_index_list, "a list of counts"),
                   "train_size": Field(is_count, "an integer >= 0"),
                   "test_size": Field(is_count, "an integer >= 0"),
                   "image_shape": Field(is_index_list, "a list of sizes")}


def check_sections(data: dict[str, Any]) -> str | None:
    """The first problem of a results document's top-level sections (field path and what is valid), or None:
    each section's type, the config's fields (:func:`~tavaal_nb.stored_config.config_problem`), the dataset's and
    every session's (:data:`~tavaal_nb.provenance.SESSION_FIELDS`) when present."""
    for key, kind, expected in (("config", dict, "an object"), ("dataset", dict, "an object"),
                                ("runs", list, "a list of runs"), ("sessions", list, "a list of sessions")):
        if key in data and not isinstance(data[key], kind):
            return f"'{key}' must be {expected}, got {type_name(data[key])}"
    problem = config_problem(data["config"]) if "config" in data else None
    if problem is None and "dataset" in data:
        problem = field_problem(data["dataset"], _DATASET_FIELDS, "dataset", required=False)
    for k, session in enumerate(data.get("sessions") or []):
        if problem is not None:
            break
        problem = (f"sessions[{k}] must be an object, got {type_name(session)}" if not isinstance(session, dict)
                   else field_problem(session, SESSION_FIELDS, f"sessions[{k}]", required=False))
    return problem


def _data_fields(method: str) -> Mapping[str, Field]:
    """The ``strategy_data`` rules of ``method``'s strategy; none for a method no registry knows here."""
    from tavaal_nb.strategies.registry import get_strategy  # the registry imports the strategies: only when read

    try:
        return get_strategy(method).data_fields
    except ValueError:
        return {}


def check_runs(data: dict[str, Any]) -> str | None:
    """The first problem of a results document's ``runs`` (run, cycle, field), or None when there is none.

    Checked: every run field and every cycle field (:data:`~tavaal_nb.cycle_record.CYCLE_FIELDS`), present
    (the required ones) and of its type, named by its path (``runs[0].cycles[1].candidate_scores``); a
    cycle's ``strategy_data`` by its method's rules (:attr:`~tavaal_nb.strategies.base.Strategy.data_fields`).
    """
    runs = data.get("runs")
    if not isinstance(runs, list):
        return f"'runs' must be a list of runs, got {type_name(runs)}"
    for k, run in enumerate(runs):
        if not isinstance(run, dict):
            return f"runs[{k}] (run {k}) must be an object, got {type_name(run)}"
        label = f"run {k}" + (f" ({terminal(run['method'])}, trial {terminal(run['trial'])})"
                              if isinstance(run.get("method"), str) and "trial" in run else "")
        problem = field_problem(run, _RUN_FIELDS, f"runs[{k}]", label)
        if problem is not None:
            return problem
        rules = _data_fields(run["method"])
        for c, record in enumerate(run["cycles"]):
            where = f"runs[{k}].cycles[{c}]"
            if not isinstance(record, dict):
                return f"{where}{run_of(label)} must be an object, got {type_name(record)}"
            problem = field_problem(record, CYCLE_FIELDS, where, f"{label}, cycle {c}")
            if problem is None and rules:
                problem = field_problem(record["strategy_data"], rules, f"{where}.strategy_data", label,
                                        required=False)
            if problem is not None:
                return problem
    return None


_OLD_TOP_LEVEL = ("discriminator_scores", "selection_threshold", "vae_loss", "discriminator_loss")
"""Version 1: the VAAL family's fields a cycle record held at its top level before ``strategy_data`` existed."""


def _upgrade_1_to_2(data: dict[str, Any]) -> None:
    """Version 1 -> 2: a cycle record without ``strategy_data`` (written before it existed) has its top-level
    VAAL fields that hold a value moved into ``strategy_data`` (null ones are dropped: the other strategies'
    records have ``{}``)."""
    for record in _records(data):
        if "strategy_data" not in record:
            moved = {name: record.pop(name) for name in _OLD_TOP_LEVEL if name in record}
            record["strategy_data"] = {name: value for name, value in moved.items() if value is not None}
    data["version"] = 2


_UPGRADES = {1: _upgrade_1_to_2}
"""Version -> the step that brings a document of that version to the next one."""


def _records(data: dict[str, Any]) -> Iterable[dict[str, Any]]:
    runs = data.get("runs")
    for run in runs if isinstance(runs, list) else []:
        for record in run.get("cycles") or [] if isinstance(run, dict) else []:
            if isinstance(record, dict):
                yield record


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A results document in today's shape (in place; returned): its version's upgrade steps in turn, then every
    cycle field it lacks that has a ``before`` value (a field added since it was written) filled with it."""
    version = data.get("version", VERSION)
    while isinstance(version, int) and version in _UPGRADES:
        _UPGRADES[version](data)
        version = data["version"]
    for record in _records(data):
        for name, spec in CYCLE_FIELDS.items():
            if name not in record and spec.before is not REQUIRED and not spec.optional:
                record[name] = json.loads(json.dumps(spec.before))  # a copy: records never share a value
    return data


class Results:
    """A results document with helpers for the views, the report and resuming."""

    def __init__(self, data: dict[str, Any], path: Path | None = None) -> None:
        """``data`` is a results document, brought into today's shape (:func:`upgrade`)."""
        self.data = upgrade(data)
        self.path = path

    # ---------------------------------------------------------------- creation / io
    @classmethod
    def new(cls, config: dict[str, Any], dataset: dict[str, Any], path: Path | None = None) -> Results:
        return cls({"format": FORMAT, "version": VERSION, "config": config, "dataset": dataset,
                    "sessions": [], "runs": []}, path)

    @classmethod
    def load(cls, path: str | Path) -> Results:
        """Read ``path`` (a results file, or a directory holding ``results.json``)."""
        path = Path(path)
        if path.is_dir() and path.name != RESULTS_NAME:
            path = path / RESULTS_NAME
        check_regular_file(path)
        if not path.is_file():
            raise FileNotFoundError(f"no results file at {path}")
        data = read_document(path, FORMAT, VERSION, "results file", oldest=min(_UPGRADES))
        for key in ("config", "dataset", "runs"):
            if key not in data:
                raise ResultsFileError(f"{path} lacks its '{key}' section; it was left untouched")
        problem = check_sections(data) or check_runs(upgrade(data))
        if problem is not None:
            raise ResultsFileError(f"{path} is malformed: {problem}; it was left untouched")
        return cls(data, path)

    def save(self, path: str | Path | None = None) -> Path:
        """Atomically (re)write the file; returns its path. ``path`` may be a folder (``results.json`` in it);
        a results path that is a folder or anything but a file (or a link, replaced) is refused, never written into."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("this Results has no path; pass one")
        if path is not None and target.name != RESULTS_NAME and target.is_dir() and not target.is_symlink():
            target = target / RESULTS_NAME
        check_save_target(target)
        atomic_write_text(target, json.dumps(_clean(self.data), separators=(",", ":")))
        self.path = target
        return target

    # ---------------------------------------------------------------- accessors
    @property
    def config(self) -> dict[str, Any]:
        return self.data["config"]

    @property
    def dataset(self) -> dict[str, Any]:
        return self.data["dataset"]

    @property
    def runs(self) -> list[dict[str, Any]]:
        return self.data["runs"]

    @property
    def methods(self) -> list[str]:
        seen: list[str] = []
        for run in self.runs:
            if run["method"] not in seen:
                seen.append(run["method"])
        return seen

    @property
    def label(self) -> str:
        """A short name for legends: the dataset and, when known, the directory."""
        where = self.path.parent.name if self.path is not None else ""
        return f"{self.dataset['name']}" + (f" ({where})" if where else "")

    def run(self, method: str, trial: int) -> dict[str, Any] | None:
        for run in self.runs:
            if run["method"] == method and run["trial"] == trial:
                return run
        return None

    def curves(self, field: str = "test_accuracy") -> dict[str, dict[str, list]]:
        """Per method: ``labeled_size`` and ``accuracy`` (one list of trial values per size).

        ``field`` is the record's accuracy to gather (``plain_test_accuracy``: Fig. 4's plain
        retraining); records without it are left out, and so are methods with none. A recorded
        ``null`` (a non-finite accuracy) stays as None: a gap where it belongs.
        """
        out: dict[str, dict[str, list]] = {}
        for run in self.runs:
            for record in run["cycles"]:
                if field not in record:
                    continue
                entry = out.setdefault(run["method"], {"labeled_size": [], "accuracy": []})
                size = record["labeled_size"]
                if size not in entry["labeled_size"]:
                    entry["labeled_size"].append(size)
                    entry["accuracy"].append([])
                entry["accuracy"][entry["labeled_size"].index(size)].append(record[field])
        for entry in out.values():
            order = sorted(range(len(entry["labeled_size"])), key=entry["labeled_size"].__getitem__)
            entry["labeled_size"] = [entry["labeled_size"][k] for k in order]
            entry["accuracy"] = [entry["accuracy"][k] for k in order]
        return out

    def is_finished(self) -> bool:
        first, trials, methods = self.config.get("first_trial", 0), self.config["trials"], self.config["methods"]
        return all((run := self.run(m, t)) is not None and run.get("finished")
                   for m in methods for t in range(first, first + trials))


def load_results(sources: str | Path | Results | Iterable[str | Path | Results]) -> list[Results]:
    """Results from files, directories (searched recursively, e.g. a sweep) or objects."""
    if isinstance(sources, (str, Path, Results)):
        sources = [sources]
    out: list[Results] = []
    for source in sources:
        if isinstance(source, Results):
            out.append(source)
            continue
        path = Path(source)
        if path.is_file():
            out.append(Results.load(path))
        elif (path / RESULTS_NAME).is_file():
            out.append(Results.load(path))
        elif path.is_dir():
            # a parallel run's per-trial files (<run>/trials/trial-k/results.json) are already merged
            # into <run>/results.json: count them once
            found = [p for p in sorted(path.rglob(RESULTS_NAME))
                     if not (p.parent.parent.name == "trials" and (p.parent.parent.parent / RESULTS_NAME).is_file())]
            if not found:
                raise FileNotFoundError(f"no {RESULTS_NAME} under {path}")
            out.extend(Results.load(p) for p in found)
        else:
            raise FileNotFoundError(f"no results file or directory at {path}")
    return out
