"""Fields of the records tavaal-nb stores, each defined once: its check, what is valid, how it is built.

A :class:`Field` is what the builder of a record (:mod:`tavaal_nb.cycle_record`, a strategy's
``data_fields``, :mod:`tavaal_nb.provenance`), the checks on load (:mod:`tavaal_nb.results`) and the upgrade
of files written before the field existed all read. Torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

__all__ = ["Field", "REQUIRED", "field_problem", "type_name", "is_index_list", "is_count", "is_integer", "is_number",
           "NUMBER_OR_NULL", "NUMBERS_OR_NULL", "run_of"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""A field's ``before`` when every stored record has it (a record without it is malformed)."""


@dataclass(frozen=True)
class Field:
    """One stored field: ``check(value)`` says whether a value is valid, ``expected`` says so in words.

    ``value`` (a builder's field) computes it from what the builder is given; ``before`` is the value a
    record written before the field existed is read with (:data:`REQUIRED`: none; such a record is refused);
    ``optional``: the builder leaves the field out when its value is None.
    """

    check: Callable[[Any], bool]
    expected: str
    value: Callable[[Any], Any] | None = None
    before: Any = REQUIRED
    optional: bool = False


def is_integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def is_index_list(value: Any) -> bool:
    return isinstance(value, list) and all(is_count(v) for v in value)


NUMBER_OR_NULL = Field(lambda v: v is None or is_number(v), "a number or null")
NUMBERS_OR_NULL = Field(lambda v: v is None or (isinstance(v, list) and all(x is None or is_number(x) for x in v)),
                        "a list of numbers or null")


def type_name(value: Any) -> str:
    """How a wrong value is shown: its JSON type (and a short value, or what a list holds that is wrong)."""
    kind = {dict: "object", list: "list", str: "str", bool: "bool", int: "int", float: "float",
            type(None): "null"}.get(type(value), type(value).__name__)
    if isinstance(value, list):
        if not value:
            return "an empty list"
        odd = next((v for v in value if isinstance(v, (str, bool, list, dict))), None)
        return f"a list holding {type_name(odd)}" if odd is not None else "list"
    text = json.dumps(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
    return f"{kind} {text}" if text and len(text) <= 40 else kind


def field_problem(record: Mapping[str, Any], fields: Mapping[str, Field], where: str, label: str = "",
                  required: bool = True) -> str | None:
    """The first problem of ``record`` against ``fields`` (None when there is none): a missing field that is
    :data:`REQUIRED` (when ``required``; named by ``label``, e.g. ``run 0 (random, trial 0), cycle 1``), or a
    value its check refuses, named by its path (``where.name``) and the run it is in."""
    for name, field in fields.items():
        if name not in record:
            if required and field.before is REQUIRED and not field.optional:
                return f"{label or where} lacks its '{name}' field"
        elif not field.check(record[name]):
            return f"{where}.{name}{run_of(label)} must be {field.expected}, got {type_name(record[name])}"
    return None


def run_of(label: str) -> str:
    """`` (random, trial 0)`` out of ``run 0 (random, trial 0), cycle 1``: which run a field path is in."""
    return label[label.index(" ("):label.index(")") + 1] if " (" in label and ")" in label else ""
