"""The output folder of a run or a sweep: one writer at a time, checked before training, backups never replaced.

:func:`claim_folder` is taken by :func:`tavaal_nb.loop.run_experiment`, by
:func:`tavaal_nb.sweep.run_parallel_trials` and by :func:`tavaal_nb.sweep.run_sweep` for the whole
of their work on a folder. It

* creates the folder and takes an exclusive ``fcntl.flock`` on ``<folder>/.tavaal-nb.lock``, which
  names the holder (pid, host, start time, command). The operating system drops the lock when the
  process ends, however it ends, so a crash never leaves a stale lock behind; a second writer is
  refused at once with :class:`~tavaal_nb.errors.FolderBusyError`;
* writes and removes a probe file, so a read-only folder or file system, a path under a file or a
  full disk is reported (:class:`~tavaal_nb.errors.OutputFolderError`) before anything trains;
* refuses a folder that holds the other kind of output (a run's ``results.json`` for a sweep, a
  sweep's ``sweep.json`` for a run), so the two never share a folder's results;
* opens the lock file with :func:`~tavaal_nb.files.open_own`: a symbolic or hard link placed there, or
  anything but a regular file, is refused (:class:`~tavaal_nb.errors.LinkRefusedError`), never truncated;
* records the folder's identity (device, inode): :meth:`FolderClaim.check_intact`, called before
  every save, stops a run whose folder was removed or replaced meanwhile instead of recreating it.

Nested claims do not collide: a sweep's tasks and a parallel run's trials each claim their own
sub-folder. On release the lock file is removed, and a folder this claim created is removed again
when nothing was saved in it. :func:`move_aside` gives ``--overwrite`` a backup name that is never
an existing path.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import itertools
import os
import shlex
import socket
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from tavaal_nb.errors import FolderBusyError, LinkRefusedError, OutputFolderError, ResultsSaveError
from tavaal_nb.files import open_own
from tavaal_nb.results import RESULTS_NAME

__all__ = ["FolderClaim", "claim_folder", "move_aside", "LOCK_NAME", "SWEEP_NAME", "PROBE_BYTES"]

LOCK_NAME = ".tavaal-nb.lock"
"""The lock file of a folder being written (present only while a writer holds it)."""
SWEEP_NAME = "sweep.json"
"""A sweep folder's manifest (:mod:`tavaal_nb.sweep.manifest`)."""
PROBE_BYTES = 4096
"""Bytes written (and removed) to check that a folder takes data before anything trains."""

_MARKERS = {"run": RESULTS_NAME, "sweep": SWEEP_NAME}


def _reason(error: OSError) -> str:
    """An OS error in words (``read-only file system``, ``no space left on device``, ...)."""
    return (error.strerror or str(error)).lower() if error.errno is not None else str(error)


def _command() -> str:
    argv = list(sys.argv)
    if argv and argv[0].endswith(os.path.join("tavaal_nb", "__main__.py")):
        argv[:1] = ["python", "-m", "tavaal_nb"]
    return shlex.join(argv) if argv and argv[0] else "python"


