"""BADGE (Ash et al., ICLR 2020): k-means++ seeding on gradient embeddings of the last layer.

For a candidate with penultimate embedding ``h`` and softmax ``p``, the hallucinated
label is ``y^ = argmax p``; the gradient of the cross-entropy ``CE(W h + b, y^)`` with
respect to the last layer's weights ``W`` is ``g = (p - onehot(y^)) h^T`` (C x D). Its
norm is large when the model is unsure (small ``p_y^``) and the embedding large, and
k-means++ seeding spreads the picks over directions: uncertainty and diversity at once.

The embeddings are never built: for ``g_i = a_i h_i^T`` the squared distances follow from
``|g_i - g_j|^2 = |a_i|^2 |h_i|^2 + |a_j|^2 |h_j|^2 - 2 (a_i . a_j)(h_i . h_j)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tavaal_nb.strategies.base import QueryContext, Selection, Strategy

__all__ = ["GradientEmbeddings", "gradient_embeddings", "kmeans_pp_seeds", "BADGE"]


class GradientEmbeddings:
    """Last-layer gradient embeddings ``g_i = a_i h_i^T`` kept in factored form.

    ``scale`` holds ``a_i = p_i - onehot(argmax p_i)`` (N x C), ``features`` the embeddings
    ``h_i`` (N x D).
    """

    def __init__(self, scale: Tensor, features: Tensor) -> None:
        if scale.ndim != 2 or features.ndim != 2 or scale.shape[0] != features.shape[0]:
            raise ValueError(f"scale (N, C) and features (N, D) must share N, got {tuple(scale.shape)} "
                             f"and {tuple(features.shape)}")
        self.scale, self.features = scale.float(), features.float()
        self.squared_norms = self.scale.pow(2).sum(1) * self.features.pow(2).sum(1)

    def __len__(self) -> int:
        return self.scale.shape[0]

    def dense(self) -> Tensor:
        """The ``(N, C * D)`` matrix of flattened gradients (for checks on small cases)."""
        return (self.scale[:, :, None] * self.features[:, None, :]).flatten(1)

    def squared_distance_to(self, index: int) -> Tensor:
        """``|g_k - g_index|^2`` for every ``k`` (clamped at zero against rounding)."""
        cross = (self.scale @ self.scale[index]) * (self.features @ self.features[index])
        return (self.squared_norms + self.squared_norms[index] - 2.0 * cross).clamp_min(0.0)


def gradient_embeddings(logits: Tensor, features: Tensor) -> GradientEmbeddings:
    """BADGE's embeddings from the last layer's ``logits`` and its input ``features``."""
    probabilities = torch.softmax(logits.float(), dim=1)
    hallucinated = probabilities.argmax(dim=1)
    scale = probabilities - torch.nn.functional.one_hot(hallucinated, probabilities.shape[1]).float()
    return GradientEmbeddings(scale, features)


def kmeans_pp_seeds(embeddings: GradientEmbeddings, k: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007) as BADGE runs it.

    The first seed is the embedding of largest norm; each next one is drawn with probability
    proportional to its squared distance to the nearest seed so far (``generator``, a CPU
    generator, makes the draws reproducible). When every remaining distance is zero (copies
    of chosen points), the lowest remaining position is taken. Returns the positions in
    pick order and each point's squared distance to the first seed.
    """
    count = len(embeddings)
    k = min(k, count)
    picks: list[int] = []
    if k == 0:
        return torch.empty(0, dtype=torch.long), torch.zeros(count)
    first = int(torch.argmax(embeddings.squared_norms))
    picks.append(first)
    nearest = embeddings.squared_distance_to(first)
    to_first = nearest.clone()
    chosen = torch.zeros(count, dtype=torch.bool, device=nearest.device)
    chosen[first] = True
    while len(picks) < k:
        weights = torch.where(chosen, torch.zeros_like(nearest), nearest).double().cpu()
        total = float(weights.sum())
        if total > 0:
            pick = int(torch.multinomial(weights / total, 1, generator=generator))
        else:
            pick = int(torch.nonzero(~chosen.cpu())[0])
        picks.append(pick)
        chosen[pick] = True
        nearest = torch.minimum(nearest, embeddings.squared_distance_to(pick))
    return torch.tensor(picks, dtype=torch.long), to_first.cpu()


class BADGE(Strategy):
    """BADGE: k-means++ seeds of the candidates' last-layer gradient embeddings.

    ``scores`` are the gradient embeddings' norms (the first pick has the largest).
    """

    name = "badge"
    help = "BADGE (Ash et al.): k-means++ seeding on last-layer gradient embeddings, label = argmax"
    ranker_objective = None

    def select(self, context: QueryContext) -> Selection:
        outputs = context.infer(context.candidates)
        embeddings = gradient_embeddings(outputs["logits"], outputs["embedding"])
        positions, _ = kmeans_pp_seeds(embeddings, context.budget, context.generator)
        return Selection(
            indices=context.candidates[positions.to(context.candidates.device)].cpu(),
            scores=embeddings.squared_norms.sqrt().cpu(),
            candidates=context.candidates.cpu(),
        )
