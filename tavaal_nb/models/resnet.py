"""The task learner: a CIFAR-style ResNet-18 (He et al., 2016) that exposes its stage features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BasicBlock", "ResNet18"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18: 3x3 stem with stride 1, no max-pool, four stages of two blocks.

    Stage widths are ``width, 2 width, 4 width, 8 width`` (64/128/256/512 in the paper,
    11,173,962 parameters for 10 classes). Global average pooling makes it work for
    any input size, 32x32 RGB and 28x28 grey alike.

    ``forward`` returns ``(logits, embedding, [f1, f2, f3, f4])``: the class logits,
    the pooled penultimate embedding (used by core-set) and the four stage outputs
    (used by the loss prediction module / Ranker).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        if num_classes < 2 or in_channels < 1 or width < 1:
            raise ValueError(
                f"ResNet18 needs num_classes >= 2, in_channels >= 1, width >= 1; "
                f"got {num_classes}, {in_channels}, {width}"
            )
        self.stage_channels = [width, 2 * width, 4 * width, 8 * width]
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, channels = [], width
        for index, out_channels in enumerate(self.stage_channels):
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(BasicBlock(channels, out_channels, stride), BasicBlock(out_channels, out_channels)))
            channels = out_channels
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        out = F.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(out)
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        embedding = torch.flatten(F.adaptive_avg_pool2d(f4, 1), 1)
        return self.linear(embedding), embedding, [f1, f2, f3, f4]
