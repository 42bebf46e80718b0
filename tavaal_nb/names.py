"""Names that become paths: one safe path component each.

A method, dataset or task name becomes a folder of a sweep (``<out>/<dataset>/<method>/trial-<k>``)
and a plug-in may register any string, so every name is checked here, at registration and
wherever a name is turned into a path: ``'../x'``, ``'/abs'``, ``'a/b'`` or ``'..'`` would
otherwise write outside the folder asked for.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["safe_name", "name_problem", "inside", "no_links", "VALID_NAME"]

_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
VALID_NAME = ("a non-empty name of one path component: letters, digits, '-', '_' and '.', not starting "
              "with '.' (no '/', '\\', ',', spaces, NUL, '.' or '..')")
"""What a name may be, as the refusals say it."""


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a safe name (None when it is)."""
    if not isinstance(name, str):
        return f"is not a string but a {type(name).__name__}"
    if not name:
        return "is empty"
    if _NAME.fullmatch(name) is None:
        if name in (".", ".."):
            return "is a relative folder, not a name"
        bad = sorted({repr(c) for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))})
        if bad:
            return "contains " + ", ".join(bad)
        return "starts with '.'"
    return None


def safe_name(kind: str, name: object) -> str:
    """``name`` if it is one safe path component (see :data:`VALID_NAME`); else ``ValueError``, one line."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(f"{kind} name {name!r} is refused: it {problem}; valid: {VALID_NAME}")
    return name  # type: ignore[return-value]


def no_links(root: str | Path, relative: object, what: str) -> Path:
    """:func:`inside`, and no folder or file on the way from ``root`` to it is a symbolic link (checked just before
    something is written there: a link planted meanwhile, even to a place inside ``root``, is refused)."""
    path = inside(root, relative, what)
    step = Path(root)
    for part in path.relative_to(root).parts:
        step = step / part
        if step.is_symlink():
            raise ValueError(f"{what}: {step} is a symbolic link; refusing to write through it (remove the link, "
                             "tavaal-nb makes that folder itself)")
    return path


def inside(root: str | Path, relative: object, what: str) -> Path:
    """``root / relative`` when ``relative`` is a relative path that stays inside ``root`` (symlinks
    resolved); else ``ValueError``, one line. Nothing is opened, read or created."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise ValueError(f"{what}: {relative!r} is not a relative path inside {root}; refused")
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if (PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).is_absolute()
            or PureWindowsPath(relative).drive or ".." in parts or relative.startswith(("/", "\\"))):
        raise ValueError(f"{what}: {relative!r} is not a relative path inside {root}; refused")
    base = Path(root).resolve()
    target = (base / Path(*parts)).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"{what}: {relative!r} leads outside {root} (to {target}, through a symlink); refused")
    return Path(root) / Path(*parts)
