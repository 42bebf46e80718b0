"""The stored record of one cycle, defined once (:data:`CYCLE_FIELDS`) and built the same way for every strategy.

Each field of a cycle record is one :class:`~tavaal_nb.schema.Field` here: how :func:`cycle_record` computes it,
the check :class:`~tavaal_nb.results.Results` applies when it reads a file, and the value a file written before
the field existed is read with. Adding a field is one entry in :data:`CYCLE_FIELDS`.

The loop stores each query's scores (``candidate_scores``, one per candidate) and what the strategy
asked to keep (``strategy_data``, :attr:`~tavaal_nb.strategies.base.Selection.strategy_data`) under the
strategy's own keys: it never reads them, so a plug-in's data is kept like a built-in's. They are checked by
the strategy's own rules (its ``data_fields``) when the record is built, or only for being JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from tavaal_nb.errors import SelectionError
from tavaal_nb.metrics import class_counts, class_entropy
from tavaal_nb.schema import NUMBER_OR_NULL, NUMBERS_OR_NULL, Field, field_problem, is_count, is_index_list, is_number
from tavaal_nb.strategies.base import Selection

__all__ = ["SCORE_DECIMALS", "CYCLE_FIELDS", "stored_value", "cycle_record"]

SCORE_DECIMALS = 6
"""Scores, losses and every float of ``strategy_data`` are stored rounded to this many decimals (small files)."""

STORABLE = "numbers, strings, booleans, None, lists, string-keyed dicts, tensors or numpy arrays"


def stored_value(value: Any, where: str = "value") -> Any:
    """``value`` as the results file holds it: tensors and arrays as lists, floats rounded to
    :data:`SCORE_DECIMALS`, in lists and dicts too; ``TypeError`` naming ``where`` for anything JSON cannot hold."""
    if isinstance(value, torch.Tensor) or (hasattr(value, "tolist") and hasattr(value, "dtype")):  # numpy too
        value = value.tolist()
    if isinstance(value, float):
        return round(value, SCORE_DECIMALS)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"{where} has a key that is not a string; valid: {STORABLE}")
        return {key: stored_value(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [stored_value(item, f"{where}[{k}]") for k, item in enumerate(value)]
    raise TypeError(f"{where} is a {type(value).__name__}; valid: {STORABLE}")


@dataclass
class _Cycle:
    """What :func:`cycle_record` is given; the fields' ``value`` functions read it."""

    cycle: int
    labels: torch.Tensor
    labeled: torch.Tensor
    accuracy: float
    selection: Selection | None
    method: str
    num_classes: int
    losses: list[float]
    timings: dict[str, float]
    plain_accuracy: float | None = None
    data_fields: Mapping[str, Field] = field(default_factory=dict)

    def chosen_counts(self) -> list[int] | None:
        return None if self.selection is None else class_counts(self.labels[self.selection.indices], self.num_classes)


def _strategy_data(c: _Cycle) -> dict[str, Any]:
    if c.selection is None:
        return {}
    data = c.selection.strategy_data
    if not isinstance(data, Mapping):
        raise SelectionError(f"method {c.method!r} returned strategy_data of type {type(data).__name__} in cycle "
                             f"{c.cycle}; it must be a dict of {STORABLE}")
    try:
        stored = stored_value(data, "strategy_data")
    except TypeError as error:
        raise SelectionError(f"method {c.method!r} returned, in cycle {c.cycle}, {error}") from None
    problem = field_problem(stored, c.data_fields, "strategy_data", required=False)
    if problem is not None:
        raise SelectionError(f"method {c.method!r} returned, in cycle {c.cycle}, {problem}")
    return stored


def _built(name: str, spec: Field, inputs: _Cycle) -> Any:
    if spec.value is None:
        raise TypeError(f"CYCLE_FIELDS[{name!r}] cannot be built: give its Field a value (a function of the cycle)")
    return spec.value(inputs)


def _entropy(c: _Cycle) -> float | None:
    counts = c.chosen_counts()
    chose_some = c.selection is not None and c.selection.indices.numel() > 0
    return class_entropy(counts) if counts is not None and chose_some else None


_COUNTS_OR_NULL = Field(lambda v: v is None or is_index_list(v), "a list of counts or null")
_OBJECT_OR_NULL = Field(lambda v: v is None or isinstance(v, dict), "an object or null")

CYCLE_FIELDS: dict[str, Field] = {
    "cycle": Field(is_count, "an integer >= 0", lambda c: c.cycle),
    "labeled_size": Field(is_count, "an integer >= 0", lambda c: int(c.labeled.numel())),
    "test_accuracy": Field(NUMBER_OR_NULL.check, "a number or null", lambda c: c.accuracy),
    "labeled_class_counts": Field(_COUNTS_OR_NULL.check, _COUNTS_OR_NULL.expected,
                                  lambda c: class_counts(c.labels[c.labeled], c.num_classes), before=None),
    "selected_indices": Field(is_index_list, "a list of pool indices",
                              lambda c: [] if c.selection is None else c.selection.indices.tolist()),
    "selected_class_counts": Field(_COUNTS_OR_NULL.check, _COUNTS_OR_NULL.expected, _Cycle.chosen_counts,
                                   before=None),
    "selected_class_entropy": Field(NUMBER_OR_NULL.check, NUMBER_OR_NULL.expected, _entropy, before=None),
    "candidate_count": Field(lambda v: v is None or is_count(v), "an integer >= 0 or null",
                             lambda c: 0 if c.selection is None else int(c.selection.candidates.numel()), before=None),
    "candidate_scores": Field(NUMBERS_OR_NULL.check, NUMBERS_OR_NULL.expected,
                              lambda c: None if c.selection is None else stored_value(c.selection.scores.detach().float()),
                              before=None),
    "strategy_data": Field(lambda v: isinstance(v, dict), "an object", _strategy_data, before={}),
    "train_loss": Field(NUMBERS_OR_NULL.check, NUMBERS_OR_NULL.expected, lambda c: stored_value(c.losses), before=None),
    "timings_s": Field(_OBJECT_OR_NULL.check, _OBJECT_OR_NULL.expected,
                       lambda c: {k: round(v, 4) for k, v in c.timings.items()}, before=None),
    "plain_test_accuracy": Field(lambda v: v is None or is_number(v), "a number or null", lambda c: c.plain_accuracy,
                                 optional=True),
}
"""Every field of a cycle record, in the order the record holds them (see :mod:`tavaal_nb.results` for their
meaning). A field with a ``before`` value is read with it from a file written before the field existed."""


def cycle_record(
    cycle: int, labels: torch.Tensor, labeled: torch.Tensor, accuracy: float, selection: Selection | None,
    method: str, num_classes: int, losses: list[float], timings: dict[str, float],
    plain_accuracy: float | None = None, data_fields: Mapping[str, Field] | None = None,
) -> dict[str, Any]:
    """The stored record of one cycle; ``selection`` is its query (None in the last cycle, which makes none).

    ``data_fields`` are the strategy's rules for its ``strategy_data`` (:attr:`Strategy.data_fields
    <tavaal_nb.strategies.base.Strategy.data_fields>`): a value they refuse is a
    :class:`~tavaal_nb.errors.SelectionError` naming the method and the key, before anything is saved."""
    inputs = _Cycle(cycle, labels, labeled, accuracy, selection, method, num_classes, losses, timings,
                    plain_accuracy, data_fields or {})
    record = {name: _built(name, spec, inputs) for name, spec in CYCLE_FIELDS.items()}
    return {name: value for name, value in record.items() if not (CYCLE_FIELDS[name].optional and value is None)}
