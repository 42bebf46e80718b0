"""Command line: ``python -m tavaal_nb {run,sweep,report,upper-bound,noise,demo,bench,datasets,methods,presets}``.

:func:`main` parses the words of a command (:mod:`tavaal_nb.cli.parser`; the Config flags come from one helper,
:mod:`tavaal_nb.cli.flags`), runs its handler (:mod:`tavaal_nb.cli.commands`) and turns errors and stop signals
into one line and an exit status.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import typing
import warnings

from tavaal_nb.cli.parser import build_parser
from tavaal_nb.strategies import load_plugins

__all__ = ["main", "build_parser"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that a run stops after its last saved cycle and says so."""


def _during_shutdown(signum: int, frame: object) -> None:
    """A second Ctrl-C or SIGTERM while the run stops: ignored (a Python handler, so child processes started
    later get the default again); the first one is already stopping the run after its last saved cycle."""


def _stopping() -> None:
    """The first stop signal: later ones are ignored until :func:`main` returns (no traceback mid-shutdown)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _during_shutdown)
        signal.signal(signal.SIGTERM, _during_shutdown)


def _on_sigterm(signum: int, frame: object) -> None:
    _stopping()
    raise Terminated()


def _on_sigint(signum: int, frame: object) -> None:
    _stopping()
    raise KeyboardInterrupt()


def _check_out(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that is empty or not valid UTF-8 (one line naming it), before anything is written."""
    out = getattr(args, "out", None)
    if out is None:
        return
    if not str(out).strip():
        raise ValueError(f"--out must name a results folder, got {str(out)!r} (use --out . for the current folder)")
    try:
        str(out).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"--out {os.fsencode(str(out))!r} is not valid UTF-8 (the results record their folder as "
                         "text); choose a folder name in UTF-8") from None


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: typing.TextIO | None = None, line: str | None = None) -> None:
    """A warning on the command line: one line, ``warning: ...`` (no source file, no code line)."""
    print(f"warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():  # the command's warnings (an old setting name, ...) as one line each
        warnings.showwarning = _warning_line
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        previous_int = signal.getsignal(signal.SIGINT)  # restored below, whatever it was (_stopping replaces it)
        if previous_int is signal.default_int_handler:  # not where SIGINT is ignored (started in the background)
            signal.signal(signal.SIGINT, _on_sigint)
    else:  # signal handlers can only be set from the main thread (main() called from a thread)
        previous = previous_int = None
    try:
        _check_out(args)
        load_plugins(getattr(args, "plugin", []), export=True)  # exported: sweep and trial workers load them too
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as error:  # OSError: folders and files (not writable, full, ...)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:  # NonFiniteLossError: the finished cycles are saved
        print(f"error: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt as stop:
        _stopping()  # a second Ctrl-C (or SIGTERM) while this is said: ignored, no traceback
        saved = args.command in ("run", "demo", "sweep")
        print("interrupted" + (": finished cycles are saved; continue with --resume" if saved else ""), file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if previous_int is not None:
            signal.signal(signal.SIGINT, previous_int)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
