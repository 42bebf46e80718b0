"""The paper's loss functions, one implementation each.

Every function names the equation of Kim et al. (2021), "Task-Aware Variational
Adversarial Active Learning", that it implements. The discriminator works on
*logits*: ``D(mu, r) = sigmoid(logit)``; the binary cross-entropy on logits is
algebraically the ``-log D`` / ``-log(1 - D)`` terms of eqs. 7 and 8, computed
without the overflow of ``log(sigmoid(.))``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import overload

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ranking_pairs",
    "margin_ranking_loss",
    "bce_ranking_loss",
    "PairwiseRankingLoss",
    "RANKER_OBJECTIVES",
    "ranker_objective_loss",
    "loss_prediction_mse",
    "kl_divergence",
    "vae_loss",
    "conditional_vae_loss",
    "vae_adversarial_loss",
    "discriminator_loss",
]


def ranking_pairs(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Split a batch into the B/2 pairs ``(i, B-1-i)`` used by eqs. 1 and 4.

    Returns ``(pred_i, pred_j, target_i, target_j)``; the targets are detached,
    so the task model's losses are never shaped by the ranking objective.
    An odd batch has no such pairing and is an error.
    """
    pred = pred.reshape(-1)
    target = target.reshape(-1).detach()
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same length, got {pred.numel()} and {target.numel()}")
    size = pred.numel()
    if size % 2 != 0 or size == 0:
        raise ValueError(f"ranking losses pair sample i with B-1-i and need an even batch size B > 0, got B={size}")
    half = size // 2
    flipped_pred, flipped_target = pred.flip(0), target.flip(0)
    return pred[:half], flipped_pred[:half], target[:half], flipped_target[:half]


def margin_ranking_loss(pred: Tensor, target: Tensor, margin: float = 1.0) -> Tensor:
    """Learning Loss's margin ranking loss, **eq. 1** (Yoo & Kweon, 2019).

    For the pairs ``(i, j) = (i, B-1-i)``, ``I = +1`` if ``l_i > l_j`` else ``-1``;
    the loss is the mean over the B/2 pairs of ``max(0, -I (l^_i - l^_j) + margin)``.
    (The leading minus sign printed in the paper's eq. 1 is a typo: with it the
    loss would be maximised.)
    """
    pred_i, pred_j, target_i, target_j = ranking_pairs(pred, target)
    sign = torch.where(target_i > target_j, 1.0, -1.0).to(pred_i.dtype)
    return torch.clamp(-sign * (pred_i - pred_j) + margin, min=0.0).mean()


def bce_ranking_loss(pred: Tensor, target: Tensor) -> Tensor:
    """TA-VAAL's Ranker loss from RankCGAN, **eq. 4**.

    Mean over the B/2 pairs ``(i, B-1-i)`` of
    ``BCE(sigmoid(l^_i - l^_j), 1[l_i > l_j])``.
    """
    pred_i, pred_j, target_i, target_j = ranking_pairs(pred, target)
    order = (target_i > target_j).to(pred_i.dtype)
    return F.binary_cross_entropy_with_logits(pred_i - pred_j, order)


PairwiseRankingLoss = Callable[[Tensor, Tensor], Tensor]
"""A Ranker objective: ``loss(predicted_losses, true_losses)`` over the pairs ``(i, B-1-i)``."""

RANKER_OBJECTIVES = ("margin", "bce")
"""The Ranker objectives a strategy may name: eq. 1 (Learning Loss) and eq. 4 (TA-VAAL)."""


@overload
def ranker_objective_loss(objective: None, margin: float = ...) -> None: ...
@overload
def ranker_objective_loss(objective: str, margin: float = ...) -> PairwiseRankingLoss: ...
@overload
def ranker_objective_loss(objective: str | None, margin: float = ...) -> PairwiseRankingLoss | None: ...
def ranker_objective_loss(objective: str | None, margin: float = 1.0) -> PairwiseRankingLoss | None:
    """The loss function for a strategy's ``ranker_objective``.

    None: no Ranker is trained (returns None); ``"margin"``: eq. 1
    (:func:`margin_ranking_loss` with this ``margin``); ``"bce"``: eq. 4 (:func:`bce_ranking_loss`).
    """
    if objective is None:
        return None
    if objective == "margin":
        return partial(margin_ranking_loss, margin=margin)
    if objective == "bce":
        return bce_ranking_loss
    raise ValueError(f"unknown Ranker objective {objective!r}; valid: None, {', '.join(map(repr, RANKER_OBJECTIVES))}")


