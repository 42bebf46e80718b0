"""A procedurally generated, learnable 10-class image set for tests and fast demos."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["make_synthetic_images", "SYNTHETIC_CHUNK"]

SYNTHETIC_CHUNK = 512
"""Images rendered at a time. The float intermediates of one chunk take a few MB each for 32x32 RGB
instead of ~0.7 GB per intermediate for the default 60k images; the output is bit-identical
to rendering all at once (see :func:`make_synthetic_images`)."""


def _draw_parameters(count: int, num_classes: int, gen: torch.Generator) -> dict[str, Tensor]:
    """Every per-image random draw, in the order the generator has always consumed them."""
    labels = torch.arange(count) % num_classes
    labels = labels[torch.randperm(count, generator=gen)]
    angle = labels.float() * (math.pi / num_classes) + 0.15 * torch.randn(count, generator=gen)
    freq = 2.0 + (labels % 3).float() * 1.5 + 0.3 * torch.randn(count, generator=gen)
    phase = 2 * math.pi * torch.rand(count, generator=gen)
    centre = torch.rand(count, 2, generator=gen) * 1.6 - 0.8
    contrast = 0.25 + 0.2 * torch.rand(count, generator=gen)
    blob_sign = torch.sign(torch.randn(count, 1, 1, generator=gen))
    return {"labels": labels, "angle": angle, "freq": freq, "phase": phase, "centre": centre,
            "contrast": contrast, "blob_sign": blob_sign}


def _render(p: dict[str, Tensor], num_classes: int, channels: int, size: int, gen: torch.Generator) -> Tensor:
    """uint8 images for the per-image parameters ``p`` (a chunk), drawing their pixel noise from ``gen``."""
    coords = torch.linspace(-1.0, 1.0, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    proj = xx[None] * torch.cos(p["angle"])[:, None, None] + yy[None] * torch.sin(p["angle"])[:, None, None]
    grating = torch.sin(math.pi * p["freq"][:, None, None] * proj + p["phase"][:, None, None])
    centre = p["centre"]
    blob = torch.exp(-((xx[None] - centre[:, 0, None, None]) ** 2 + (yy[None] - centre[:, 1, None, None]) ** 2) / 0.08)
    image = 0.5 + p["contrast"][:, None, None] * grating + 0.25 * blob * p["blob_sign"]
    if channels == 3:
        hue = p["labels"].float() * (2 * math.pi / num_classes)
        tint = torch.stack([torch.cos(hue + k * 2 * math.pi / 3) for k in range(3)], dim=1)
        image = image[:, None] * (1.0 + 0.25 * tint[:, :, None, None])
    else:
        image = image[:, None]
    image = image + 0.08 * torch.randn(image.shape, generator=gen)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8)


def make_synthetic_images(
    count: int, num_classes: int = 10, channels: int = 3, size: int = 32, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """``count`` uint8 images ``(N, C, size, size)`` and balanced labels, made in memory.

    Each class is a sinusoidal grating with its own orientation and frequency and
    (in colour) its own tint; every image draws a random phase, contrast, brightness
    and a blob at a random place, plus pixel noise. A small CNN learns it, but not
    from a handful of examples, so accuracy grows with the labeled set as it should.

    Images are rendered :data:`SYNTHETIC_CHUNK` at a time, so the peak memory is the
    uint8 result plus one chunk's floats. torch's CPU ``randn`` fills a tensor 16 values
    at a time from the generator's stream, so noise drawn in chunks whose sizes are
    multiples of 16 is the noise of one big draw: a seed gives the same images as ever.
    """
    if count < num_classes or num_classes < 2 or channels not in (1, 3) or size < 8:
        raise ValueError(
            f"synthetic images need count >= num_classes >= 2, channels 1 or 3, size >= 8; "
            f"got count={count}, num_classes={num_classes}, channels={channels}, size={size}"
        )
    gen = torch.Generator().manual_seed(int(seed))
    params = _draw_parameters(count, num_classes, gen)
    per_image = channels * size * size
    step = SYNTHETIC_CHUNK if per_image % 16 == 0 else count  # chunking keeps the noise only in steps of 16
    images = torch.empty(count, channels, size, size, dtype=torch.uint8)
    for start in range(0, count, step):
        chunk = {key: value[start:start + step] for key, value in params.items()}
        images[start:start + step] = _render(chunk, num_classes, channels, size, gen)
    return images, params["labels"]
