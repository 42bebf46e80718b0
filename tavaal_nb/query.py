"""The query step of a cycle: a strategy's ``select``, isolated from the other methods' records, then checked."""

from __future__ import annotations

import copy
import dataclasses

from tavaal_nb.data.datasets import ImageData
from tavaal_nb.strategies.base import QueryContext, Selection, Strategy, check_selection
from tavaal_nb.strategies.registry import is_builtin

__all__ = ["query_strategy"]


def _private_data(data: ImageData) -> ImageData:
    """A copy of ``data`` whose tensors (and class names) a strategy may change without touching the original."""
    return dataclasses.replace(data, train_images=data.train_images.clone(), train_labels=data.train_labels.clone(),
                               test_images=data.test_images.clone(), test_labels=data.test_labels.clone(),
                               class_names=list(data.class_names))


def query_strategy(strategy: Strategy, method: str, cycle: int, context: QueryContext) -> Selection:
    """``strategy.select(context)``, checked, such that no strategy can change another method's records.

    The loop keeps its own candidates and labeled indices: the strategy gets copies (small). A plug-in
    (any strategy but the instances tavaal_nb ships, :func:`~tavaal_nb.strategies.registry.is_builtin`)
    also gets a private copy of the data and of the augmenter, so an in-place write
    (``context.data.train_labels.zero_()``) changes nothing the next method reads; that copy costs
    one dataset's memory on the device for the length of the query. The built-ins, which get the
    shared data (no copy), are checked not to write into it by tests/test_reliability_integrity.py.
    The selection is then checked (:func:`~tavaal_nb.strategies.base.check_selection`) before it is used.
    """
    candidates = context.candidates
    context = dataclasses.replace(context, labeled=context.labeled.clone(), candidates=candidates.clone())
    if not is_builtin(strategy):
        context = dataclasses.replace(context, data=_private_data(context.data),
                                      augmenter=copy.deepcopy(context.augmenter))
    selection = strategy.select(context)
    selection.indices = check_selection(selection, candidates, context.budget, method, cycle)
    return selection