def loss_prediction_mse(pred: Tensor, target: Tensor) -> Tensor:
    """The naive loss-prediction objective of sec. 3.2: mean squared error between the
    predicted and the true (detached) per-sample losses.

    Not used by any method; it is the baseline the ranking losses (eqs. 1 and 4) are
    compared with. Unlike them it depends on the *scale* of the targets (multiply the
    losses by ``c`` and it grows by ``c**2``) and on any shift of the predictions,
    while eqs. 1 and 4 depend only on the order of ``target`` and on differences of ``pred``.
    """
    pred = pred.reshape(-1)
    target = target.reshape(-1).detach()
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same length, got {pred.numel()} and {target.numel()}")
    return F.mse_loss(pred, target.to(pred.dtype))


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(q(z|x) || N(0, I))`` for a diagonal Gaussian, averaged over every element.

    The element mean (not the sum over latent dimensions) is the reduction of
    TA-VAAL's public code (VAAL's own code sums it over the batch and the latent
    dimensions); ``kl_weight`` (lambda in eq. 6) rescales it.
    """
    return -0.5 * torch.mean(1.0 + logvar - mu.pow(2) - logvar.exp())


def vae_loss(x: Tensor, recon: Tensor, mu: Tensor, logvar: Tensor, kl_weight: float = 1.0) -> Tensor:
    """One pool's term of **eq. 6**: ``-E[log p(x | z, r)] + lambda KL(q(z|x) || p(z))``.

    With a Gaussian decoder of fixed variance the negative log-likelihood is,
    up to constants, the mean squared reconstruction error, which is what is
    computed. The paper calls its model a "modified Wasserstein auto-encoder";
    the objective it writes (and the public code trains) is this VAE objective.
    """
    return F.mse_loss(recon, x) + kl_weight * kl_divergence(mu, logvar)


def conditional_vae_loss(
    labeled: tuple[Tensor, Tensor, Tensor, Tensor],
    unlabeled: tuple[Tensor, Tensor, Tensor, Tensor],
    kl_weight: float = 1.0,
) -> Tensor:
    """The conditional VAE objective of **eq. 6**, to be minimised.

    Each argument is ``(x, recon, mu, logvar)`` for one pool, where ``recon`` was
    decoded from ``(z, r)``; eq. 6 is the sum of the labeled and the unlabeled term.
    """
    return vae_loss(*labeled, kl_weight=kl_weight) + vae_loss(*unlabeled, kl_weight=kl_weight)


def vae_adversarial_loss(logits_labeled: Tensor, logits_unlabeled: Tensor) -> Tensor:
    """The VAE's adversarial loss, **eq. 7**: ``-E[log D(r_L, z_L)] - E[log D(r_U, z_U)]``.

    The encoder is pushed to make the discriminator say "labeled" (1) for both pools.
    Arguments are discriminator logits.
    """
    return F.binary_cross_entropy_with_logits(
        logits_labeled, torch.ones_like(logits_labeled)
    ) + F.binary_cross_entropy_with_logits(logits_unlabeled, torch.ones_like(logits_unlabeled))


def discriminator_loss(logits_labeled: Tensor, logits_unlabeled: Tensor) -> Tensor:
    """The discriminator's loss, **eq. 8**: ``-E[log D(r_L, z_L)] - E[log(1 - D(r_U, z_U))]``.

    Convention (stated once, used everywhere): labeled = 1, unlabeled = 0, so the
    selection of eq. 9 takes the candidates with the *lowest* ``D``.
    """
    return F.binary_cross_entropy_with_logits(
        logits_labeled, torch.ones_like(logits_labeled)
    ) + F.binary_cross_entropy_with_logits(logits_unlabeled, torch.zeros_like(logits_unlabeled))
