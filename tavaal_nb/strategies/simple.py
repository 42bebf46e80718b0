"""Baselines that need no extra model: random, predictive entropy, Learning Loss (eq. 1 / eq. 4)."""

from __future__ import annotations

import torch

from tavaal_nb.strategies.base import QueryContext, Selection, Strategy, select_by_scores
from tavaal_nb.training import infer

__all__ = ["RandomSampling", "EntropySampling", "LearningLoss", "LearningLossV2"]


class RandomSampling(Strategy):
    name = "random"
    help = "uniform random picks among the candidates, without replacement"

    def select(self, context: QueryContext) -> Selection:
        # A random priority per candidate; the highest ``budget`` win, so no index repeats.
        return select_by_scores(context, torch.rand(context.candidates.numel(), generator=context.generator))


class EntropySampling(Strategy):
    name = "entropy"
    help = "highest predictive entropy of the task model's softmax"

    def select(self, context: QueryContext) -> Selection:
        logits = infer(context.task, context.data.train_images[context.candidates], context.augmenter,
                       context.config.eval_batch_size, context.runtime)["logits"]
        log_p = torch.log_softmax(logits, dim=1)
        return select_by_scores(context, -(log_p.exp() * log_p).sum(dim=1))


class LearningLoss(Strategy):
    name = "lloss"
    help = "Learning Loss (Yoo & Kweon): highest predicted loss, Ranker trained with the margin loss of eq. 1"
    ranker_objective = "margin"

    def select(self, context: QueryContext) -> Selection:
        predicted_loss = infer(context.task, context.data.train_images[context.candidates], context.augmenter,
                               context.config.eval_batch_size, context.runtime)["rank"]
        return select_by_scores(context, predicted_loss)


class LearningLossV2(LearningLoss):
    name = "lloss-v2"
    help = "Learning Loss with the RankCGAN BCE loss of eq. 4 (the paper's 'learning loss_v2' ablation)"
    ranker_objective = "bce"
