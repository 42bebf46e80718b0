"""The results file: one JSON document per experiment directory, rewritten atomically after every cycle.

Layout (``format: tavaal-nb/results``, ``version: 1``)::

    config        the Config as a dict
    dataset       name, num_classes, class_names, train_size, test_size, class_counts, ...
    sessions      one entry per invocation: start time, device, torch and Python versions, package_version,
                  git_commit and git_dirty of the source tree (None outside a git checkout), wall time
                  (:mod:`tavaal_nb.provenance`; never compared on resume); cuda_graphs (whether steps
                  were captured) and eager_fallbacks (step name -> the capture error, for steps that
                  ran eagerly after a failed capture: :mod:`tavaal_nb.graphs`)
    runs          one per (method, trial): method, trial, seed, initial_indices, finished,
                  cycles: [{cycle, labeled_size, test_accuracy (percent), labeled_class_counts,
                            selected_indices, selected_class_counts, selected_class_entropy,
                            candidate_count, candidate_scores, strategy_data, train_loss, timings_s}, ...]

A cycle's ``selected_*`` and ``candidate_*`` fields describe the query made at the end of that cycle
(what is added for the next one); the last cycle makes no query and has them empty / null.
``candidate_scores`` holds the strategy's score of every candidate (any strategy), in the candidates'
order; ``strategy_data`` is what the strategy asked to keep, under its own keys (the VAAL family's:
``discriminator_scores`` ``D(mu, r)`` per candidate, ``selection_threshold`` the highest score chosen,
``vae_loss`` and ``discriminator_loss`` per block of iterations); ``{}`` for the others.

A file written before ``strategy_data`` existed holds the VAAL family's fields at the record's top level;
:class:`Results` moves them into ``strategy_data`` when it reads the file, and gives such a record
``candidate_scores: null`` (not recorded then), like a config field added later
(:data:`tavaal_nb.config.VALUE_BEFORE_FIELD_EXISTED`): an old file loads, resumes and pools with new ones.
"""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from tavaal_nb.errors import LinkRefusedError

__all__ = ["Results", "ResultsFileError", "load_results", "check_runs", "check_sections", "remove_orphan_temporaries",
           "upgrade_record", "MOVED_TO_STRATEGY_DATA",
           "atomic_write_text", "open_append", "link_refused", "RESULTS_NAME", "FORMAT"]

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
    stored = data.get("version")
    if type(stored) is not int or stored != version:
        raise ResultsFileError(f"{path} has {what} format version {stored!r}, this tavaal-nb reads version {version!r} "
                               "(an integer); it was left untouched")
    return data


def check_regular_file(path: Path, what: str = "results file") -> None:
    """Raise :class:`ResultsFileError` (one line naming ``path``) when ``path`` exists as something other than a
    regular file or a symlink to one: a directory, a symlink loop or a symlink to nothing, a socket, ...

    A path that does not exist at all passes (the caller decides whether that is an error).
    """
    path = Path(path)
    if not os.path.lexists(path):
        return
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ResultsFileError(f"{path} is a symlink loop, not a {what}; remove or repair the link (it was left "
                                   "untouched)") from None
        if error.errno == errno.ENOENT:
            raise ResultsFileError(f"{path} is a symlink to nothing ({os.readlink(path)}), not a {what}; remove or "
                                   "repair the link (it was left untouched)") from None
        raise ResultsFileError(f"{path} cannot be read as a {what} ({error.strerror or error}); it was left "
                               "untouched") from None
    if stat.S_ISDIR(info.st_mode):
        raise ResultsFileError(f"{path} is a directory, not a {what}; move it away or choose another folder "
                               "(it was left untouched)")
    if not stat.S_ISREG(info.st_mode):
        raise ResultsFileError(f"{path} is not a regular file, so not a {what}; it was left untouched")


