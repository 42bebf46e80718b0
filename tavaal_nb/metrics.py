"""Measures reported per cycle: class-count entropy and accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from tavaal_nb.results import Results

__all__ = ["class_entropy", "class_counts", "entropy_by_size", "ENTROPY_READINGS"]

ENTROPY_READINGS = ("selected", "labeled")
"""Two readings of Fig. 6's "data class count entropy" (the paper does not say of which images):
``selected``, the images one query selected; ``labeled``, the whole labeled set at that stage."""


def class_entropy(counts: Sequence[float] | Tensor) -> float:
    """Shannon entropy, in nats, of the class distribution given by ``counts``.

    This is the "data class count entropy" of the paper (Table 1, Fig. 6):
    ``-sum p_c log p_c`` with ``p_c = n_c / sum(n)``; classes with a zero count
    contribute nothing. Counts must be non-negative and not all zero.
    """
    values = [float(c) for c in (counts.tolist() if isinstance(counts, Tensor) else counts)]
    if any(c < 0 or math.isnan(c) for c in values):
        raise ValueError(f"class counts must be non-negative numbers, got {values}")
    total = sum(values)
    if total <= 0:
        raise ValueError("class counts are all zero: the entropy of an empty selection is undefined")
    return -sum((c / total) * math.log(c / total) for c in values if c > 0)


def class_counts(labels: Tensor, num_classes: int) -> list[int]:
    """Number of samples of each class among ``labels`` (a 1-D integer tensor)."""
    return torch.bincount(labels.reshape(-1).long().cpu(), minlength=num_classes).tolist()


def entropy_by_size(results: Results, method: str, reading: str = "selected") -> dict[int, list[float]]:
    """Class-count entropies of ``method``'s runs, one per trial, by labeled-set size.

    ``reading="selected"``: the entropy of each query's selection, keyed by the labeled-set size after
    the query; ``reading="labeled"``: the entropy of the labeled set each cycle trained on, keyed by its
    size (cycle 0 is the initial random set).
    """
    if reading not in ENTROPY_READINGS:
        raise ValueError(f"reading must be one of {ENTROPY_READINGS}, got {reading!r}")
    if method not in results.methods:
        raise ValueError(f"no runs of method {method!r}; the results hold {', '.join(results.methods)}")
    by_size: dict[int, list[float]] = {}
    for run in results.runs:
        if run["method"] != method:
            continue
        for record in run["cycles"]:
            if reading == "labeled":
                size, counts = record["labeled_size"], record["labeled_class_counts"]
            elif record.get("selected_class_counts"):
                size, counts = record["labeled_size"] + len(record["selected_indices"]), record["selected_class_counts"]
            else:
                continue
            by_size.setdefault(size, []).append(class_entropy(counts))
    return dict(sorted(by_size.items()))
