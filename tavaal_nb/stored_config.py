"""A config as a results file stores it: what a file written before a field existed ran with, the JSON types a
stored config must have, and the comparison that decides whether a run or a sweep may resume with it.

:class:`tavaal_nb.config.Config` is what a run computes with; this module reads stored configs against it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tavaal_nb.config import Config, renamed_fields
from tavaal_nb.schema import is_integer, is_number, type_name

__all__ = ["EXECUTION_FIELDS", "VALUE_BEFORE_FIELD_EXISTED", "KEPT_ON_RESUME", "kept_on_resume", "completed_config",
           "config_problem", "config_diff"]


EXECUTION_FIELDS = ("device", "data_dir", "cuda_graphs", "eval_batch_size")
"""Fields that only say where or how a run executes, not what it computes: a resumed run (and a resumed sweep's
overrides) may change them. ``cuda_graphs`` changes how steps are issued, ``eval_batch_size`` how many images
one inference pass takes (eval-mode outputs do not depend on it), not their maths."""

VALUE_BEFORE_FIELD_EXISTED: dict[str, Any] = {
    "adversarial_init": "pytorch",  # the VAE and D kept PyTorch's initialisation before the option existed
    "vae_layout": "padded",
    "allow_tf32": True,
    "retrain_plain": False,
    "min_steps": 0,  # every run before the option existed trained for its configured epochs
    "seeding": "per-method",  # every run before the option existed seeded each method's draws from the method
}
"""What a results file written before a field was added ran with, where that is not the field's default."""


KEPT_ON_RESUME = ("seeding", "min_steps")
"""Fields a results file written before they existed keeps when it is resumed: its run continues with
:data:`VALUE_BEFORE_FIELD_EXISTED` (what it was made with) whatever the command's value, so an old file keeps its
meaning (:func:`kept_on_resume`). A file that stores the field is compared like any other."""


def kept_on_resume(stored: Mapping[str, Any], config: Config) -> tuple[Config, list[str]]:
    """``config`` with the :data:`KEPT_ON_RESUME` fields that ``stored`` (a results file's config) lacks set to
    what that file was made with, and one line per field so changed (empty when none)."""
    kept = {name: VALUE_BEFORE_FIELD_EXISTED[name] for name in KEPT_ON_RESUME
            if name not in stored and getattr(config, name) != VALUE_BEFORE_FIELD_EXISTED[name]}
    notes = [f"{name}: the file was written before this setting existed and continues as it was made "
             f"({value!r}, not {getattr(config, name)!r})" for name, value in kept.items()]
    return (dataclasses.replace(config, **kept) if kept else config), notes


def completed_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config dict with every field present: a field added after the file was written gets the
    value that run used (:data:`VALUE_BEFORE_FIELD_EXISTED`, else the field's default)."""
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    return {**defaults, **VALUE_BEFORE_FIELD_EXISTED, **renamed_fields(data)}


_STORED_TYPES = {"str": (lambda v: isinstance(v, str), "a string"), "int": (is_integer, "an integer"),
                 "float": (is_number, "a number"), "bool": (lambda v: isinstance(v, bool), "true or false"),
                 "tuple[str, ...]": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                                     "a list of strings"),
                 "tuple[int, ...]": (lambda v: isinstance(v, list) and all(is_integer(x) for x in v),
                                     "a list of integers")}


def config_problem(data: Mapping[str, Any]) -> str | None:
    """The first field of a stored config (a results file's ``config``) whose value has the wrong JSON type for
    its :class:`Config` field (``config.dataset must be a string, got int``), or None. Values are checked by
    :meth:`Config.validate` when a run starts; fields no Config has are left to :func:`config_diff`."""
    for spec in dataclasses.fields(Config):
        if spec.name not in data:
            continue
        kind = str(spec.type)
        optional = kind.endswith(" | None")
        if kind.removesuffix(" | None") not in _STORED_TYPES:
            continue  # a type no stored config holds yet: checked by Config.validate when a run starts
        check, expected = _STORED_TYPES[kind.removesuffix(" | None")]
        value = data[spec.name]
        if not ((optional and value is None) or check(value)):
            return f"config.{spec.name} must be {expected}{' or null' if optional else ''}, got {type_name(value)}"
    return None


def config_diff(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two config dicts, ignoring where the run executes (:data:`EXECUTION_FIELDS`).

    A field missing from the stored side counts as what that run used (:func:`completed_config`), so a
    results file written before a field was added still resumes when the command runs the same way.
    """
    stored, wanted = completed_config(stored), completed_config(wanted)
    lines = []
    for key in sorted(set(stored) | set(wanted)):
        if key in EXECUTION_FIELDS:
            continue
        a, b = stored.get(key, "<absent>"), wanted.get(key, "<absent>")
        if isinstance(a, (list, tuple)):
            a = list(a)
        if isinstance(b, (list, tuple)):
            b = list(b)
        if a != b:
            lines.append(f"{key}: results file has {a!r}, this command has {b!r}")
    return lines
