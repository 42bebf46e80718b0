"""The graph convolutional network of Sequential GCN (Caramalau et al., CVPR 2021).

Nodes are images (the labeled set and the candidates), node features the task model's
L2-normalised penultimate embeddings, edges their cosine affinities. The GCN learns to
tell labeled (1) from unlabeled (0) nodes; UncertainGCN and CoreGCN select with it
(:mod:`tavaal_nb.strategies.gcn`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["affinity_adjacency", "GraphConvolution", "SequentialGCN"]


def affinity_adjacency(embeddings: Tensor, eps: float = 1e-12) -> Tensor:
    """Sequential GCN's normalised adjacency of ``(N, D)`` node embeddings.

    With ``V`` the row-wise L2-normalised embeddings: ``A = V V^T - I`` (cosine
    affinities, no self-loops), each column divided by its sum (``A D^-1``), then
    ``+ I`` (self-loops of weight one). A column whose sum is below ``eps`` in magnitude is left
    undivided. A node with an all-zero embedding has the column sum -1 (its own ``-1`` on the
    diagonal): divided by it, as the public Sequential-GCN code does, its diagonal is 2, where
    clamping the sum to ``eps`` would give about -1e12 and make the GCN's loss explode.
    """
    if embeddings.ndim != 2 or embeddings.shape[0] < 1:
        raise ValueError(f"node embeddings must be a non-empty (N, D) matrix, got shape {tuple(embeddings.shape)}")
    unit = F.normalize(embeddings.float(), dim=1)
    eye = torch.eye(unit.shape[0], device=unit.device, dtype=unit.dtype)
    affinity = unit @ unit.T - eye
    sums = affinity.sum(dim=0)
    return affinity / torch.where(sums.abs() < eps, torch.ones_like(sums), sums) + eye


class GraphConvolution(nn.Module):
    """One graph convolution (Kipf & Welling, 2017): ``A (X W) + b``.

    Weights and bias start uniform in ``+-1/sqrt(out_features)``, Kipf & Welling's scheme.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"GraphConvolution needs positive sizes, got {in_features} -> {out_features}")
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        bound = 1.0 / math.sqrt(out_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        return adjacency @ (x @ self.weight) + self.bias


class SequentialGCN(nn.Module):
    """Two graph convolutions: ``in -> hidden`` (ReLU, dropout) ``-> 1`` logit per node.

    ``forward`` returns ``(logits, hidden)``: ``sigmoid(logits)`` is the GCN's confidence
    that a node is labeled; ``hidden`` (after dropout, so deterministic in eval mode) is
    the feature space in which CoreGCN runs k-center greedy. The public TA-VAAL code
    uses 128 hidden units and dropout 0.3 (its module also declares a middle layer and a
    linear head that its forward never uses; they are left out here).
    """

    def __init__(self, in_features: int, hidden: int = 128, dropout: float = 0.3) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.first = GraphConvolution(in_features, hidden)
        self.out = GraphConvolution(hidden, 1)
        self.dropout = dropout

    def forward(self, x: Tensor, adjacency: Tensor) -> tuple[Tensor, Tensor]:
        hidden = F.dropout(F.relu(self.first(x, adjacency)), self.dropout, training=self.training)
        return self.out(hidden, adjacency).squeeze(1), hidden
