"""Imbalanced pools: the paper's Table 1 profiles and the public code's 100x profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

__all__ = ["IMBALANCE_PROFILES", "FIRST_N_PROFILES", "DRAWS", "imbalance_counts", "apply_imbalance"]

IMBALANCE_PROFILES: Mapping[str, tuple[int, ...]] = {
    # Table 1 of the paper (counts x100 there): entropies 1.657 / 1.900 / 2.115 nats.
    "entropy-1.65": (3000, 3000, 4000, 5000, 50, 100, 100, 100, 200, 1000),
    "entropy-1.89": (3000, 3000, 4000, 5000, 500, 500, 200, 300, 500, 2000),
    "entropy-2.11": (3000, 3000, 4000, 5000, 1000, 1000, 1000, 1000, 1000, 3000),
    # The authors' public code: even classes keep 50 images, odd classes 5,000 (a 100x ratio).
    "official-100x": (50, 5000) * 5,
}
"""Images kept per class, in class order, for each named profile."""

FIRST_N_PROFILES = frozenset({"official-100x"})
"""Profiles that keep the first N images of each class, as the public code does; the others draw at random."""

DRAWS = ("random", "first")


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


def apply_imbalance(labels: Tensor, profile: str | Sequence[int], seed: int = 0, draw: str | None = None) -> Tensor:
    """Indices of a reproducible subset of ``labels`` with the profile's class counts.

    ``labels`` is the 1-D label tensor of a labeled pool; ``profile`` a name from
    :data:`IMBALANCE_PROFILES` or an explicit list with one count per class. With
    ``draw="random"`` images are drawn uniformly at random within each class (as the
    paper's sec. 5.2 says), with a generator seeded by ``seed``; with ``draw="first"``
    the first N images of each class in pool order are kept (the public code's way).
    By default the profiles of :data:`FIRST_N_PROFILES` (the one named after the public
    code) keep the first N and every other profile draws at random. The result is
    sorted. Asking for more images of a class than the pool has is an error naming the
    class and both numbers.
    """
    if draw is None:
        draw = "first" if isinstance(profile, str) and profile in FIRST_N_PROFILES else "random"
    if draw not in DRAWS:
        raise ValueError(f"draw must be one of {DRAWS}, got {draw!r}")
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
        order = torch.randperm(members.numel(), generator=generator) if draw == "random" else torch.arange(members.numel())
        chosen.append(members[order[:wanted]])
    return torch.sort(torch.cat(chosen)).values
