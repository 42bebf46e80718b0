"""Small measurements behind the course notebooks, usable on their own.

=====================================  ==============================================================
:class:`SelectionRecorder`             a loop callback keeping every query's :class:`Selection`
                                       (candidates, scores, ``D(mu, r)``): what eq. 9 is checked on
:class:`InterruptAfter`                a loop callback that interrupts a run at a known point (resume demos)
:func:`ranking_objectives`             the three loss-prediction objectives of sec. 3.2 / 4.2:
                                       MSE, eq. 1 (margin) and eq. 4 (RankCGAN BCE)
:func:`train_task_with_ranker`         a task model and its Ranker trained jointly with one objective (eq. 5)
:func:`compare_loss_predictors`        the same for several objectives, asked about held-out images
:func:`predicted_and_true_losses`      the Ranker's output and the true per-sample loss on labeled images
:func:`top_fraction_overlap`,          how well predicted losses pick the truly hardest images, and a figure
:func:`loss_prediction_figure`
:func:`random_selection_entropies`    class-count entropy of random selections: Fig. 6's baseline
:func:`to_uint8`, :func:`reconstruct`,  images out of the conditional VAE (eq. 6), for viewing
:func:`decode_with_r`, :func:`vae_history_figure`
:data:`PAPER_HEADLINES`,               the paper's headline accuracies, compared with results files
:func:`compare_with_paper`,
:func:`format_comparison`, :func:`find_results`
=====================================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from torch import Tensor

from tavaal_nb.config import Config
from tavaal_nb.data.augment import Augmenter
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.errors import NonFiniteLossError
from tavaal_nb.loop import Callback, make_augmenter
from tavaal_nb.losses import loss_prediction_mse, margin_ranking_loss, bce_ranking_loss
from tavaal_nb.models import ConditionalVAE
from tavaal_nb.results import Results, ResultsFileError, mean_std
from tavaal_nb.strategies.base import Selection
from tavaal_nb.strategies.vaal import transform_r
from tavaal_nb.training import TaskModel, build_task_model, infer, train_task_model

__all__ = [
    "SelectionRecorder",
    "InterruptAfter",
    "ranking_objectives",
    "train_task_with_ranker",
    "compare_loss_predictors",
    "predicted_and_true_losses",
    "top_fraction_overlap",
    "loss_prediction_figure",
    "random_selection_entropies",
    "to_uint8",
    "reconstruct",
    "decode_with_r",
    "vae_history_figure",
    "Headline",
    "PAPER_HEADLINES",
    "compare_with_paper",
    "format_comparison",
    "find_results",
]

RankLoss = Callable[[Tensor, Tensor], Tensor]


# ------------------------------------------------------------------------------------ the loop
class SelectionRecorder(Callback):
    """A :class:`~tavaal_nb.loop.Callback` that keeps what each query saw and chose.

    ``selections[(method, trial, cycle)]`` is the :class:`~tavaal_nb.strategies.Selection` of
    the query made at the end of that cycle (pool indices of the candidates, one score per
    candidate, ``D(mu, r)`` for VAAL and TA-VAAL, the chosen indices); ``records`` holds
    every cycle's record, as written to the results file. Results files keep the scores but
    not the candidate indices, so checks of the selection rule need this callback.
    """

    def __init__(self) -> None:
        self.selections: dict[tuple[str, int, int], Selection] = {}
        self.records: dict[tuple[str, int, int], dict] = {}

    def on_cycle_end(self, method: str, trial: int, record: dict, selection: Selection | None) -> None:
        key = (method, trial, int(record["cycle"]))
        self.records[key] = record
        if selection is not None:
            self.selections[key] = selection


class InterruptAfter(Callback):
    """A callback that stops a run with ``KeyboardInterrupt`` once ``cycles`` cycles have finished
    (counted over every method and trial): what Ctrl-C or a lost Colab session does, at a known
    point, to show (or test) that the results file keeps every finished cycle and ``--resume``
    continues from there."""

    def __init__(self, cycles: int = 1) -> None:
        if cycles < 1:
            raise ValueError(f"cycles must be at least 1, got {cycles}")
        self.cycles, self.finished = cycles, 0

    def on_cycle_end(self, method: str, trial: int, record: dict, selection: Selection | None) -> None:
        self.finished += 1
        if self.finished >= self.cycles:
            raise KeyboardInterrupt(f"interrupted after {self.finished} finished cycle(s), as asked")


# ---------------------------------------------------------------------- loss prediction (01)
def ranking_objectives(margin: float = 1.0) -> dict[str, RankLoss]:
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
        "eq. 1 (margin)": lambda pred, target: margin_ranking_loss(pred, target, margin=margin),
        "eq. 4 (BCE)": bce_ranking_loss,
    }


def train_task_with_ranker(
    config: Config,
    data: ImageData,
    labeled: Tensor,
    rank_loss: RankLoss | None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[TaskModel, list[float]]:
    """A freshly initialised task model (and, with ``rank_loss``, its Ranker) trained on the
    ``labeled`` pool indices exactly as one cycle of the loop trains it (eq. 5, ``config``'s
    epochs, optimiser and augmentation). ``seed`` fixes the initialisation, the batch order
    and the augmentation, so two objectives can be compared from the same start.

    Returns ``(task, per-epoch mean training loss)``; the model is in eval mode.
    """
    device = data.train_labels.device
    torch.manual_seed(seed)
    task = build_task_model(config, data, rank_loss is not None, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    history = train_task_model(task, data, labeled.to(device), config, make_augmenter(config, data), generator,
                               rank_loss, progress)
    return task, history


def compare_loss_predictors(
    config: Config,
    data: ImageData,
    labeled: Tensor,
    images: Tensor,
    labels: Tensor,
    objectives: Mapping[str, RankLoss] | None = None,
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
    objectives = ranking_objectives(config.margin) if objectives is None else objectives
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


def loss_prediction_figure(pairs: Mapping[str, tuple[Tensor, Tensor]], max_points: int = 2000) -> go.Figure:
    """One scatter per objective: predicted against true per-sample loss (log scale on the true
    loss), titled with Spearman's rank correlation; ``pairs`` maps a name to ``(predicted, true)``."""
    from plotly.subplots import make_subplots
    from scipy.stats import spearmanr

    names = list(pairs)
    titles = [f"{name}: Spearman {spearmanr(pairs[name][0], pairs[name][1]).statistic:.3f}" for name in names]
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=titles, horizontal_spacing=0.08)
    for column, name in enumerate(names, start=1):
        predicted, true = (torch.as_tensor(v).reshape(-1)[:max_points].tolist() for v in pairs[name])
        fig.add_trace(go.Scatter(x=true, y=predicted, mode="markers", name=name, marker={"size": 4, "opacity": 0.5},
                                 showlegend=False), row=1, col=column)
        fig.update_xaxes(type="log", title_text="true loss (cross-entropy)", row=1, col=column)
        fig.update_yaxes(title_text="predicted loss" if column == 1 else None, row=1, col=column)
    fig.update_layout(template="plotly_white", height=380,
                      title="Held-out images: what each loss predictor predicts against the true loss")
    return fig