def remove_orphan_temporaries(folder: str | Path, name: str = RESULTS_NAME) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files that :func:`atomic_write_text` left in ``folder`` when a save was killed
    (SIGKILL, power loss) before its rename; returns what was removed.

    Only for a folder its caller has claimed (one writer: no save of another process is under way there).
    Regular files only; a file that vanishes or cannot be removed meanwhile is left as it is.
    """
    removed: list[Path] = []
    folder = Path(folder)
    try:
        candidates = sorted(folder.glob(f".{glob.escape(name)}.*.tmp"))
    except OSError:
        return removed
    for candidate in candidates:
        try:
            if candidate.is_symlink() or not candidate.is_file():
                continue
            candidate.unlink()
        except OSError:
            continue
        removed.append(candidate)
    return removed


def _is_index_list(value: Any) -> bool:
    return isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count_list(value: Any) -> bool:
    return isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)


def _type_name(value: Any) -> str:
    """How a wrong value is shown: its JSON type (and a short value, or what a list holds that is wrong)."""
    kind = {dict: "object", list: "list", str: "str", bool: "bool", int: "int", float: "float",
            type(None): "null"}.get(type(value), type(value).__name__)
    if isinstance(value, list):
        if not value:
            return "an empty list"
        odd = next((v for v in value if isinstance(v, (str, bool, list, dict))), None)
        return f"a list holding {_type_name(odd)}" if odd is not None else "list"
    text = json.dumps(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    return f"{kind} {text}" if text and len(text) <= 40 else kind


# field: (check, what is valid); a run's and a cycle's required fields, then the optional ones (checked when there)
_RUN_FIELDS = {"method": (lambda v: isinstance(v, str) and bool(v), "a method name"),
               "trial": (lambda v: type(v) is int and v >= 0, "an integer >= 0"),
               "initial_indices": (lambda v: _is_index_list(v) and bool(v), "a non-empty list of pool indices"),
               "cycles": (lambda v: isinstance(v, list), "a list of cycle records")}
_RUN_OPTIONAL = {"seed": (lambda v: type(v) is int, "an integer"),
                 "finished": (lambda v: isinstance(v, bool), "true or false")}
_CYCLE_FIELDS = {"cycle": (lambda v: type(v) is int and v >= 0, "an integer >= 0"),
                 "labeled_size": (lambda v: type(v) is int and v >= 0, "an integer >= 0"),
                 "test_accuracy": (lambda v: v is None or _is_number(v), "a number or null"),
                 "selected_indices": (_is_index_list, "a list of pool indices")}
_NUMBER_OR_NULL = (lambda v: v is None or _is_number(v), "a number or null")
_NUMBERS_OR_NULL = (lambda v: v is None or (isinstance(v, list) and all(x is None or _is_number(x) for x in v)),
                    "a list of numbers or null")
_CYCLE_OPTIONAL = {"plain_test_accuracy": _NUMBER_OR_NULL, "selected_class_entropy": _NUMBER_OR_NULL,
                   "selection_threshold": _NUMBER_OR_NULL, "train_loss": _NUMBERS_OR_NULL,
                   "vae_loss": _NUMBERS_OR_NULL, "discriminator_loss": _NUMBERS_OR_NULL,
                   "candidate_count": (lambda v: type(v) is int and v >= 0, "an integer >= 0"),
                   "labeled_class_counts": (lambda v: v is None or _is_count_list(v), "a list of counts or null"),
                   "selected_class_counts": (lambda v: v is None or _is_count_list(v), "a list of counts or null"),
                   "discriminator_scores": _NUMBERS_OR_NULL, "candidate_scores": _NUMBERS_OR_NULL,
                   "strategy_data": (lambda v: isinstance(v, dict), "an object"),
                   "timings_s": (lambda v: v is None or isinstance(v, dict), "an object or null")}
_VAAL_STRATEGY_DATA = {"discriminator_scores": _NUMBERS_OR_NULL, "selection_threshold": _NUMBER_OR_NULL,
                       "vae_loss": _NUMBERS_OR_NULL, "discriminator_loss": _NUMBERS_OR_NULL}
"""The VAAL family's ``strategy_data`` fields the views read, checked when present."""
MOVED_TO_STRATEGY_DATA = tuple(_VAAL_STRATEGY_DATA)
"""The cycle fields a file written before ``strategy_data`` existed holds at the record's top level."""
_DATASET_OPTIONAL = {"name": (lambda v: isinstance(v, str), "a dataset name"),
                     "num_classes": (lambda v: type(v) is int and v >= 1, "an integer >= 1"),
                     "class_names": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                                     "a list of names"),
                     "class_counts": (_is_count_list, "a list of counts"),
                     "train_size": (lambda v: type(v) is int and v >= 0, "an integer >= 0"),
                     "test_size": (lambda v: type(v) is int and v >= 0, "an integer >= 0"),
                     "image_shape": (_is_count_list, "a list of sizes")}


