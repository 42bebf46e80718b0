"""The loss prediction module of Learning Loss, used by TA-VAAL as its Ranker (sec. 3.2, 4.2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LossPredictionModule"]


class LossPredictionModule(nn.Module):
    """Predicts a (relative) loss from the task model's four stage features.

    Per stage: global average pooling -> Linear(C, hidden) -> ReLU; the four
    vectors are concatenated and mapped to one number by Linear(4 hidden, 1).
    Trained with eq. 1 (Learning Loss) or eq. 4 (TA-VAAL's Ranker); its output
    is the rank variable ``r`` of the conditional VAE (eq. 6).
    """

    def __init__(self, feature_channels: Sequence[int] = (64, 128, 256, 512), hidden: int = 128) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(channels, hidden) for channels in feature_channels)
        self.out = nn.Linear(hidden * len(feature_channels), 1)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        if len(features) != len(self.heads):
            raise ValueError(f"expected {len(self.heads)} stage features, got {len(features)}")
        pooled = [
            F.relu(head(torch.flatten(F.adaptive_avg_pool2d(feature, 1), 1)))
            for head, feature in zip(self.heads, features)
        ]
        return self.out(torch.cat(pooled, dim=1)).squeeze(1)