# ---------------------------------------------------------------------- imbalanced pools (04)
def random_selection_entropies(labels: Tensor, size: int, draws: int = 20, seed: int = 0) -> list[float]:
    """Class-count entropies (nats) of ``draws`` uniform random selections of ``size`` images
    from a pool with these ``labels``: the baseline for the paper's Fig. 6. Random sampling
    mirrors the pool, so its selections' entropy sits near (slightly below) the pool's own."""
    from tavaal_nb.metrics import class_counts, class_entropy

    labels = torch.as_tensor(labels).reshape(-1).long().cpu()
    if not 0 < size <= labels.numel():
        raise ValueError(f"size must lie in 1..{labels.numel()} (the pool), got {size}")
    num_classes = int(labels.max()) + 1
    generator = torch.Generator().manual_seed(int(seed))
    return [class_entropy(class_counts(labels[torch.randperm(labels.numel(), generator=generator)[:size]], num_classes))
            for _ in range(draws)]


# --------------------------------------------------------------------- conditional VAE (02)
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


def vae_history_figure(history: Mapping[str, Sequence[float]], log_every: int, iterations: int | None = None) -> go.Figure:
    """The losses :func:`~tavaal_nb.strategies.vaal.train_adversarial` returns, against iterations:
    the terms of eq. 6 (reconstruction, KL), eq. 7 (adversarial) and eq. 8 (discriminator), each the
    mean over one block of ``log_every`` iterations (the last block ends at ``iterations``)."""
    labels = {"reconstruction": "reconstruction (MSE, eq. 6)", "kl": "KL to N(0, I) (eq. 6)",
              "adversarial": "VAE adversarial (eq. 7)", "discriminator": "discriminator (eq. 8)"}
    fig = go.Figure()
    for key, label in labels.items():
        values = list(history.get(key, []))
        if not values:
            continue
        x = [min((k + 1) * log_every, iterations or (k + 1) * log_every) for k in range(len(values))]
        fig.add_trace(go.Scatter(x=x, y=values, mode="lines+markers", name=label))
    fig.update_layout(template="plotly_white", xaxis_title="iteration", yaxis_title="mean loss over the block",
                      yaxis_type="log", title="Conditional VAE and discriminator: the loss terms during training")
    return fig


