"""Imbalanced pools: the paper's Table 1 profiles and the public code's 100x profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

__all__ = ["IMBALANCE_PROFILES", "imbalance_counts", "apply_imbalance"]

IMBALANCE_PROFILES: Mapping[str, tuple[int, ...]] = {
    # Table 1 of the paper (counts x100 there): entropies 1.657 / 1.900 / 2.115 nats.
    "entropy-1.65": (3000, 3000, 4000, 5000, 50, 100, 100, 100, 200, 1000),
    "entropy-1.89": (3000, 3000, 4000, 5000, 500, 500, 200, 300, 500, 2000),
    "entropy-2.11": (3000, 3000, 4000, 5000, 1000, 1000, 1000, 1000, 1000, 3000),
    # The authors' public code: even classes keep 50 images, odd classes 5,000 (a 100x ratio).
    "official-100x": (50, 5000) * 5,
}
"""Images kept per class, in class order, for each named profile."""


def imbalance_counts(profile: str | Sequence[int]) -> list[int]:
    """The per-class counts of a named profile, or a validated explicit count list."""
    if isinstance(profile, str):
        if profile not in IMBALANCE_PROFILES:
            raise ValueError(f"unknown imbalance profile {profile!r}; valid: {', '.join(IMBALANCE_PROFILES)}")
        return list(IMBALANCE_PROFILES[profile])
    counts = [int(c) for c in profile]
    if not counts or any(c < 0 for c in counts):
        raise ValueError(f"an imbalance profile is a non-empty list of non-negative counts, got {list(profile)}")
    return counts


def apply_imbalance(labels: Tensor, profile: str | Sequence[int], seed: int = 0) -> Tensor:
    """Indices of a random, reproducible subset of ``labels`` with the profile's class counts.

    ``labels`` is the 1-D label tensor of a labeled pool; ``profile`` a name from
    :data:`IMBALANCE_PROFILES` or an explicit list with one count per class. Images
    are drawn uniformly at random within each class (as the paper's sec. 5.2 says),
    with a generator seeded by ``seed``; the result is sorted. Asking for more
    images of a class than the pool has is an error naming the class and both numbers.
    """
    counts = imbalance_counts(profile)
    labels = labels.reshape(-1).long().cpu()
    num_classes = int(labels.max()) + 1 if labels.numel() else 0
    if len(counts) != num_classes:
        raise ValueError(f"the profile has {len(counts)} class counts but the pool has {num_classes} classes")
    generator = torch.Generator().manual_seed(int(seed))
    chosen = []
    for cls, wanted in enumerate(counts):
        members = torch.nonzero(labels == cls).reshape(-1)
        if wanted > members.numel():
            raise ValueError(
                f"class {cls} has {members.numel()} images in the pool but the profile asks for {wanted}"
            )
        chosen.append(members[torch.randperm(members.numel(), generator=generator)[:wanted]])
    return torch.sort(torch.cat(chosen)).values
