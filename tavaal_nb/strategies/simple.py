"""Baselines that need no extra model: random, predictive entropy, Learning Loss (eq. 1 / eq. 4)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from tavaal_nb.strategies.base import QueryContext, Strategy
from tavaal_nb.training import infer

__all__ = ["RandomSampling", "EntropySampling", "LearningLoss", "LearningLossV2"]


class RandomSampling(Strategy):
    name = "random"
    help = "uniform random picks among the candidates, without replacement"

    def score(self, context: QueryContext) -> tuple[Tensor, dict[str, Any]]:
        # A random priority per candidate; the highest ``budget`` win, so no index repeats.
        return torch.rand(context.candidates.numel(), generator=context.generator), {}


class EntropySampling(Strategy):
    name = "entropy"
    help = "highest predictive entropy of the task model's softmax"

    def score(self, context: QueryContext) -> tuple[Tensor, dict[str, Any]]:
        logits = infer(context.task, context.data.train_images[context.candidates], context.augmenter,
                       context.config.eval_batch_size, context.runtime)["logits"]
        log_p = torch.log_softmax(logits, dim=1)
        return -(log_p.exp() * log_p).sum(dim=1), {}


class LearningLoss(Strategy):
    name = "lloss"
    help = "Learning Loss (Yoo & Kweon): highest predicted loss, Ranker trained with the margin loss of eq. 1"
    rank_loss = "margin"

    def score(self, context: QueryContext) -> tuple[Tensor, dict[str, Any]]:
        rank = infer(context.task, context.data.train_images[context.candidates], context.augmenter,
                     context.config.eval_batch_size, context.runtime)["rank"]
        return rank, {}


class LearningLossV2(LearningLoss):
    name = "lloss-v2"
    help = "Learning Loss with the RankCGAN BCE loss of eq. 4 (the paper's 'learning loss_v2' ablation)"
    rank_loss = "bce"
