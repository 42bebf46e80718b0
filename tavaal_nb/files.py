"""Writing files in folders others may share: never through a link, never into something that is not a file.

``O_NOFOLLOW`` stops symbolic links only. A hard link planted at a name tavaal-nb writes is the same file as
its other name, so a file opened for writing in place (the lock, a task's log) is checked after it is opened:
a regular file with one name (``st_nlink == 1``), or :class:`~tavaal_nb.errors.LinkRefusedError`. A file
replaced whole (results, manifests, reports) is written to a fresh ``mkstemp`` name (``O_EXCL``) and renamed
onto its name (:func:`atomic_write_text`): the rename replaces a link, it never writes its target.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
import tempfile
from pathlib import Path
from typing import TextIO

from tavaal_nb.errors import LinkRefusedError, ResultsFileError, ResultsSaveError

__all__ = ["link_refused", "open_own", "open_append", "atomic_write_text", "check_regular_file",
           "check_save_target", "remove_orphan_temporaries"]


def link_refused(path: str | Path) -> LinkRefusedError:
    """The error for a symbolic link found where tavaal-nb writes a file of its own."""
    return LinkRefusedError(f"{path} is a symbolic link; refusing to write through it: remove the link "
                            "(tavaal-nb writes its own files there), or choose another --out")


def open_own(path: str | Path, flags: int) -> int:
    """``os.open(path, flags | O_CREAT | O_NOFOLLOW)`` for writing in place, checked: a symbolic link, a file with
    another hard link, or anything but a regular file (a FIFO, a device) raises
    :class:`~tavaal_nb.errors.LinkRefusedError` and is left as it was found (never truncated or written)."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP and os.path.islink(path):
            raise link_refused(path) from None
        raise
    info = os.fstat(fd)
    problem = ("is not a regular file" if not stat.S_ISREG(info.st_mode) else
               f"has another hard link ({info.st_nlink} names for one file)" if info.st_nlink != 1 else None)
    if problem is not None:
        os.close(fd)
        raise LinkRefusedError(f"{path} {problem}; refusing to write to it: remove it (tavaal-nb writes its own "
                               "files there), or choose another --out")
    os.set_blocking(fd, True)
    return fd


def open_append(path: str | Path) -> TextIO:
    """``path`` opened for appending text (created if missing), checked by :func:`open_own`."""
    return os.fdopen(open_own(path, os.O_WRONLY | os.O_APPEND), "a", encoding="utf-8")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never a torn one.

    The text goes to a new temporary file (``mkstemp``: ``O_CREAT | O_EXCL``, which never opens
    an existing path or a link) that :func:`os.replace` renames onto ``path``; a symbolic or hard link at
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


def check_save_target(path: Path, what: str = "results file") -> None:
    """Raise :class:`~tavaal_nb.errors.ResultsSaveError` when ``path`` exists as something :func:`atomic_write_text`
    must not replace: a directory (never written into), a FIFO, a socket, a device. A regular file or a
    symbolic link (replaced by the new file) passes, and so does a missing path."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise ResultsSaveError(f"{path} is a directory, not a {what}; nothing was written into it: move it away, "
                               "then --resume continues from the last saved cycle")
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise ResultsSaveError(f"{path} is not a regular file, so not a {what}; nothing was written: move it away, "
                               "then --resume continues from the last saved cycle")


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


def remove_orphan_temporaries(folder: str | Path, name: str) -> list[Path]:
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