class FolderClaim:
    """An exclusive claim on one output folder, for a ``run`` or a ``sweep`` (a context manager)."""

    def __init__(self, directory: str | Path, kind: str) -> None:
        if kind not in _MARKERS:
            raise ValueError(f"kind must be one of {', '.join(_MARKERS)}, got {kind!r}")
        self.directory, self.kind = Path(directory), kind
        self.lock_path = self.directory / LOCK_NAME
        self._fd: int | None = None
        self.identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the folder while claimed
        self._created: list[Path] = []  # the folders this claim made, innermost first

    def acquire(self) -> FolderClaim:
        """Create the folder, take its lock and check that it can be written; raise when it cannot."""
        missing = [p for p in (self.directory, *self.directory.parents) if not p.exists()]
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputFolderError(f"cannot create the output folder {self.directory} ({_reason(error)}); "
                                    "nothing was run: choose another --out") from error
        self._created = [p for p in missing if p.is_dir()]
        try:
            folder = os.stat(self.directory)
            self.identity = (folder.st_dev, folder.st_ino)
            self._lock()
            other = [k for k, name in _MARKERS.items() if k != self.kind and (self.directory / name).exists()]
            if other:
                raise FileExistsError(
                    f"{self.directory} holds a {other[0]} ({_MARKERS[other[0]]}); a {self.kind} needs a folder "
                    f"of its own, so the two never share results: choose another --out")
            self._probe()
        except BaseException:
            self.release()
            raise
        return self

    def _lock(self) -> None:
        while True:
            try:
                fd = open_own(self.lock_path, os.O_RDWR)  # no link of either kind, a regular file
            except LinkRefusedError:
                raise
            except OSError as error:
                raise self._unwritable(error) from error
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise self._unwritable(error) from error
                holder = os.read(fd, 4096).decode("utf-8", errors="replace").strip() or "a process starting up"
                os.close(fd)
                who = ("this same process (a call that has not finished)"
                       if holder.startswith(f"pid {os.getpid()} on {socket.gethostname()},") else "another tavaal-nb process")
                raise FolderBusyError(
                    f"{self.directory} is being written by {who}: {holder}. A results folder "
                    "has one writer at a time: wait for it to finish (then --resume if needed), or choose "
                    "another --out") from None
            try:  # the holder before us may have removed the file as it released it: lock a fresh one
                same = os.path.samestat(os.fstat(fd), os.lstat(self.lock_path))
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                break
            os.close(fd)
        started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        holder = f"pid {os.getpid()} on {socket.gethostname()}, since {started}, running `{_command()}`\n"
        try:
            os.ftruncate(self._fd, 0)
            os.write(self._fd, holder.encode())
        except OSError as error:
            raise self._unwritable(error) from error

    def _probe(self) -> None:
        try:
            fd, name = tempfile.mkstemp(prefix=".tavaal-nb-probe-", dir=self.directory)
        except OSError as error:
            raise self._unwritable(error) from error
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        except OSError as error:
            raise self._unwritable(error) from error
        finally:
            os.close(fd)
            os.unlink(name)

    def check_intact(self) -> None:
        """Raise :class:`~tavaal_nb.errors.ResultsSaveError` unless the claimed folder is still the one claimed.

        A folder removed (or replaced by another of the same name) during the run is not recreated:
        the lock no longer protects it, so a second writer may already be using the new one.
        """
        try:
            folder = os.stat(self.directory)
            intact = self.identity == (folder.st_dev, folder.st_ino)
        except OSError:
            intact = False
        if not intact:
            raise ResultsSaveError(f"the results folder {self.directory} was removed or replaced during the run; "
                                   "nothing more is written there")

    def _unwritable(self, error: OSError) -> OutputFolderError:
        return OutputFolderError(f"the output folder {self.directory} cannot be written ({_reason(error)}); "
                                 "nothing was run: fix it (permissions, space) or choose another --out")

    def release(self) -> None:
        """Drop the lock (removing its file) and any folder this claim created that stayed empty."""
        if self._fd is not None:
            try:  # removed while still held (see the check in _lock), and only if it is still ours
                if os.path.samestat(os.fstat(self._fd), os.lstat(self.lock_path)):
                    os.unlink(self.lock_path)
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        try:
            folder = os.stat(self.directory)
            intact = self.identity == (folder.st_dev, folder.st_ino)
        except OSError:
            intact = False
        for created in self._created if intact else []:  # never another writer's folder made meanwhile
            try:
                created.rmdir()  # only succeeds when empty: nothing was saved there
            except OSError:
                break
        self._created = []
        self.identity = None

    def __enter__(self) -> FolderClaim:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def claim_folder(directory: str | Path, kind: str) -> FolderClaim:
    """Claim ``directory`` for a ``run`` or a ``sweep`` (see the module); use it in a ``with`` block."""
    return FolderClaim(directory, kind).acquire()


def _stamp() -> str:
    """The local time in a backup's name (one-second resolution: hence the counter)."""
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def move_aside(path: Path) -> Path:
    """Rename ``path`` (a file or a folder) to ``<name>.replaced-<time>[-n]``, a name no existing path has.

    A symbolic link is moved as the link itself (never its target, never followed).
    """
    stamp = _stamp()
    for n in itertools.count(1):
        backup = path.with_name(f"{path.name}.replaced-{stamp}" + (f"-{n}" if n > 1 else ""))
        if os.path.lexists(backup):
            continue
        if path.is_dir() and not path.is_symlink():
            try:
                os.mkdir(backup)  # fails if the name was taken meanwhile; a folder may be renamed onto an empty one
            except FileExistsError:
                continue
            os.rename(path, backup)
            return backup
        try:
            os.link(path, backup, follow_symlinks=False)  # fails, instead of replacing, if the name was taken meanwhile
        except FileExistsError:
            continue
        os.unlink(path)
        return backup
    raise AssertionError("unreachable")
