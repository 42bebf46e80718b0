"""The results file: one JSON document per experiment directory, rewritten atomically after every cycle.

Layout (``format: tavaal-nb/results``, ``version: 1``)::

    config        the Config as a dict
    dataset       name, num_classes, class_names, train_size, test_size, class_counts, ...
    sessions      one entry per invocation: device, torch version, start time, wall time
    runs          one per (method, trial): method, trial, seed, initial_indices, finished,
                  cycles: [{cycle, labeled_size, test_accuracy (percent), labeled_class_counts,
                            selected_indices, selected_class_counts, selected_class_entropy,
                            discriminator_scores, selection_threshold, train_loss, timings_s}, ...]

A cycle's ``selected_*`` fields describe the query made at the end of that cycle
(what is added for the next one); the last cycle makes no query and has them empty / null.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from tavaal_nb.errors import LinkRefusedError

__all__ = ["Results", "ResultsFileError", "load_results", "check_runs", "atomic_write_text", "open_append",
           "link_refused", "mean_std", "RESULTS_NAME", "FORMAT"]

FORMAT = "tavaal-nb/results"
VERSION = 1
RESULTS_NAME = "results.json"


class ResultsFileError(ValueError):
    """A results file that cannot be read as one."""


def link_refused(path: str | Path) -> LinkRefusedError:
    """The error for a symbolic link found where tavaal-nb writes a file of its own."""
    return LinkRefusedError(f"{path} is a symbolic link; refusing to write through it: remove the link "
                            "(tavaal-nb writes its own files there), or choose another --out")


def open_append(path: str | Path) -> TextIO:
    """``path`` opened for appending text (created if missing), never through a symbolic link.

    The file is opened with ``O_NOFOLLOW``: a link placed there (by anyone) raises
    :class:`~tavaal_nb.errors.LinkRefusedError` instead of the link's target being written.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP and os.path.islink(path):
            raise link_refused(path) from None
        raise
    return os.fdopen(fd, "a", encoding="utf-8")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a torn one.

    The text goes to a new temporary file (``mkstemp``: ``O_CREAT | O_EXCL``, which never opens
    an existing path or a link) that :func:`os.replace` renames onto ``path``; a symbolic link at
    ``path`` is replaced by the file, its target is never written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def read_document(path: Path, fmt: str, version: int, what: str) -> dict[str, Any]:
    """Parse a versioned tavaal-nb JSON document, or raise :class:`ResultsFileError` (file untouched)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsFileError(f"{path} is not valid JSON ({error}); it was left untouched") from error
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise ResultsFileError(f"{path} is not a tavaal-nb {what} (no 'format': '{fmt}'); it was left untouched")
    stored = data.get("version")
    if type(stored) is not int or stored != version:
        raise ResultsFileError(f"{path} has {what} format version {stored!r}, this tavaal-nb reads version {version!r} "
                               "(an integer); it was left untouched")
    return data


def _is_index_list(value: Any) -> bool:
    return isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)


_RUN_FIELDS = {"method": lambda v: isinstance(v, str) and bool(v), "trial": lambda v: type(v) is int and v >= 0,
               "initial_indices": _is_index_list, "cycles": lambda v: isinstance(v, list)}
_CYCLE_FIELDS = {"cycle": lambda v: type(v) is int and v >= 0, "labeled_size": lambda v: type(v) is int and v >= 0,
                 "test_accuracy": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
                 "selected_indices": _is_index_list}
_EXPECTED = {"method": "a method name", "trial": "an integer >= 0", "initial_indices": "a list of pool indices",
             "cycles": "a list of cycle records", "cycle": "an integer >= 0", "labeled_size": "an integer >= 0",
             "test_accuracy": "a number or null", "selected_indices": "a list of pool indices"}


def check_runs(data: dict[str, Any]) -> str | None:
    """The first problem of a results document's ``runs`` (run, cycle, field), or None when there is none.

    Checked: every field the loop reads when it resumes or the views read when they plot.
    """
    runs = data.get("runs")
    if not isinstance(runs, list):
        return "'runs' is not a list"
    for k, run in enumerate(runs):
        if not isinstance(run, dict):
            return f"run {k} is not an object"
        where = f"run {k}" + (f" ({run['method']}, trial {run['trial']})"
                              if isinstance(run.get("method"), str) and "trial" in run else "")
        for name, valid in _RUN_FIELDS.items():
            if name not in run:
                return f"{where} lacks its '{name}' field"
            if not valid(run[name]):
                return f"{where}: '{name}' must be {_EXPECTED[name]}, got {str(run[name])[:60]}"
        for c, record in enumerate(run["cycles"]):
            if not isinstance(record, dict):
                return f"{where}, cycle {c}: not an object"
            for name, valid in _CYCLE_FIELDS.items():
                if name not in record:
                    return f"{where}, cycle {c} lacks its '{name}' field"
                if not valid(record[name]):
                    return f"{where}, cycle {c}: '{name}' must be {_EXPECTED[name]}, got {str(record[name])[:60]}"
    return None


class Results:
    """A results document with helpers for the views, the report and resuming."""

    def __init__(self, data: dict[str, Any], path: Path | None = None) -> None:
        self.data = data
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
        if path.is_dir():
            path = path / RESULTS_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no results file at {path}")
        data = read_document(path, FORMAT, VERSION, "results file")
        for key in ("config", "dataset", "runs"):
            if key not in data:
                raise ResultsFileError(f"{path} lacks its '{key}' section; it was left untouched")
        problem = check_runs(data)
        if problem is not None:
            raise ResultsFileError(f"{path} is malformed: {problem}; it was left untouched")
        return cls(data, path)

    def save(self, path: str | Path | None = None) -> Path:
        """Atomically (re)write the file; returns its path."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("this Results has no path; pass one")
        if target.is_dir():
            target = target / RESULTS_NAME
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


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1 in the denominator; 0 for a single trial)."""
    values = [v for v in values if v is not None]
    if not values:
        return float("nan"), float("nan")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
