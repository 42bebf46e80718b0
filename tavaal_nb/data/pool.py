"""The active-learning pool: which train indices are labeled, and the random candidate subset."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["ActivePool"]


class ActivePool:
    """Labeled and unlabeled indices of a train pool of ``size`` images.

    The two sets are disjoint and together cover ``range(size)``; :meth:`label`
    refuses an index that is out of range, repeated, or already labeled. Index
    bookkeeping lives on the CPU (it changes once per cycle); callers move the
    index tensors they need to the data's device.
    """

    def __init__(self, size: int, labeled: Tensor | list[int] | None = None) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one image, got size={size}")
        self.size = int(size)
        self._mask = torch.zeros(self.size, dtype=torch.bool)
        self._order: list[Tensor] = []
        if labeled is not None:
            self.label(torch.as_tensor(labeled, dtype=torch.long))

    @classmethod
    def random(cls, size: int, initial: int, generator: torch.Generator) -> ActivePool:
        """A pool whose first ``initial`` labeled images are drawn uniformly without replacement."""
        if not 0 < initial <= size:
            raise ValueError(f"the initial labeled set must have between 1 and {size} images, got {initial}")
        return cls(size, torch.randperm(size, generator=generator)[:initial])

    @property
    def labeled(self) -> Tensor:
        """Labeled indices, in the order they were labeled."""
        return torch.cat(self._order) if self._order else torch.empty(0, dtype=torch.long)

    @property
    def unlabeled(self) -> Tensor:
        """Unlabeled indices, ascending."""
        return torch.nonzero(~self._mask).reshape(-1)

    @property
    def num_labeled(self) -> int:
        return int(self._mask.sum())

    def label(self, indices: Tensor) -> None:
        """Move ``indices`` from the unlabeled to the labeled set."""
        indices = indices.reshape(-1).long().cpu()
        if indices.numel() == 0:
            return
        if int(indices.min()) < 0 or int(indices.max()) >= self.size:
            raise ValueError(f"pool indices must lie in [0, {self.size}), got min {int(indices.min())}, max {int(indices.max())}")
        if torch.unique(indices).numel() != indices.numel():
            raise ValueError("an index was selected twice in one query")
        already = indices[self._mask[indices]]
        if already.numel():
            raise ValueError(f"indices already labeled: {already[:10].tolist()}")
        self._mask[indices] = True
        self._order.append(indices.clone())

    def candidates(self, subset: int, generator: torch.Generator) -> Tensor:
        """A uniform random subset of ``subset`` unlabeled indices (all of them if fewer remain), ascending."""
        unlabeled = self.unlabeled
        if subset >= unlabeled.numel():
            return unlabeled
        return torch.sort(unlabeled[torch.randperm(unlabeled.numel(), generator=generator)[:subset]]).values

    def candidates_by_keys(self, subset: int, keys: Tensor) -> Tensor:
        """The ``subset`` unlabeled indices with the smallest ``keys`` (one per pool index; all of them if
        fewer remain), ascending. With uniform random keys this is a uniform random subset, and pools that
        share the keys (methods of one trial and cycle, :func:`tavaal_nb.seeding.candidate_keys`) share
        every candidate they both still have unlabeled."""
        if keys.shape != (self.size,):
            raise ValueError(f"candidates_by_keys needs one key per pool index ({self.size}), got shape "
                             f"{tuple(keys.shape)}")
        unlabeled = self.unlabeled
        if subset >= unlabeled.numel():
            return unlabeled
        order = torch.argsort(keys[unlabeled], stable=True)[:subset]
        return torch.sort(unlabeled[order]).values