# --------------------------------------------------------------- the paper's numbers (06)
@dataclass(frozen=True)
class Headline:
    """One accuracy the paper states in its text (test accuracy in percent, mean of 5 trials).

    ``relation`` is ``"="`` for a stated mean and ``">"`` for "over ``value``"; ``comparable``
    is False when the paper measured it differently from a plain run (said in ``note``).
    """

    dataset: str
    method: str
    labeled: int
    relation: str
    value: float
    source: str
    comparable: bool = True
    note: str = ""


PAPER_HEADLINES: tuple[Headline, ...] = (
    Headline("cifar10", "tavaal", 10_000, "=", 90.32, "sec. 5.4: mean accuracy of 90.32% in the last stage (10k)"),
    Headline("cifar10", "tavaal", 4_000, ">", 80.0, "sec. 5.4: mean accuracy over 80% with only 4,000 labeled"),
    Headline("svhn", "tavaal", 10_000, "=", 92.27, "sec. 6.1: 92.27% in the last cycle", comparable=False,
             note="the paper retrained the task learner without its Ranker on the selected sets"),
)
"""The accuracies the paper's text states; its figures give the rest only as curves."""


def compare_with_paper(results: Sequence[Results], headlines: Sequence[Headline] = PAPER_HEADLINES) -> list[dict[str, Any]]:
    """One row per headline: the paper's number and ours (mean, sample std and count of trials
    at that dataset, method and labeled size, pooled over ``results``), or ``None`` where no
    run measured it. ``holds`` says whether ours meets a ``">"`` claim (None for ``"="``);
    ``difference`` is ours minus the paper's value."""
    pooled: dict[tuple[str, str, int], list[float]] = {}
    for result in results:
        name = result.dataset["name"]
        for method, curve in result.curves().items():
            for size, values in zip(curve["labeled_size"], curve["accuracy"]):
                pooled.setdefault((name, method, size), []).extend(v for v in values if v is not None)
    rows = []
    for headline in headlines:
        values = pooled.get((headline.dataset, headline.method, headline.labeled), [])
        mean, std = mean_std(values) if values else (None, None)
        holds = None
        if mean is not None and headline.relation == ">":
            holds = mean > headline.value
        rows.append({
            "dataset": headline.dataset, "method": headline.method, "labeled": headline.labeled,
            "paper": f"{'over ' if headline.relation == '>' else ''}{headline.value:.2f}",
            "ours_mean": mean, "ours_std": std, "trials": len(values),
            "difference": None if mean is None else mean - headline.value, "holds": holds,
            "comparable": headline.comparable, "source": headline.source, "note": headline.note,
        })
    return rows


def format_comparison(rows: Sequence[Mapping[str, Any]]) -> str:
    """:func:`compare_with_paper`'s rows as a plain-text table."""
    lines = [f"{'dataset':10}{'method':8}{'labeled':>8}{'paper':>12}{'ours':>18}  note"]
    for row in rows:
        if row["ours_mean"] is None:
            ours = "not run"
        else:
            ours = f"{row['ours_mean']:.2f} +- {row['ours_std']:.2f} ({row['trials']})"
        note = [] if row["holds"] is None else (["holds"] if row["holds"] else ["does not hold"])
        if not row["comparable"]:
            note.append(f"not comparable: {row['note']}")
        lines.append(f"{row['dataset']:10}{row['method']:8}{row['labeled']:>8,}{row['paper']:>12}{ours:>18}  "
                     + "; ".join(note))
    return "\n".join(lines)


def find_results(root: str | Path) -> list[Results]:
    """Every tavaal-nb results file under ``root`` (any ``*.json`` whose ``format`` is
    ``tavaal-nb/results``, searched recursively, in path order); other JSON files (a sweep's
    manifest, unrelated files) are skipped. A missing ``root`` gives an empty list."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*.json")):
        try:
            found.append(Results.load(path))
        except (ResultsFileError, OSError):
            continue
    return found
