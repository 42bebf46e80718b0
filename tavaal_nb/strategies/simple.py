"""Baselines that need no extra model: random, predictive entropy, margin, Learning Loss (eq. 1 / eq. 4)."""

from __future__ import annotations

import torch

from tavaal_nb.strategies.base import QueryContext, Selection, Strategy, select_by_scores
from tavaal_nb.strategies.scores import entropy_scores, margin_scores

__all__ = ["RandomSampling", "EntropySampling", "MarginSampling", "LearningLoss", "LearningLossV2"]


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
        probabilities = torch.softmax(context.infer(context.candidates)["logits"], dim=1)
        return select_by_scores(context, entropy_scores(probabilities), "highest")


class MarginSampling(Strategy):
    name = "margin"
    help = "smallest gap between the task model's two most probable classes (Scheffer et al.)"

    def select(self, context: QueryContext) -> Selection:
        probabilities = torch.softmax(context.infer(context.candidates)["logits"], dim=1)
        return select_by_scores(context, margin_scores(probabilities), "lowest")


class LearningLoss(Strategy):
    name = "lloss"
    help = "Learning Loss (Yoo & Kweon): highest predicted loss, Ranker trained with the margin loss of eq. 1"
    ranker_objective = "margin"

    def select(self, context: QueryContext) -> Selection:
        return select_by_scores(context, context.infer(context.candidates)["rank"])


class LearningLossV2(LearningLoss):
    name = "lloss-v2"
    help = "Learning Loss with the RankCGAN BCE loss of eq. 4 (the paper's 'learning loss_v2' ablation)"
    ranker_objective = "bce"
