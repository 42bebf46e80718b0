"""Measures reported per cycle: class-count entropy and accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["class_entropy", "class_counts", "ENTROPY_READINGS"]

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
