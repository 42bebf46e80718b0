"""The computations behind the course notebooks that train or run models, usable on their own (the
numbers the figures and views show are computed in :mod:`tavaal_nb.analysis.figure_data` and drawn by
:mod:`tavaal_nb.analysis.plots` and :mod:`tavaal_nb.analysis.model_figures`; the loop callbacks the notebooks use,
:class:`~tavaal_nb.callbacks.SelectionRecorder` and :class:`~tavaal_nb.callbacks.InterruptAfter`, are in
:mod:`tavaal_nb.callbacks`).

=====================================  ==============================================================
:func:`ranking_objectives`             the three loss-prediction objectives of sec. 3.2 / 4.2:
                                       MSE, eq. 1 (margin) and eq. 4 (RankCGAN BCE)
:func:`train_task_with_ranker`         a task model and its Ranker trained jointly with one objective (eq. 5)
:func:`compare_loss_predictors`        the same for several objectives, asked about held-out images
:func:`predicted_and_true_losses`      the Ranker's output and the true per-sample loss on labeled images
:func:`top_fraction_overlap`          how well predicted losses pick the truly hardest images
:func:`random_selection_entropies`    class-count entropy of random selections: Fig. 6's baseline
:func:`to_uint8`, :func:`reconstruct`,  images out of the conditional VAE (eq. 6), for viewing
:func:`decode_with_r`
=====================================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from tavaal_nb.config import Config
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.errors import NonFiniteLossError
from tavaal_nb.experiment_data import make_augmenter
from tavaal_nb.losses import PairwiseRankingLoss, loss_prediction_mse, ranker_objective_loss
from tavaal_nb.metrics import class_counts, class_entropy
from tavaal_nb.models import ConditionalVAE
from tavaal_nb.strategies.vaal import transform_r
from tavaal_nb.training import TaskModel, build_task_model, infer, train_task_model

__all__ = [
    "ranking_objectives",
    "train_task_with_ranker",
    "compare_loss_predictors",
    "predicted_and_true_losses",
    "top_fraction_overlap",
    "random_selection_entropies",
    "to_uint8",
    "reconstruct",
    "decode_with_r",
]

# ---------------------------------------------------------------------- loss prediction (02)
def ranking_objectives(margin: float = 1.0) -> dict[str, PairwiseRankingLoss]:
    """The loss-prediction objectives the paper discusses, by name, each ``f(pred, target)``:

    * ``"MSE"``: regress the loss itself (sec. 3.2's naive choice, :func:`~tavaal_nb.losses.loss_prediction_mse`);
    * ``"MSE x 0.1"``: the same with a tenth of the weight (``eta = 0.1`` in eq. 5): MSE's gradient grows with
      the error, and at the task model's learning rate the unscaled one can diverge;
    * ``"eq. 1 (margin)"``: Learning Loss's margin ranking loss (:func:`~tavaal_nb.losses.margin_ranking_loss`);
    * ``"eq. 4 (BCE)"``: TA-VAAL's RankCGAN ranking loss (:func:`~tavaal_nb.losses.bce_ranking_loss`).
    """
    return {
        "MSE": loss_prediction_mse,
        "MSE x 0.1": lambda pred, target: 0.1 * loss_prediction_mse(pred, target),
        "eq. 1 (margin)": ranker_objective_loss("margin", margin),
        "eq. 4 (BCE)": ranker_objective_loss("bce"),
    }


def train_task_with_ranker(
    config: Config,
    data: ImageData,
    labeled: Tensor,
    ranker_criterion: PairwiseRankingLoss | None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[TaskModel, list[float]]:
    """A freshly initialised task model (and, with ``ranker_criterion``, its Ranker) trained on the
    ``labeled`` pool indices exactly as one cycle of the loop trains it (eq. 5, ``config``'s
    epochs, optimiser and augmentation). ``seed`` fixes the initialisation, the batch order
    and the augmentation, so two objectives can be compared from the same start.

    Returns ``(task, per-epoch mean training loss)``; the model is in eval mode.
    """
    device = data.train_labels.device
    torch.manual_seed(seed)
    task = build_task_model(config, data, ranker_criterion is not None, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    history = train_task_model(task, data, labeled.to(device), config, make_augmenter(config, data), generator,
                               ranker_criterion, progress)
    return task, history


def compare_loss_predictors(
    config: Config,
    data: ImageData,
    labeled: Tensor,
    images: Tensor,
    labels: Tensor,
    objectives: Mapping[str, PairwiseRankingLoss] | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """Train the task model and its Ranker once per objective (:func:`train_task_with_ranker`,
    same ``seed``: same initialisation and batches) and ask each Ranker about held-out ``images``
    with known ``labels``.

    Returns, per objective name (default :func:`ranking_objectives`), a dict with ``predicted`` and
    ``true`` per-sample losses (CPU tensors; None if training diverged), ``history`` (per-epoch mean
    training loss) and ``diverged`` (None, or the message of the
    :class:`~tavaal_nb.errors.NonFiniteLossError` that stopped it: a finding, not a crash).
    """
    objectives = ranking_objectives(config.ranker_margin) if objectives is None else objectives
    augmenter = make_augmenter(config, data)
    out: dict[str, dict[str, Any]] = {}
    for name, objective in objectives.items():
        entry: dict[str, Any] = {"predicted": None, "true": None, "history": [], "diverged": None}
        try:
            task, entry["history"] = train_task_with_ranker(config, data, labeled, objective, seed, progress)
        except NonFiniteLossError as error:
            entry["diverged"] = str(error).split(";")[0]
        else:
            entry["predicted"], entry["true"] = predicted_and_true_losses(task, images, labels, augmenter,
                                                                          config.eval_batch_size)
        out[name] = entry
    return out


@torch.no_grad()
def predicted_and_true_losses(task: TaskModel, images: Tensor, labels: Tensor, augmenter: Augmenter,
                              batch_size: int = 1024) -> tuple[Tensor, Tensor]:
    """``(predicted, true)`` per-sample losses on un-augmented uint8 ``images`` with known ``labels``:
    the Ranker's output and the task model's cross-entropy, float32 on the CPU.

    In active learning the labels of the unlabeled pool are unknown; a simulation knows them,
    which is how the quality of a loss predictor is measured (e.g. Spearman's rank correlation).
    """
    if task.ranker is None:
        raise ValueError("this task model has no Ranker: train it with a ranking loss")
    out = infer(task, images, augmenter, batch_size)
    true = F.cross_entropy(out["logits"], labels.to(out["logits"].device).long(), reduction="none")
    return out["rank"].cpu(), true.cpu()


def top_fraction_overlap(predicted: Tensor, true: Tensor, fraction: float = 0.1) -> float:
    """Share of the ``fraction`` of samples with the highest *true* loss that are also among the
    ``fraction`` with the highest *predicted* loss: what a top-``b`` selection by predicted loss
    (Learning Loss) gets right. 1.0 is perfect; a random predictor scores ``fraction`` on average."""
    predicted, true = torch.as_tensor(predicted).reshape(-1), torch.as_tensor(true).reshape(-1)
    if predicted.numel() != true.numel() or predicted.numel() == 0:
        raise ValueError(f"predicted and true must be non-empty and of one length, got {predicted.numel()} and {true.numel()}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    k = max(1, round(fraction * predicted.numel()))
    top_true = set(torch.argsort(true, descending=True, stable=True)[:k].tolist())
    top_pred = set(torch.argsort(predicted, descending=True, stable=True)[:k].tolist())
    return len(top_true & top_pred) / k


# ---------------------------------------------------------------------- imbalanced pools (05)
def random_selection_entropies(labels: Tensor, size: int, draws: int = 20, seed: int = 0) -> list[float]:
    """Class-count entropies (nats) of ``draws`` uniform random selections of ``size`` images
    from a pool with these ``labels``: the baseline for the paper's Fig. 6. Random sampling
    mirrors the pool, so its selections' entropy sits near (slightly below) the pool's own."""
    labels = torch.as_tensor(labels).reshape(-1).long().cpu()
    if not 0 < size <= labels.numel():
        raise ValueError(f"size must lie in 1..{labels.numel()} (the pool), got {size}")
    num_classes = int(labels.max()) + 1
    generator = torch.Generator().manual_seed(int(seed))
    return [class_entropy(class_counts(labels[torch.randperm(labels.numel(), generator=generator)[:size]], num_classes))
            for _ in range(draws)]


# --------------------------------------------------------------------- conditional VAE (03)
def to_uint8(x: Tensor, augmenter: Augmenter) -> Tensor:
    """Undo the normalisation of a float batch ``(B, C, H, W)``: uint8 pixels for viewing."""
    mean, std = augmenter.mean.to(x.device), augmenter.std.to(x.device)
    pixels = (x.float() * std + mean) * 255.0
    return pixels.round().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def reconstruct(vae: ConditionalVAE, images: Tensor, r: Tensor | None, augmenter: Augmenter,
                decoder_r: str = "sigmoid") -> Tensor:
    """The VAE's reconstructions of uint8 ``images``: decoded from the encoder mean ``mu`` (no
    sampling) and, for a conditional VAE, the raw Ranker outputs ``r`` transformed as in training
    (``decoder_r``: ``sigmoid`` or ``raw``). Returns uint8 images of the same shape."""
    vae.eval()
    mu, _ = vae.encode(augmenter(images))
    return to_uint8(vae.decode(mu, transform_r(r, decoder_r) if r is not None else None), augmenter)


@torch.no_grad()
def decode_with_r(vae: ConditionalVAE, images: Tensor, r_values: Sequence[float], augmenter: Augmenter,
                  decoder_r: str = "sigmoid") -> Tensor:
    """Decode each image's encoder mean with the rank variable set to every value of ``r_values``
    (raw Ranker units, transformed by ``decoder_r`` as in training), all else fixed.

    Returns uint8 ``(len(r_values), N, C, H, W)``: row ``k`` is every image decoded with
    ``r = r_values[k]``. This isolates what the decoder does with ``r`` (eq. 6's ``p(x | z, r)``).
    """
    if vae.r_dim != 1:
        raise ValueError("decode_with_r needs a VAE conditioned on one rank variable (r_dim=1)")
    vae.eval()
    mu, _ = vae.encode(augmenter(images))
    rows = []
    for value in r_values:
        r = torch.full((mu.shape[0],), float(value), device=mu.device)
        rows.append(to_uint8(vae.decode(mu, transform_r(r, decoder_r)), augmenter))
    return torch.stack(rows)
