"""On-device augmentation and normalisation of uint8 image batches (no DataLoader, no PIL)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["Augmenter"]


class Augmenter:
    """Turns a uint8 batch ``(B, C, H, W)`` into normalised floats, optionally augmented.

    Augmentation is the paper's: a random ``H x W`` crop from the image zero-padded by
    ``padding`` pixels on each side (2 in the paper's text, 4 in the public code)
    and a horizontal flip with probability 1/2. Everything runs on the batch's
    device, driven by an explicit ``torch.Generator`` so a seed fixes it.
    """

    def __init__(
        self, mean: Sequence[float], std: Sequence[float], padding: int = 2, flip: bool = True, crop: bool = True
    ) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.padding, self.flip, self.crop = int(padding), bool(flip), bool(crop)
        self._cache: dict[torch.device, tuple[Tensor, Tensor]] = {}

    @property
    def augments(self) -> bool:
        return self.flip or (self.crop and self.padding > 0)

    def _stats(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if device not in self._cache:
            self._cache[device] = (self.mean.to(device), self.std.to(device))
        return self._cache[device]

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 ``(B, C, H, W)`` -> float32 ``(x / 255 - mean) / std``."""
        mean, std = self._stats(images.device)
        return (images.float().div_(255.0) - mean) / std

    def random_crop_flip(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """Random padded crop and horizontal flip of a uint8 batch, as one gather."""
        batch, channels, height, width = images.shape
        device = images.device
        pad = self.padding if self.crop else 0
        if pad:
            padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
            dy = torch.randint(0, 2 * pad + 1, (batch,), device=device, generator=generator)
            dx = torch.randint(0, 2 * pad + 1, (batch,), device=device, generator=generator)
        else:
            padded = images
            dy = dx = torch.zeros(batch, dtype=torch.long, device=device)
        rows = dy[:, None] + torch.arange(height, device=device)
        cols = dx[:, None] + torch.arange(width, device=device)
        if self.flip:
            flips = torch.rand(batch, device=device, generator=generator) < 0.5
            cols = torch.where(flips[:, None], cols.flip(1), cols)
        b = torch.arange(batch, device=device)[:, None, None, None]
        c = torch.arange(channels, device=device)[None, :, None, None]
        return padded[b, c, rows[:, None, :, None], cols[:, None, None, :]]

    def __call__(self, images: Tensor, generator: torch.Generator | None = None, train: bool = False) -> Tensor:
        """Normalised float batch; cropped and flipped first when ``train`` and augmentation is on."""
        if train and self.augments:
            if generator is None:
                raise ValueError("training-time augmentation needs a torch.Generator for reproducibility")
            images = self.random_crop_flip(images, generator)
        return self.normalize(images)
