"""Core-set selection (Sener & Savarese, 2018): k-center greedy on the task model's embeddings."""

from __future__ import annotations

import torch
from torch import Tensor

from tavaal_nb.strategies.base import QueryContext, Selection, Strategy

__all__ = ["CoreSet", "k_center_greedy"]


def k_center_greedy(labeled: Tensor, candidates: Tensor, k: int, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Greedy k-center: repeatedly take the candidate farthest from everything chosen so far.

    Returns ``(positions, initial_distance)``: the chosen candidate positions in pick
    order and each candidate's distance to the nearest labeled point before any pick.
    """
    k = min(k, candidates.shape[0])
    nearest = torch.full((candidates.shape[0],), float("inf"), device=candidates.device)
    blocks = labeled.split(chunk) if labeled.shape[0] else ()  # none labeled: every distance stays infinite
    for block in blocks:
        nearest = torch.minimum(nearest, torch.cdist(candidates, block).min(dim=1).values)
    initial = nearest.clone()
    picks = torch.empty(k, dtype=torch.long, device=candidates.device)
    for step in range(k):  # stays on the device: argmax and the update are device ops
        choice = torch.argmax(nearest)
        picks[step] = choice
        nearest = torch.minimum(nearest, torch.cdist(candidates, candidates[choice][None]).reshape(-1))
        nearest[choice] = -1.0
    return picks, initial


class CoreSet(Strategy):
    name = "coreset"
    help = "k-center greedy on the task model's penultimate embeddings (Sener & Savarese)"

    def select(self, context: QueryContext) -> Selection:
        # Picks in greedy order, not by a score, so select_by_scores does not apply;
        # the scores reported are each candidate's distance to the labeled set.
        labeled = context.infer(context.labeled)["embedding"]
        candidates = context.infer(context.candidates)["embedding"]
        positions, distance = k_center_greedy(labeled, candidates, context.budget)
        return Selection(
            indices=context.candidates[positions].cpu(),
            scores=distance.float().cpu(),
            candidates=context.candidates.cpu(),
        )
