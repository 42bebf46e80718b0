"""A procedurally generated, learnable 10-class image set for tests and fast demos."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["make_synthetic_images"]


def make_synthetic_images(
    count: int, num_classes: int = 10, channels: int = 3, size: int = 32, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """``count`` uint8 images ``(N, C, size, size)`` and balanced labels, made in memory.

    Each class is a sinusoidal grating with its own orientation and frequency and
    (in colour) its own tint; every image draws a random phase, contrast, brightness
    and a blob at a random place, plus pixel noise. A small CNN learns it, but not
    from a handful of examples, so accuracy grows with the labeled set as it should.
    """
    if count < num_classes or num_classes < 2 or channels not in (1, 3) or size < 8:
        raise ValueError(
            f"synthetic images need count >= num_classes >= 2, channels 1 or 3, size >= 8; "
            f"got count={count}, num_classes={num_classes}, channels={channels}, size={size}"
        )
    gen = torch.Generator().manual_seed(int(seed))
    labels = torch.arange(count) % num_classes
    labels = labels[torch.randperm(count, generator=gen)]
    angle = labels.float() * (math.pi / num_classes) + 0.15 * torch.randn(count, generator=gen)
    freq = 2.0 + (labels % 3).float() * 1.5 + 0.3 * torch.randn(count, generator=gen)
    phase = 2 * math.pi * torch.rand(count, generator=gen)
    coords = torch.linspace(-1.0, 1.0, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    proj = xx[None] * torch.cos(angle)[:, None, None] + yy[None] * torch.sin(angle)[:, None, None]
    grating = torch.sin(math.pi * freq[:, None, None] * proj + phase[:, None, None])
    centre = torch.rand(count, 2, generator=gen) * 1.6 - 0.8
    blob = torch.exp(-((xx[None] - centre[:, 0, None, None]) ** 2 + (yy[None] - centre[:, 1, None, None]) ** 2) / 0.08)
    contrast = 0.25 + 0.2 * torch.rand(count, generator=gen)
    image = 0.5 + contrast[:, None, None] * grating + 0.25 * blob * torch.sign(torch.randn(count, 1, 1, generator=gen))
    if channels == 3:
        hue = labels.float() * (2 * math.pi / num_classes)
        tint = torch.stack([torch.cos(hue + k * 2 * math.pi / 3) for k in range(3)], dim=1)
        image = image[:, None] * (1.0 + 0.25 * tint[:, :, None, None])
    else:
        image = image[:, None]
    image = image + 0.08 * torch.randn(image.shape, generator=gen)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8), labels
