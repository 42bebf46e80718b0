"""What a results file records about the code and the machine that wrote it (one session entry per invocation).

Every invocation appends :func:`session_entry` to the file's ``sessions``: the package version, the git
commit of the source tree it ran from (and whether that tree had uncommitted changes), the device and
the torch and Python versions. None of it is compared when a run is resumed: a resumed file holds one
entry per invocation, each naming the code that wrote its cycles.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import torch

from tavaal_nb.schema import Field, is_number
from tavaal_nb.version import __version__

__all__ = ["package_version", "source_commit", "session_entry", "SESSION_FIELDS"]

_TEXT = Field(lambda v: isinstance(v, str), "a string")
_TEXT_OR_NULL = Field(lambda v: v is None or isinstance(v, str), "a string or null")
SESSION_FIELDS = {
    "started": _TEXT, "device": _TEXT, "device_name": _TEXT, "torch": _TEXT, "python": _TEXT,
    "package_version": _TEXT, "git_commit": _TEXT_OR_NULL,
    "git_dirty": Field(lambda v: v is None or isinstance(v, bool), "true, false or null"),
    "wall_time_s": Field(lambda v: is_number(v) and v >= 0, "a number of seconds >= 0"),
    "parallel_trials": Field(lambda v: type(v) is int and v >= 1, "an integer >= 1"),
    "cuda_graphs": Field(lambda v: isinstance(v, bool), "true or false"),
    "eager_fallbacks": Field(lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(e, str)
                                                                  for k, e in v.items()),
                             "an object of step names to capture errors"),
}
"""The fields of a session entry (:func:`session_entry`), checked when a results file is read (all optional:
older files lack some)."""

PACKAGE_ROOT = Path(__file__).resolve().parent
"""The folder of the running ``tavaal_nb`` (its source tree's commit is the one recorded)."""


def package_version() -> str:
    """``tavaal_nb.__version__`` of the source that runs (not an installed distribution's, which may differ)."""
    return __version__


def _git(folder: Path, *args: str) -> str | None:
    """``git -C folder args...``'s output, stripped; None when git is missing, fails or takes over 10 s.

    The output is decoded as file names are (``os.fsdecode``: bytes that are not UTF-8 survive, as in a
    folder whose name is not UTF-8), never raising."""
    try:
        done = subprocess.run(["git", "-C", os.fspath(folder), *args], capture_output=True, timeout=10, check=False)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return os.fsdecode(done.stdout).strip() if done.returncode == 0 else None


def source_commit(package_root: Path = PACKAGE_ROOT) -> dict[str, Any]:
    """``{"git_commit": sha, "git_dirty": bool}`` of the git checkout holding ``package_root``, both None when
    the package does not run from one (an installed wheel, no git on the machine).

    ``git_dirty`` is True when tracked files differ from the commit (untracked files are not counted). The
    checkout must hold ``package_root`` itself: a package installed inside some other repository's folder
    (a virtual environment in a project) records None, not that repository's commit. Asked anew by every
    invocation (a few git calls), so a kernel that outlives a commit records the new one.
    """
    unknown = {"git_commit": None, "git_dirty": None}
    try:
        top = _git(package_root, "rev-parse", "--show-toplevel")
        if not top or (Path(top).resolve() / package_root.name) != package_root.resolve():
            return unknown
        if _git(package_root, "ls-files", "--error-unmatch", "__init__.py") is None:
            return unknown  # the folder is inside a checkout but its source is not tracked there
        commit = _git(package_root, "rev-parse", "HEAD")
        status = _git(package_root, "status", "--porcelain", "--untracked-files=no")
    except Exception:  # noqa: BLE001 - provenance never stops a run
        return unknown
    if not commit or status is None or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return unknown
    return {"git_commit": commit, "git_dirty": bool(status)}


def session_entry(device: torch.device) -> dict[str, Any]:
    """What the results file records about one invocation (its wall time is filled in as it runs)."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": str(device), "device_name": name, "torch": torch.__version__,
        "python": platform.python_version(), "package_version": package_version(), **source_commit(),
        "wall_time_s": 0.0,
    }
