"""What the figures and views show, computed without drawing (the figures are built in
:mod:`tavaal_nb.analysis.plots`; the course's training-based measurements are in
:mod:`tavaal_nb.classroom.computations`).

=====================================  ==============================================================
:func:`histogram_counts`               Fig. 7's histogram of ``D(mu, r)``, counted
:func:`ranking_loss_values`,           eqs. 1 and 4 and their gradients for one pair, and along a range
:func:`ranking_loss_curves`
:func:`pca_2d`                         latent means projected on their first two principal components
:func:`image_grid`                     thumbnails tiled into one image
=====================================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tavaal_nb.losses import ranker_objective_loss

__all__ = ["histogram_counts", "ranking_loss_values", "ranking_loss_curves", "pca_2d", "image_grid"]


def histogram_counts(values: Sequence[float | None], bins: int = 40, low: float = 0.0,
                     high: float = 1.0) -> list[int]:
    """Counts of ``values`` in ``bins`` equal bins over ``[low, high]``; the last bin includes ``high``
    and values outside the range are clipped into the end bins (so the counts sum to the number of values
    that are not None: a stored score may be null)."""
    if bins < 1 or not high > low:
        raise ValueError(f"need bins >= 1 and high > low, got bins={bins}, low={low}, high={high}")
    counts = [0] * bins
    width = (high - low) / bins
    for value in values:
        if value is None:
            continue
        counts[min(bins - 1, max(0, int((value - low) // width)))] += 1
    return counts


def ranking_loss_values(pred_i: float, pred_j: float, i_greater: bool, margin: float = 1.0) -> dict[str, float]:
    """Eq. 1 (:func:`tavaal_nb.losses.margin_ranking_loss`) and eq. 4 (:func:`~tavaal_nb.losses.bce_ranking_loss`)
    for one pair of predicted losses ``(pred_i, pred_j)`` whose true order is ``l_i > l_j``
    (``i_greater``) or not, with their gradients with respect to both predictions (autograd).

    Returns ``eq1, eq1_grad_i, eq1_grad_j, eq4, eq4_grad_i, eq4_grad_j``.
    """
    target = torch.tensor([1.0, 0.0] if i_greater else [0.0, 1.0], dtype=torch.float64)
    out: dict[str, float] = {}
    for name, fn in (("eq1", ranker_objective_loss("margin", margin)), ("eq4", ranker_objective_loss("bce"))):
        pred = torch.tensor([pred_i, pred_j], dtype=torch.float64, requires_grad=True)
        loss = fn(pred, target)
        loss.backward()
        assert pred.grad is not None  # a leaf that requires grad, after backward()
        out[name] = float(loss.detach())
        out[f"{name}_grad_i"], out[f"{name}_grad_j"] = (float(g) for g in pred.grad)
    return out


def ranking_loss_curves(i_greater: bool, margin: float, gaps: Sequence[float]) -> dict[str, list[float]]:
    """:func:`ranking_loss_values` along a range of gaps ``pred_i - pred_j`` (``pred_j = 0``):
    the losses and ``d loss / d pred_i`` of eqs. 1 and 4, for :func:`tavaal_nb.analysis.model_figures.ranking_loss_figure`."""
    values = [ranking_loss_values(gap, 0.0, i_greater, margin) for gap in gaps]
    return {key: [v[key] for v in values] for key in ("eq1", "eq1_grad_i", "eq4", "eq4_grad_i")}


def pca_2d(*arrays) -> tuple[list, list[float]]:
    """Project row vectors onto their first two principal components, jointly.

    Takes one or more ``(n_k, d)`` arrays (tensors or nested lists); returns the projected
    ``(n_k, 2)`` tensors, in order, and the fraction of the variance each component explains.
    The components come from an exact SVD of the centred rows (``torch.linalg.svd``); each
    is signed so that its largest-magnitude loading is positive, which makes the picture
    reproducible.
    """
    parts = [torch.as_tensor(a, dtype=torch.float64).reshape(len(a), -1) for a in arrays]
    stacked = torch.cat(parts)
    if stacked.shape[0] < 2:
        raise ValueError("a projection needs at least two points")
    centred = stacked - stacked.mean(dim=0, keepdim=True)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:2]
    if components.shape[0] < 2:  # one-dimensional data: pad with a zero component
        components = torch.cat([components, torch.zeros(1, components.shape[1], dtype=components.dtype)])
    signs = torch.sign(components.gather(1, components.abs().argmax(dim=1, keepdim=True)))
    signs[signs == 0] = 1
    components = components * signs
    projected = centred @ components.T
    variance = singular.pow(2)
    explained = (variance[:2] / variance.sum().clamp_min(1e-12)).tolist() + [0.0] * max(0, 2 - len(variance))
    out, start = [], 0
    for part in parts:
        out.append(projected[start:start + part.shape[0]])
        start += part.shape[0]
    return out, explained[:2]


def image_grid(images, columns: int = 10, gap: int = 2, row_gap: int | None = None):
    """Tile ``(N, C, H, W)`` uint8 images (C = 1 or 3) into one ``(rows*(H+row_gap), columns*(W+gap), 3)``
    uint8 array, row by row, on a white background; grey images are repeated to RGB. Image ``k``
    sits at row ``k // columns``, column ``k % columns``; ``row_gap`` (default ``gap``) leaves room
    for captions under each row."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError("images must be a uint8 tensor of shape (N, C, H, W) with C = 1 or 3")
    row_gap = gap if row_gap is None else row_gap
    count, _, height, width = images.shape
    columns = max(1, min(columns, count))
    rows = max(1, -(-count // columns))
    hwc = images.detach().cpu().permute(0, 2, 3, 1).numpy()
    if hwc.shape[-1] == 1:
        hwc = np.repeat(hwc, 3, axis=-1)
    grid = np.full((rows * (height + row_gap), columns * (width + gap), 3), 255, dtype=np.uint8)
    for k in range(count):
        r, c = divmod(k, columns)
        top, left = r * (height + row_gap), c * (width + gap)
        grid[top:top + height, left:left + width] = hwc[k]
    return grid
