"""The command line's flags: one ``--field`` per Config field (:func:`add_config_flags`, read back by
:func:`config_overrides`), the shared ``--plugin``/``--strategy-param`` flags and the argument types that refuse bad
values with one line."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import typing
from collections.abc import Collection
from pathlib import Path

from tavaal_nb.config import RENAMED_FIELDS, Config, renamed_fields
from tavaal_nb.sweep import parse_parallel_trials, split_names

NOT_FLAGS = ("strategy_params",)
"""Config fields without a ``--field`` flag of their own (``--strategy-param`` sets ``strategy_params``)."""
RUN_FIXED = ("preset", "methods")
"""Config fields `run` takes through its own flags (--preset, --method), not as overrides."""
UPPER_BOUND_FIXED = ("preset", "methods", "dataset", "trials", "first_trial", "cycles", "initial", "budget", "subset",
                     "retrain_plain")
"""Config fields `upper-bound` sets itself (its own flags) or does not use (the active-learning schedule)."""
NOISE_FIXED = ("preset", "methods", "dataset", "trials", "first_trial", "subset", "retrain_plain")
"""Config fields `noise` sets itself or does not use (`--initial`, `--budget` and `--cycles` give its sizes)."""


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (or the flag alone for true, its --no- form for "
                                     f"false), got {text!r}")


def add_boolean_flag(group: argparse._ActionsContainer, flag: str, dest: str, help: str) -> None:
    """A boolean flag that reads like one: ``--flag`` is true, ``--no-flag`` false, and ``--flag true|false``
    (the older form) still works (any value :func:`parse_bool` takes). Unset, ``dest`` is None."""
    group.add_argument(flag, dest=dest, nargs="?", const=True, type=parse_bool, default=None, metavar="true|false",
                       help=help)
    group.add_argument("--no-" + flag[2:], dest=dest, action="store_false", default=None, help=f"{flag} false")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parallel_trials(text: str) -> int | str:
    try:
        return parse_parallel_trials(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        levels = ()
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas (e.g. 1,2,4,8), got {text!r}")
    return levels


@functools.cache
def _config_hints() -> dict[str, typing.Any]:
    """Config's field types, resolved once (``typing.get_type_hints`` compiles every annotation anew, and a
    parser asks for each of its ~170 flags)."""
    return typing.get_type_hints(Config)


def _flag_type(field: dataclasses.Field):
    hint = _config_hints()[field.name]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple:
        inner = args[0]
        return lambda text: tuple(inner(v) for v in text.split(",") if v.strip())
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        inner = next(a for a in args if a is not type(None))
        return lambda text: NONE_GIVEN if text.strip().lower() == "none" else inner(text)
    return hint


class _NoneGiven:
    """``--field none`` on the command line: refused by :func:`config_overrides` with one line (an unset flag is
    None, so a ``none`` would otherwise be dropped silently and the preset's value used)."""

    def __repr__(self) -> str:
        return "none"


NONE_GIVEN = _NoneGiven()


def add_config_flags(parser: argparse.ArgumentParser, exclude: Collection[str], title: str) -> None:
    """One ``--field`` flag per Config field not in ``exclude`` (default None: the preset's value)."""
    group = parser.add_argument_group(title)
    fields = {field.name: field for field in dataclasses.fields(Config)}
    for field in fields.values():
        if field.name in exclude or field.name in NOT_FLAGS:
            continue
        shown = ",".join(map(str, field.default)) if isinstance(field.default, tuple) else field.default
        flag = "--" + field.name.replace("_", "-")
        if _config_hints()[field.name] is bool:
            add_boolean_flag(group, flag, field.name, f"alone: true (paper: {str(shown).lower()})")
        else:
            group.add_argument(flag, dest=field.name, type=_flag_type(field), default=None,
                               metavar=field.name.upper(), help=f"(paper: {shown})")
    for old, new in RENAMED_FIELDS.items():  # old names still work (renamed_fields warns), not listed in --help
        if new not in exclude:
            group.add_argument("--" + old.replace("_", "-"), dest=old, type=_flag_type(fields[new]), default=None,
                               help=argparse.SUPPRESS)


def config_overrides(args: argparse.Namespace, exclude: Collection[str]) -> dict[str, typing.Any]:
    """The Config flags given on the command line (those not given are None: left out).

    ``--FIELD none`` is refused (ValueError naming the flag): leaving the flag out is how to keep the preset's
    value, and a preset's number cannot be unset from the command line (``vae_iterations``: leave it out and
    give ``--vae-epochs`` only on presets that do not fix it, or give the count).
    """
    names = [f.name for f in dataclasses.fields(Config)] + list(RENAMED_FIELDS)
    chosen = renamed_fields({name: getattr(args, name) for name in names
                             if name not in exclude and getattr(args, name, None) is not None})
    for name, value in chosen.items():
        if value is NONE_GIVEN:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} none is not accepted: give {flag} a value, or leave {flag} out to "
                             "keep the preset's value (`python -m tavaal_nb presets` lists them)")
    return chosen


def labeled_sizes(text: str) -> str:
    try:
        sizes = [int(s) for s in split_names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected labeled-set sizes such as 200,1000, got {text!r}") from None
    if not sizes or any(s < 2 for s in sizes):
        raise argparse.ArgumentTypeError(f"labeled-set sizes must be integers >= 2, got {text!r}")
    return text


def out_folder(text: str) -> Path | str:
    """``--out``'s type: a Path; an empty text stays ``''`` so that :func:`tavaal_nb.cli._check_out` refuses it (``Path('')`` is
    the current folder)."""
    return Path(text) if text.strip() else text


def add_plugin_flag(parser: argparse.ArgumentParser, runs: bool = False) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE[:ATTR]",
                        help="import a strategy plug-in first (a module, module:attr, file.py or file.py:attr; "
                             "repeatable); its methods can then be named like the built-in ones")
    if runs:
        parser.add_argument("--strategy-param", action="append", default=[], metavar="[METHOD.]KEY=VALUE",
                            help="a declared parameter of a strategy (repeatable; `methods` lists them); KEY=VALUE "
                                 "sets it for every method of the command that declares KEY")
        parser.add_argument("--allow-changed-plugin", action="store_true",
                            help="--resume even though a plug-in's source file changed since the results were "
                                 "written (the new file's sha256 is recorded beside the old one)")