def _field_problem(record: dict[str, Any], where: str, label: str, required: dict, optional: dict) -> str | None:
    for name, (valid, expected) in required.items():
        if name not in record:
            return f"{label} lacks its '{name}' field"
        if not valid(record[name]):
            return f"{where}.{name}{_suffix(label)} must be {expected}, got {_type_name(record[name])}"
    for name, (valid, expected) in optional.items():
        if name in record and not valid(record[name]):
            return f"{where}.{name}{_suffix(label)} must be {expected}, got {_type_name(record[name])}"
    return None


def _suffix(label: str) -> str:
    """`` (random, trial 0)`` out of ``run 0 (random, trial 0), cycle 1``: which run a field path is in."""
    return label[label.index(" ("):label.index(")") + 1] if " (" in label else ""


def check_sections(data: dict[str, Any]) -> str | None:
    """The first problem of a results document's top-level sections (field path and what is valid), or None."""
    for key, kind, expected in (("config", dict, "an object"), ("dataset", dict, "an object"),
                                ("runs", list, "a list of runs"), ("sessions", list, "a list of sessions")):
        if key in data and not isinstance(data[key], kind):
            return f"'{key}' must be {expected}, got {_type_name(data[key])}"
    if "dataset" in data:
        problem = _field_problem(data["dataset"], "dataset", "dataset", {}, _DATASET_OPTIONAL)
        if problem is not None:
            return problem
    for k, session in enumerate(data.get("sessions") or []):
        if not isinstance(session, dict):
            return f"sessions[{k}] must be an object, got {_type_name(session)}"
    return None


def check_runs(data: dict[str, Any]) -> str | None:
    """The first problem of a results document's ``runs`` (run, cycle, field), or None when there is none.

    Checked: every field the loop reads when it resumes or the views read when they plot, present (the
    required ones) and of its type (all of them), named by its path (``runs[0].cycles[1].discriminator_scores``).
    """
    runs = data.get("runs")
    if not isinstance(runs, list):
        return f"'runs' must be a list of runs, got {_type_name(runs)}"
    for k, run in enumerate(runs):
        if not isinstance(run, dict):
            return f"runs[{k}] (run {k}) must be an object, got {_type_name(run)}"
        label = f"run {k}" + (f" ({run['method']}, trial {run['trial']})"
                              if isinstance(run.get("method"), str) and "trial" in run else "")
        problem = _field_problem(run, f"runs[{k}]", label, _RUN_FIELDS, _RUN_OPTIONAL)
        if problem is not None:
            return problem
        for c, record in enumerate(run["cycles"]):
            if not isinstance(record, dict):
                return f"runs[{k}].cycles[{c}]{_suffix(label)} must be an object, got {_type_name(record)}"
            problem = _field_problem(record, f"runs[{k}].cycles[{c}]", f"{label}, cycle {c}", _CYCLE_FIELDS,
                                     _CYCLE_OPTIONAL)
            if problem is None and "strategy_data" in record:
                problem = _field_problem(record["strategy_data"], f"runs[{k}].cycles[{c}].strategy_data",
                                         f"{label}, cycle {c}", {}, _VAAL_STRATEGY_DATA)
            if problem is not None:
                return problem
    return None


def upgrade_record(record: dict[str, Any]) -> dict[str, Any]:
    """A cycle record written before ``strategy_data`` existed, in today's shape (in place; returned).

    Its top-level VAAL fields (:data:`MOVED_TO_STRATEGY_DATA`) that hold a value move into
    ``strategy_data`` (null ones are dropped: today's records of the other strategies have ``{}``), and
    ``candidate_scores`` becomes null (not recorded then). A record that has ``strategy_data`` is left as it is.
    """
    if "strategy_data" not in record:
        moved = {name: record.pop(name) for name in MOVED_TO_STRATEGY_DATA if name in record}
        record["strategy_data"] = {name: value for name, value in moved.items() if value is not None}
        record.setdefault("candidate_scores", None)
    return record


class Results:
    """A results document with helpers for the views, the report and resuming."""

    def __init__(self, data: dict[str, Any], path: Path | None = None) -> None:
        """``data`` is a results document; its cycle records are brought into today's shape (:func:`upgrade_record`)."""
        self.data = data
        self.path = path
        runs = data.get("runs")
        for run in runs if isinstance(runs, list) else []:
            for record in run.get("cycles") or [] if isinstance(run, dict) else []:
                if isinstance(record, dict):
                    upgrade_record(record)

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
        data = read_document(path, FORMAT, VERSION, "results file")
        for key in ("config", "dataset", "runs"):
            if key not in data:
                raise ResultsFileError(f"{path} lacks its '{key}' section; it was left untouched")
        problem = check_sections(data) or check_runs(data)
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
