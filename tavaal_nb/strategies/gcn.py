"""Sequential GCN for active learning (Caramalau, Bhattarai & Kim, CVPR 2021): UncertainGCN and CoreGCN.

A graph joins the labeled set and the candidates (nodes: the frozen task model's
embeddings; edges: their cosine affinities, :func:`tavaal_nb.models.gcn.affinity_adjacency`).
A GCN is trained to tell labeled (1) from unlabeled (0) nodes with

    L = -1/N_L sum_{i in L} log s_i  -  lambda / N_U sum_{j in U} log(1 - s_j),

``s = sigmoid(GCN output)``. UncertainGCN labels the candidates whose confidence ``s``
is closest to the margin ``s_margin``; CoreGCN runs k-center greedy on the GCN's
hidden features, the labeled nodes being the centres already chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tavaal_nb.models.gcn import SequentialGCN, affinity_adjacency
from tavaal_nb.strategies.base import QueryContext, Selection, Strategy, select_by_scores
from tavaal_nb.strategies.coreset import k_center_greedy

__all__ = ["GCNSettings", "GCNOutput", "gcn_loss", "train_gcn", "GCNStrategy", "UncertainGCN", "CoreGCN"]


@dataclass(frozen=True)
class GCNSettings:
    """The GCN's hyper-parameters, each the value the public TA-VAAL code fixes
    (``hidden_units=128``, ``dropout_rate=0.3``, ``LR_GCN=1e-3``, ``WDECAY=5e-4``,
    ``lambda_loss=1.2``, ``s_margin=0.1``, 200 full-graph Adam steps)."""

    hidden: int = 128
    dropout: float = 0.3
    lr: float = 1e-3
    weight_decay: float = 5e-4
    unlabeled_weight: float = 1.2  # lambda of the loss above
    margin: float = 0.1  # s_margin of UncertainGCN
    epochs: int = 200


@dataclass
class GCNOutput:
    """A trained GCN's view of the graph: per-node ``confidence`` (probability of labeled)
    and ``hidden`` features (eval mode), and the training loss of every epoch."""

    confidence: Tensor
    hidden: Tensor
    loss_history: list[float]


def gcn_loss(logits: Tensor, labeled_mask: Tensor, unlabeled_weight: float) -> Tensor:
    """Sequential GCN's binary loss: ``-mean log s`` over labeled nodes ``- lambda mean log(1 - s)``
    over unlabeled ones, on logits (``s = sigmoid(logits)``)."""
    labeled = logits[labeled_mask]
    unlabeled = logits[~labeled_mask]
    return (F.binary_cross_entropy_with_logits(labeled, torch.ones_like(labeled))
            + unlabeled_weight * F.binary_cross_entropy_with_logits(unlabeled, torch.zeros_like(unlabeled)))


def train_gcn(embeddings: Tensor, labeled_mask: Tensor, settings: GCNSettings = GCNSettings()) -> GCNOutput:
    """Train a fresh :class:`SequentialGCN` on the graph of ``embeddings`` (one row per node)
    to predict ``labeled_mask``; full-graph Adam steps. Uses the global RNG (initialisation,
    dropout): :class:`GCNStrategy` seeds it from the query's generator."""
    if labeled_mask.dtype != torch.bool or labeled_mask.shape != embeddings.shape[:1]:
        raise ValueError("labeled_mask must be a bool tensor with one entry per node")
    if labeled_mask.all() or not labeled_mask.any():
        raise ValueError("the graph needs labeled and unlabeled nodes")
    features = F.normalize(embeddings.float(), dim=1)
    adjacency = affinity_adjacency(features)
    model = SequentialGCN(features.shape[1], settings.hidden, settings.dropout).to(features.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    losses = []
    model.train()
    for _ in range(settings.epochs):
        logits, _ = model(features, adjacency)
        loss = gcn_loss(logits, labeled_mask, settings.unlabeled_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    model.eval()
    with torch.no_grad():
        logits, hidden = model(features, adjacency)
    return GCNOutput(torch.sigmoid(logits), hidden, torch.stack(losses).tolist() if losses else [])


class GCNStrategy(Strategy):
    """What UncertainGCN and CoreGCN share: no Ranker, the GCN's settings, the trained graph."""

    ranker_objective = None
    settings = GCNSettings()

    def trained_graph(self, context: QueryContext) -> GCNOutput:
        """Train the GCN on the candidates (the first nodes) and the labeled set (after them).

        Its initialisation and dropout come from a seed drawn from ``context.generator`` (as BADGE's
        draws do), under a forked global RNG: the same context gives the same graph whatever the
        global RNG's state, and the global RNG is left as it was."""
        nodes = torch.cat([context.candidates, context.labeled])
        embeddings = context.infer(nodes)["embedding"]
        labeled_mask = torch.zeros(nodes.numel(), dtype=torch.bool, device=embeddings.device)
        labeled_mask[context.candidates.numel():] = True
        seed = int(torch.randint(0, 2**62, (1,), generator=context.generator))
        devices = [embeddings.device] if embeddings.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return train_gcn(embeddings, labeled_mask, self.settings)


class UncertainGCN(GCNStrategy):
    """UncertainGCN: the candidates whose GCN confidence is nearest ``s_margin`` (lowest ``|s - s_margin|``)."""

    name = "uncertaingcn"
    help = "UncertainGCN (Caramalau et al.): GCN labeled-vs-unlabeled confidence nearest the margin 0.1"

    def select(self, context: QueryContext) -> Selection:
        output = self.trained_graph(context)
        confidence = output.confidence[: context.candidates.numel()]
        return select_by_scores(context, (confidence - self.settings.margin).abs(), "lowest",
                                extras={"gcn_confidence": confidence.cpu(), "gcn_loss": output.loss_history})


class CoreGCN(GCNStrategy):
    """CoreGCN: k-center greedy on the GCN's hidden features, the labeled nodes as the first centres.

    (The method's paper runs it on the GCN's features, as here; the public TA-VAAL code
    passes the task model's embeddings to k-center greedy instead.)
    """

    name = "coregcn"
    help = "CoreGCN (Caramalau et al.): k-center greedy on the features of a labeled-vs-unlabeled GCN"

    def select(self, context: QueryContext) -> Selection:
        output = self.trained_graph(context)
        count = context.candidates.numel()
        positions, distance = k_center_greedy(output.hidden[count:], output.hidden[:count], context.budget)
        return Selection(
            indices=context.candidates[positions].cpu(),
            scores=distance.float().cpu(),
            candidates=context.candidates.cpu(),
            extras={"gcn_confidence": output.confidence[:count].cpu(), "gcn_loss": output.loss_history},
        )
