"""The stored record of one cycle (layout: :mod:`tavaal_nb.results`), built the same way for every strategy.

The loop stores each query's scores (``candidate_scores``, one per candidate) and what the strategy
asked to keep (``strategy_data``, :attr:`~tavaal_nb.strategies.base.Selection.strategy_data`) under the
strategy's own keys: it never reads them, so a plug-in's data is kept like a built-in's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tavaal_nb.errors import SelectionError
from tavaal_nb.metrics import class_counts, class_entropy
from tavaal_nb.strategies.base import Selection

__all__ = ["SCORE_DECIMALS", "stored_value", "cycle_record"]

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


def _strategy_data(selection: Selection, method: str, cycle: int) -> dict[str, Any]:
    data = selection.strategy_data
    if not isinstance(data, Mapping):
        raise SelectionError(f"method {method!r} returned strategy_data of type {type(data).__name__} in cycle "
                             f"{cycle}; it must be a dict of {STORABLE}")
    try:
        return stored_value(data, "strategy_data")
    except TypeError as error:
        raise SelectionError(f"method {method!r} returned, in cycle {cycle}, {error}") from None


def cycle_record(
    cycle: int, labels: torch.Tensor, labeled: torch.Tensor, accuracy: float, selection: Selection | None,
    method: str, num_classes: int, losses: list[float], timings: dict[str, float],
) -> dict[str, Any]:
    """The stored record of one cycle; ``selection`` is its query (None in the last cycle, which makes none)."""
    record: dict[str, Any] = {
        "cycle": cycle,
        "labeled_size": int(labeled.numel()),
        "test_accuracy": accuracy,
        "labeled_class_counts": class_counts(labels[labeled], num_classes),
        "selected_indices": [],
        "selected_class_counts": None,
        "selected_class_entropy": None,
        "candidate_count": 0,
        "candidate_scores": None,
        "strategy_data": {},
        "train_loss": stored_value(losses),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    if selection is not None:
        chosen = selection.indices
        counts = class_counts(labels[chosen], num_classes)
        record.update(
            selected_indices=chosen.tolist(),
            selected_class_counts=counts,
            selected_class_entropy=class_entropy(counts) if chosen.numel() else None,
            candidate_count=int(selection.candidates.numel()),
            candidate_scores=stored_value(selection.scores.detach().float()),
            strategy_data=_strategy_data(selection, method, cycle),
        )
    return record
