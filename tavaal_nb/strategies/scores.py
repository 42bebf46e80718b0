"""Uncertainty scores of a classifier's softmax, one number per row: pure functions of the probabilities.

The package's strategies (``entropy``, ``margin``) and the 2-D sandbox's score with these same
functions; each docstring says which end of the scores a strategy labels.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["entropy_scores", "margin_scores"]


def _check_probabilities(probabilities: Tensor, classes: int) -> None:
    if probabilities.ndim != 2 or probabilities.shape[1] < classes:
        raise ValueError(f"probabilities must be an (N, C) tensor with C >= {classes} classes (one softmax per "
                         f"row), got shape {tuple(probabilities.shape)}")


def entropy_scores(probabilities: Tensor) -> Tensor:
    """Predictive entropy ``H(p) = -sum_c p_c ln p_c`` of each row of ``probabilities`` (N, C).

    ``0 ln 0`` counts as 0; the value lies in ``[0, ln C]``. The **highest** is the most uncertain:
    entropy sampling labels the highest.
    """
    _check_probabilities(probabilities, 1)
    return torch.special.entr(probabilities.float()).sum(dim=1)


def margin_scores(probabilities: Tensor) -> Tensor:
    """``p_(1) - p_(2)``: each row's gap between its two most probable classes (N, C >= 2).

    The value lies in ``[0, 1]``. The **lowest** is the most uncertain (the model can hardly tell its two
    best guesses apart): margin sampling labels the lowest.
    """
    _check_probabilities(probabilities, 2)
    top = probabilities.float().topk(2, dim=1).values
    return top[:, 0] - top[:, 1]
