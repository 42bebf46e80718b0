"""Two-dimensional toy pools for the sandbox: moons and blobs, with an imbalance knob.

Made with torch alone (seeded), so the sandbox needs no scikit-learn. The imbalance knob is the
ratio of the largest class to the smallest, the measure of the paper's Table 1 ("imbalance ratio");
the counts in between fall geometrically, like the long-tailed pools of notebook 05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["POOL_KINDS", "ToyPool", "toy_class_counts", "make_toy_pool"]

POOL_KINDS = ("moons", "blobs")
"""The shapes :func:`make_toy_pool` can draw."""


@dataclass(frozen=True)
class ToyPool:
    """A 2-D pool (``x``: float32, shape ``(n, 2)``; ``y``: int64 classes) and a balanced test set."""

    kind: str
    x: Tensor
    y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    imbalance: float

    @property
    def size(self) -> int:
        return int(self.y.numel())

    def class_counts(self, indices: Tensor | None = None) -> list[int]:
        """How many pool points (or of ``indices``' points) each class has."""
        labels = self.y if indices is None else self.y[indices]
        return torch.bincount(labels, minlength=self.num_classes).tolist()

    def bounds(self, pad: float = 0.4) -> tuple[float, float, float, float]:
        """``(x_min, x_max, y_min, y_max)`` of the pool, padded: the figure's and the grid's extent."""
        low, high = self.x.min(dim=0).values, self.x.max(dim=0).values
        return (low[0].item() - pad, high[0].item() + pad, low[1].item() - pad, high[1].item() + pad)


def toy_class_counts(largest: int, num_classes: int, imbalance: float) -> list[int]:
    """Class sizes falling geometrically from ``largest`` to ``round(largest / imbalance)``.

    Class ``c`` gets ``round(largest * imbalance ** (-c / (C - 1)))`` points, so class 0 is the
    largest, the last class the smallest, and their ratio is ``imbalance`` up to rounding.
    """
    if num_classes < 2:
        raise ValueError(f"a pool needs at least 2 classes, got num_classes={num_classes}")
    if not imbalance >= 1.0 or not math.isfinite(imbalance):
        raise ValueError(f"imbalance is the ratio largest / smallest class and must be >= 1, got {imbalance}")
    smallest = largest / imbalance
    if largest < 1 or round(smallest) < 1:
        raise ValueError(f"largest={largest} with imbalance={imbalance} leaves the smallest class empty; "
                         "raise largest or lower imbalance")
    return [round(largest * imbalance ** (-c / (num_classes - 1))) for c in range(num_classes)]


def _moons(counts: list[int], noise: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two interleaved half circles: class 0 the upper one, class 1 the lower one, shifted right."""
    parts, labels = [], []
    for label, count in enumerate(counts[:2]):
        angle = torch.rand(count, generator=generator) * math.pi
        if label == 0:
            points = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
        else:
            points = torch.stack([1.0 - torch.cos(angle), 0.5 - torch.sin(angle)], dim=1)
        parts.append(points + noise * torch.randn(count, 2, generator=generator))
        labels.append(torch.full((count,), label, dtype=torch.long))
    return torch.cat(parts), torch.cat(labels)


def _blobs(counts: list[int], noise: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """One Gaussian blob per class, centres evenly spaced on a circle of radius 1.5."""
    parts, labels = [], []
    for label, count in enumerate(counts):
        angle = 2 * math.pi * label / len(counts)
        centre = torch.tensor([1.5 * math.cos(angle), 1.5 * math.sin(angle)])
        parts.append(centre + 2.5 * noise * torch.randn(count, 2, generator=generator))
        labels.append(torch.full((count,), label, dtype=torch.long))
    return torch.cat(parts), torch.cat(labels)


def make_toy_pool(kind: str = "moons", largest: int = 300, imbalance: float = 1.0, num_classes: int | None = None,
                  noise: float = 0.2, test_per_class: int = 200, seed: int = 0) -> ToyPool:
    """A seeded toy pool: ``kind`` is ``"moons"`` (2 classes) or ``"blobs"`` (``num_classes``, default 4).

    The pool's class sizes are :func:`toy_class_counts` of ``(largest, num_classes, imbalance)``;
    the test set is balanced (``test_per_class`` points per class), as the paper's test sets are,
    so a neglected minority class costs accuracy. The pool's points come in random order.
    """
    if kind not in POOL_KINDS:
        raise ValueError(f"unknown pool kind {kind!r}; valid: {', '.join(POOL_KINDS)}")
    if kind == "moons":
        if num_classes not in (None, 2):
            raise ValueError(f"moons have 2 classes, got num_classes={num_classes}")
        num_classes, draw = 2, _moons
    else:
        num_classes, draw = (4 if num_classes is None else num_classes), _blobs
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    counts = toy_class_counts(largest, num_classes, imbalance)
    generator = torch.Generator().manual_seed(seed)
    x, y = draw(counts, noise, generator)
    order = torch.randperm(y.numel(), generator=generator)
    test_x, test_y = draw([test_per_class] * num_classes, noise, generator)
    return ToyPool(kind, x[order].float(), y[order], test_x.float(), test_y, num_classes, float(imbalance))
