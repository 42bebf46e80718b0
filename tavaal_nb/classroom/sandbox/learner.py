"""The sandbox's task model: a small MLP with a loss-prediction head, trained full-batch in milliseconds.

The head plays Learning Loss's loss prediction module (the Ranker of the paper): it reads the MLP's
two hidden layers and is trained with the margin ranking loss of **eq. 1** on the labeled points'
(detached) cross-entropy losses, beside the cross-entropy of the classifier (eq. 5 with eta = 1).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tavaal_nb.losses import margin_ranking_loss

__all__ = ["SandboxMLP", "adam", "single_thread", "train_mlp", "mc_dropout_probabilities"]


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block, then restore the setting.

    The sandbox's matrices are tiny: a second thread only adds synchronisation, and on a busy
    CPU its spin-waiting makes a 40 x 32 matrix product some 30 times slower (measured: 13 us of
    CPU with one thread, 670 us with two, on a loaded 2-core machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class SandboxMLP(nn.Module):
    """``2 -> hidden -> hidden -> classes`` with ReLUs, plus a loss-prediction head on both hidden layers.

    ``forward`` returns ``(logits, embedding, predicted_loss)``; ``embedding`` is the last hidden
    layer (what core-set measures distances in). ``dropout`` > 0 drops each hidden unit with that
    probability in training mode (after each ReLU), which :func:`mc_dropout_probabilities` keeps on
    at prediction time; 0 (the default) adds no dropout at all.
    """

    def __init__(self, num_classes: int, hidden: int = 32, in_features: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout}")
        self.dropout = dropout
        self.first = nn.Linear(in_features, hidden)
        self.second = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, num_classes)
        self.loss_head = nn.Sequential(nn.Linear(2 * hidden, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h1 = self._drop(torch.relu(self.first(x)))
        h2 = torch.relu(self.second(h1))
        # The head sees detached features: ranking the losses never reshapes the classifier.
        predicted_loss = self.loss_head(torch.cat([h1, h2], dim=1).detach()).reshape(-1)
        return self.classifier(self._drop(h2)), h2, predicted_loss

    def _drop(self, h: Tensor) -> Tensor:
        return F.dropout(h, self.dropout, training=self.training) if self.dropout > 0 else h


def adam(parameters, lr: float) -> torch.optim.Adam:
    """Adam, fused into one kernel where this torch offers that on the CPU (>= 2.4): a toy step is
    mostly per-operation overhead, so fusing roughly halves it."""
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # an older torch: no fused Adam on the CPU
        return torch.optim.Adam(parameters, lr=lr)


def train_mlp(x: Tensor, y: Tensor, num_classes: int, steps: int = 100, lr: float = 0.03, hidden: int = 32,
              train_loss_head: bool = False, margin: float = 1.0, seed: int = 0, dropout: float = 0.0) -> SandboxMLP:
    """Train a fresh :class:`SandboxMLP` on ``(x, y)`` with full-batch Adam for ``steps`` steps.

    Objective: mean cross-entropy; with ``train_loss_head``, plus eq. 1 (``margin``) between the
    head's predictions and the per-point losses, on a new random pairing every step (the largest
    even subset; none for a single point). ``dropout``: see :class:`SandboxMLP`. Returns the model
    in eval mode. Deterministic for a seed (the dropout masks included).
    """
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(f"need points x of shape (n, d) with n >= 1 and labels y of shape (n,), "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SandboxMLP(num_classes, hidden, x.shape[1], dropout)
        with single_thread():  # dropout's masks come from the seeded stream too
            _fit(model, x, y, steps, lr, train_loss_head, margin, generator)
    return model.eval()


@torch.no_grad()
def mc_dropout_probabilities(model: SandboxMLP, x: Tensor, samples: int = 20, seed: int = 0) -> Tensor:
    """MC dropout (Gal & Ghahramani, 2016): ``samples`` softmax predictions of ``model`` on ``x``, each
    with a fresh dropout mask, shape ``(samples, n, classes)``; what BALD (Gal et al., 2017) scores.

    Deterministic for a seed; the model is left in eval mode and the global random stream untouched.
    """
    if model.dropout <= 0:
        raise ValueError("MC dropout needs a model with dropout: train it with train_mlp(..., dropout=0.2), "
                         f"got dropout={model.dropout}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    with torch.random.fork_rng(devices=[]), single_thread():
        torch.manual_seed(seed)
        model.train()
        try:
            return torch.stack([torch.softmax(model(x)[0], dim=1) for _ in range(samples)])
        finally:
            model.eval()


def _fit(model: SandboxMLP, x: Tensor, y: Tensor, steps: int, lr: float, train_loss_head: bool, margin: float,
         generator: torch.Generator) -> None:
    optimizer = adam(model.parameters(), lr)
    even = x.shape[0] - x.shape[0] % 2 if train_loss_head else 0
    model.train()
    for _ in range(steps):
        logits, _, predicted = model(x)
        losses = F.cross_entropy(logits, y, reduction="none")
        loss = losses.mean()
        if even:
            pairs = torch.randperm(x.shape[0], generator=generator)[:even]
            loss = loss + margin_ranking_loss(predicted[pairs], losses[pairs], margin=margin)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
