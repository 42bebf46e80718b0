"""Plotly figure builders: the paper's figures and the course's pictures, shared by the report,
the widgets and the notebooks.

Each function takes results (see :func:`tavaal_nb.results.load_results`) or plain numbers and
returns a ``plotly.graph_objects.Figure``; nothing here needs Jupyter. What the figures show is
computed in :mod:`tavaal_nb.analysis.figure_data`; results are grouped and pooled by :mod:`tavaal_nb.analysis.grouping`.
Every method's colour comes from :func:`method_color`.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from scipy.stats import spearmanr
from torch import Tensor

from tavaal_nb.analysis.figure_data import histogram_counts, image_grid, ranking_loss_curves, ranking_loss_values
from tavaal_nb.analysis.stats import PairedComparison, entropy_by_size, learning_curve_stats, mean_std
from tavaal_nb.markup import plotly_safe, text
from tavaal_nb.metrics import class_entropy
from tavaal_nb.results import Results
from tavaal_nb.schema import NUMBER_OR_NULL
from tavaal_nb.strategies import BUILTIN_METHODS
from tavaal_nb.strategies.vaal import SELECTION_THRESHOLD, discriminator_scores
from tavaal_nb.upper_bound import UpperBound

__all__ = ["SMOKE_TEST_NOTE", "mark_smoke_test", "trials_in", "entropy_readings_figure", "PALETTE", "method_color", "learning_curves_figure", "class_entropy_figure",
           "discriminator_histogram_figure", "ranking_loss_figure", "imbalance_figure", "latent_figure", "latent_classes_figure",
           "image_grid_figure", "dashboard_figure", "loss_prediction_figure", "vae_history_figure",
           "paired_difference_figure"]

PALETTE = (
    "#7f7f7f", "#1f77b4", "#17becf", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d",
)
"""Method colours: the built-in methods take the first ones in registration order, any other
method one of the rest."""


SMOKE_TEST_NOTE = ("SMOKE TEST (ci preset): a few images, an epoch or two, to exercise the code; "
                   "these numbers mean nothing")
"""What a figure drawn from a ``ci``-preset run says on its face (the course's site and tests run at ``ci``)."""


def _escaped(build: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """A figure function whose figures show names escaped for plotly (:func:`tavaal_nb.markup.plotly_safe`)."""
    @functools.wraps(build)
    def escaped(*args: Any, **kwargs: Any) -> go.Figure:
        return plotly_safe(build(*args, **kwargs))
    return escaped


def mark_smoke_test(fig: go.Figure, results: Results | Sequence[Results]) -> go.Figure:
    """``fig`` with :data:`SMOKE_TEST_NOTE` across its top when any of ``results`` ran at the ``ci`` preset
    (the title gains a "SMOKE TEST" prefix); unchanged otherwise. Marking twice adds nothing."""
    members = [results] if isinstance(results, Results) else list(results)
    if not any(member.config.get("preset") == "ci" for member in members):
        return fig
    if any(annotation.name == "smoke-test" for annotation in fig.layout.annotations):
        return fig
    title = fig.layout.title.text or ""
    fig.update_layout(title_text="SMOKE TEST (ci preset): " + title if title else "SMOKE TEST (ci preset)",
                      margin_t=max(fig.layout.margin.t or 0, 100))
    fig.add_annotation(name="smoke-test", text=SMOKE_TEST_NOTE, xref="paper", yref="paper", x=0.5, y=1.0,
                       yanchor="bottom", yshift=6, showarrow=False, font={"color": "#b00020", "size": 13},
                       bgcolor="rgba(255,235,238,0.9)", bordercolor="#b00020", borderwidth=1)
    return fig


def trials_in(results: Sequence[Results]) -> int:
    """The largest number of trials with a recorded accuracy at any labeled size of any method."""
    stats = learning_curve_stats(results)
    return max((len([v for v in values if v is not None]) for entry in stats.values() for values in entry["values"]),
               default=0)


def method_color(method: str) -> str:
    """The colour of ``method`` in every figure: fixed for the built-ins (their place in
    :data:`~tavaal_nb.strategies.BUILTIN_METHODS`), and for any other name a palette colour
    chosen by a hash of the name, so it is the same in every process and every figure."""
    if method in BUILTIN_METHODS:
        return PALETTE[BUILTIN_METHODS.index(method) % len(PALETTE)]
    spare = PALETTE[len(BUILTIN_METHODS):] or PALETTE
    return spare[zlib.crc32(method.encode()) % len(spare)]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


@_escaped
def learning_curves_figure(results: Sequence[Results], methods: Sequence[str] | None = None,
                           title: str = "Test accuracy against labeled-set size",
                           upper_bound: UpperBound | None = None, plain: bool = True) -> go.Figure:
    """Paper Figs. 2-5: mean accuracy per method with a +-1 std band over trials.

    The title says what the curves are: "mean +- 1 std over N trials", or "1 trial: no spread" (no band is
    drawn for a method with one trial); a ``ci``-preset run is marked a smoke test (:func:`mark_smoke_test`).

    With ``plain`` (the default), a method whose runs recorded ``plain_test_accuracy``
    (``Config.retrain_plain``: Fig. 4's task model retrained without the Ranker) also gets a
    dashed "<method> (plain)" curve of its means. ``upper_bound`` (the whole pool labeled:
    :mod:`tavaal_nb.upper_bound`) is drawn as a horizontal dashed line at its mean accuracy.
    """
    stats = learning_curve_stats(results)
    plain_stats = learning_curve_stats(results, "plain_test_accuracy") if plain else {}
    fig = go.Figure()
    for method, entry in stats.items():
        if methods is not None and method not in methods:
            continue
        color = method_color(method)
        x = entry["labeled_size"]
        if max((len([v for v in values if v is not None]) for values in entry["values"]), default=0) > 1:
            upper = [m + s for m, s in zip(entry["mean"], entry["std"])]
            lower = [m - s for m, s in zip(entry["mean"], entry["std"])]
            fig.add_trace(go.Scatter(x=x + x[::-1], y=upper + lower[::-1], mode="lines", fill="toself",
                                     fillcolor=_rgba(color, 0.18),
                                     line={"width": 0}, hoverinfo="skip", showlegend=False, legendgroup=method,
                                     name=f"{method} +-1 std"))
        hover = [", ".join("n/a" if v is None else f"{v:.2f}" for v in values) for values in entry["values"]]
        fig.add_trace(go.Scatter(x=x, y=entry["mean"], mode="lines+markers", name=method, legendgroup=method,
                                 line={"color": color}, customdata=hover,
                                 hovertemplate="%{x} labeled: %{y:.2f}%<br>trials: %{customdata}<extra>" + text(method) + "</extra>"))
        if method in plain_stats:
            retrained = plain_stats[method]
            hover = [", ".join(f"{v:.2f}" for v in values) for values in retrained["values"]]
            name = f"{method} (plain)"
            fig.add_trace(go.Scatter(x=retrained["labeled_size"], y=retrained["mean"], mode="lines+markers", name=name,
                                     legendgroup=method, line={"color": color, "dash": "dash"},
                                     marker={"symbol": "circle-open"}, customdata=hover,
                                     hovertemplate="%{x} labeled: %{y:.2f}%<br>trials: %{customdata}<extra>" + text(name)
                                     + "</extra>"))
    if upper_bound is not None:
        fig.add_hline(y=upper_bound.test_accuracy, line={"dash": "dash", "color": "#444444"},
                      annotation_text=f"full pool ({upper_bound.train_size:,} images)",
                      annotation_position="bottom right")
    trials = trials_in(results)
    spread = "1 trial: no spread" if trials <= 1 else f"mean +- 1 std over {trials} trials"
    fig.update_layout(title=f"{title} ({spread})", xaxis_title="labeled images", yaxis_title="test accuracy (%)",
                      template="plotly_white", legend_title="method")
    return mark_smoke_test(fig, results)


@_escaped
def class_entropy_figure(results: Results, reference: float | None = None,
                         title: str = "Class-count entropy of the selected samples") -> go.Figure:
    """Paper Fig. 6: per cycle and method, the entropy of the selected samples' class counts
    (mean over trials as the bar, std as the error bar); the dataset's own entropy as a line."""
    fig = go.Figure()
    for method in results.methods:
        by_size = entropy_by_size(results, method, "selected")
        sizes = sorted(by_size)
        pairs = [mean_std(by_size[s]) for s in sizes]
        fig.add_trace(go.Bar(x=[str(s) for s in sizes], y=[p[0] for p in pairs], name=method,
                             marker_color=method_color(method),
                             error_y={"type": "data", "array": [p[1] for p in pairs], "visible": True}))
    if reference is None:
        reference = class_entropy(results.dataset["class_counts"])
    fig.add_hline(y=reference, line_dash="dash", line_color="black",
                  annotation_text=f"dataset entropy {reference:.3f}", annotation_position="top left")
    fig.update_layout(barmode="group", title=title, xaxis_title="labeled images after the query",
                      yaxis_title="entropy of class counts (nats)", template="plotly_white")
    return mark_smoke_test(fig, results)


@_escaped
def discriminator_histogram_figure(results: Results, cycle: int, methods: Sequence[str] | None = None,
                                   trial: int = 0, bins: int = 40,
                                   title: str | None = None, binned: bool = False,
                                   value_range: tuple[float, float] = (0.0, 1.0)) -> go.Figure:
    """Paper Fig. 7: histogram of ``D(mu, r)`` over the candidates at one cycle, with the
    selection threshold (the largest ``D`` that was still selected) marked.

    ``binned=True`` counts in Python (:func:`histogram_counts`) and draws bars, so the
    figure carries the counts themselves (what the widget uses); otherwise plotly.js bins
    the raw scores. Both use ``bins`` equal bins over ``value_range`` (default [0, 1]; a
    narrower range zooms in on scores that bunch up)."""
    low, high = value_range
    width = (high - low) / bins
    fig = go.Figure()
    drawn = 0
    for run in results.runs:
        if run["trial"] != trial or (methods is not None and run["method"] not in methods):
            continue
        scores = discriminator_scores(run["cycles"][cycle]) if cycle < len(run["cycles"]) else None
        if scores is None:  # the VAAL family's: D(mu, r) per candidate, and its threshold
            continue
        threshold = run["cycles"][cycle]["strategy_data"].get(SELECTION_THRESHOLD)
        color = method_color(run["method"])
        if binned:
            counts = histogram_counts(scores, bins, low, high)
            fig.add_trace(go.Bar(x=[low + (k + 0.5) * width for k in range(bins)], y=counts, width=width,
                                 name=run["method"], marker_color=color, opacity=0.6,
                                 hovertemplate="D in [%{customdata}): %{y} candidates<extra>" + text(run["method"]) + "</extra>",
                                 customdata=[f"{low + k * width:.4f}, {low + (k + 1) * width:.4f}" for k in range(bins)]))
        else:
            fig.add_trace(go.Histogram(x=scores, name=run["method"], marker_color=color,
                                       opacity=0.6, xbins={"start": low, "end": high, "size": width}))
        if NUMBER_OR_NULL.check(threshold) and threshold is not None:
            # labels of several methods' lines alternate sides and heights so they do not overprint
            fig.add_vline(x=threshold, line_dash="dot", line_color=color,
                          annotation_text=f"{run['method']} threshold",
                          annotation_position="top right" if drawn % 2 == 0 else "bottom left",
                          annotation_font_color=color)
        drawn += 1
    fig.update_layout(barmode="overlay", template="plotly_white", xaxis_title="D(mu, r) (1 = looks labeled)",
                      yaxis_title="candidates", xaxis_range=[low, high],
                      title=title or f"Discriminator outputs on the candidates, cycle {cycle}")
    return mark_smoke_test(fig, results)


@_escaped
def ranking_loss_figure(pred_i: float, pred_j: float, i_greater: bool, margin: float = 1.0,
                        gap_range: float = 4.0, points: int = 161, curves: dict | None = None) -> go.Figure:
    """Eqs. 1 and 4 and their gradients as functions of the gap ``pred_i - pred_j`` (both losses
    depend on the predictions only through it), with the current pair marked.

    Left: the losses; right: ``d loss / d pred_i`` (``d / d pred_j`` is its negative).
    ``curves`` may pass precomputed curves (they only change with the order and margin).
    """
    gaps = [-gap_range + 2 * gap_range * k / (points - 1) for k in range(points)]
    curves = curves or ranking_loss_curves(i_greater, margin, gaps)
    now = ranking_loss_values(pred_i, pred_j, i_greater, margin)
    gap = pred_i - pred_j
    order = "l_i > l_j (I = +1 in eq. 1, 1 in eq. 4)" if i_greater else "l_i <= l_j (I = -1 in eq. 1, 0 in eq. 4)"
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "gradient d loss / d l^_i"))
    styles = {"eq1": ("eq. 1 margin ranking (Learning Loss)", "#1f77b4"), "eq4": ("eq. 4 Ranker BCE (TA-VAAL)", "#d62728")}
    for key, (name, color) in styles.items():
        fig.add_trace(go.Scatter(x=gaps, y=curves[key], mode="lines", name=name, legendgroup=key, line={"color": color}),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=gaps, y=curves[f"{key}_grad_i"], mode="lines", name=f"{name} gradient",
                                 legendgroup=key, showlegend=False, line={"color": color, "dash": "dot"}), row=1, col=2)
        fig.add_trace(go.Scatter(x=[gap], y=[now[key]], mode="markers", name=f"{key} now", legendgroup=key,
                                 showlegend=False, marker={"color": color, "size": 12, "line": {"width": 1, "color": "black"}}),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=[gap], y=[now[f"{key}_grad_i"]], mode="markers", name=f"{key} gradient now",
                                 legendgroup=key, showlegend=False,
                                 marker={"color": color, "size": 12, "line": {"width": 1, "color": "black"}}), row=1, col=2)
    fig.update_xaxes(title_text="gap l^_i - l^_j", range=[-gap_range, gap_range])
    fig.update_layout(template="plotly_white", height=380, legend={"orientation": "h", "y": -0.25},
                      title=f"true order {order}; gap {gap:+.2f}: eq. 1 = {now['eq1']:.3f}, eq. 4 = {now['eq4']:.3f}")
    return fig


@_escaped
def imbalance_figure(counts: Sequence[int], class_names: Sequence[str] | None = None,
                     title: str | None = None) -> go.Figure:
    """Images per class as bars, titled with the total and the class-count entropy (Table 1)."""
    names = list(class_names) if class_names is not None else [str(k) for k in range(len(counts))]
    total = sum(counts)
    entropy = class_entropy(counts) if total > 0 else float("nan")
    if title is None:
        title = (f"{total:,} images; class-count entropy {entropy:.3f} nats "
                 f"(balanced: log {len(counts)} = {math.log(len(counts)):.3f})")
    fig = go.Figure(go.Bar(x=names, y=list(counts), text=[str(c) for c in counts], textposition="outside",
                           marker_color="#1f77b4", name="images"))
    fig.update_layout(template="plotly_white", title=title, xaxis_title="class", yaxis_title="images",
                      yaxis_range=[0, max(list(counts) + [1]) * 1.15], height=360)
    return fig


@_escaped
def latent_figure(xy_labeled, xy_candidates, selected_mask=None, r_labeled=None, r_candidates=None,
                  color_by: str = "pool", explained: Sequence[float] | None = None,
                  title: str = "VAE latent means, first two principal components") -> go.Figure:
    """Scatter of projected latent means: labeled, unlabeled candidates and the selected
    candidates, coloured by pool (``color_by="pool"``) or by the rank variable ``r``."""
    xy_l = torch.as_tensor(xy_labeled, dtype=torch.float64).reshape(-1, 2)
    xy_c = torch.as_tensor(xy_candidates, dtype=torch.float64).reshape(-1, 2)
    chosen = (torch.zeros(len(xy_c), dtype=torch.bool) if selected_mask is None
              else torch.as_tensor(selected_mask, dtype=torch.bool).reshape(-1))
    if color_by == "r" and (r_labeled is None or r_candidates is None):
        raise ValueError("colouring by r needs r_labeled and r_candidates (TA-VAAL's rank variable)")
    groups = [("labeled", xy_l, None if r_labeled is None else torch.as_tensor(r_labeled).reshape(-1), "circle", "#1f77b4"),
              ("unlabeled candidates", xy_c[~chosen], None if r_candidates is None else torch.as_tensor(r_candidates).reshape(-1)[~chosen],
               "circle-open", "#7f7f7f"),
              ("selected", xy_c[chosen], None if r_candidates is None else torch.as_tensor(r_candidates).reshape(-1)[chosen],
               "star", "#d62728")]
    fig = go.Figure()
    for name, xy, r, symbol, color in groups:
        marker: dict = {"symbol": symbol, "size": 11 if name == "selected" else 7}
        hover = "PC1 %{x:.3f}<br>PC2 %{y:.3f}"
        custom = None
        if color_by == "r":
            assert r is not None  # both r_labeled and r_candidates were checked above
            marker.update(color=r.tolist(), coloraxis="coloraxis")
            custom = r.tolist()
            hover += "<br>r %{customdata:.3f}"
        else:
            marker["color"] = color
        fig.add_trace(go.Scatter(x=xy[:, 0].tolist(), y=xy[:, 1].tolist(), mode="markers", name=f"{name} ({len(xy)})",
                                 marker=marker, customdata=custom, hovertemplate=hover + f"<extra>{text(name)}</extra>"))
    labels = [f"PC{k + 1}" + (f" ({100 * explained[k]:.0f}% of variance)" if explained else "") for k in range(2)]
    fig.update_layout(template="plotly_white", title=title, xaxis_title=labels[0], yaxis_title=labels[1], height=480)
    if color_by == "r":
        fig.update_layout(coloraxis={"colorscale": "Viridis", "colorbar": {"title": "r"}},
                          legend={"orientation": "h", "y": -0.2})
    return fig


@_escaped
def latent_classes_figure(codes, labels, class_names: Sequence[str] | None = None,
                          title: str = "VAE latent means by class") -> go.Figure:
    """Scatter of two-dimensional latent codes ``(N, 2)``, one trace per class of ``labels`` (the classes are
    only for the reader: a VAE never sees them). Wider codes are an error: project them first."""
    codes = torch.as_tensor(codes, dtype=torch.float64)
    labels = torch.as_tensor(labels).reshape(-1)
    if codes.dim() != 2 or codes.shape[1] != 2 or len(codes) != len(labels):
        raise ValueError(f"latent_classes_figure needs codes of shape (N, 2) and N labels, got codes "
                         f"{tuple(codes.shape)} and {len(labels)} labels")
    fig = go.Figure()
    for k, label in enumerate(sorted(set(labels.tolist()))):
        xy = codes[labels == label]
        name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else str(label)
        fig.add_trace(go.Scatter(x=xy[:, 0].tolist(), y=xy[:, 1].tolist(), mode="markers", name=f"{name} ({len(xy)})",
                                 marker={"size": 5, "color": PALETTE[k % len(PALETTE)], "opacity": 0.7},
                                 hovertemplate=f"z1 %{{x:.3f}}<br>z2 %{{y:.3f}}<extra>{text(name)}</extra>"))
    fig.update_layout(template="plotly_white", title=title, xaxis_title="z1 (encoder mean)",
                      yaxis_title="z2 (encoder mean)", height=480)
    return fig


@_escaped
def image_grid_figure(images, captions: Sequence[str], columns: int = 10, title: str = "", gap: int = 2) -> go.Figure:
    """Thumbnails (see :func:`image_grid`) with one caption under each, as one image trace."""
    images = torch.as_tensor(images)
    count, _, height, width = images.shape
    row_gap = max(gap, height // 3)
    grid = image_grid(images, columns, gap, row_gap)
    columns = max(1, min(columns, count))
    fig = go.Figure(go.Image(z=grid, hoverinfo="skip"))
    for k, caption in enumerate(captions):
        r, c = divmod(k, columns)
        fig.add_annotation(x=c * (width + gap) + width / 2, y=r * (height + row_gap) + height, text=caption,
                           showarrow=False, yanchor="top", font={"size": 9})
    aspect = grid.shape[0] / grid.shape[1]
    fig.update_layout(title=title, template="plotly_white", margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      height=int(min(1000, 70 + 860 * aspect)), xaxis={"visible": False}, yaxis={"visible": False})
    return fig


@_escaped
def dashboard_figure(series: dict | None = None) -> go.Figure:
    """The live dashboard's plots: per (method, trial), the training loss of every epoch (left,
    x = epochs since the run started) and the test accuracy after each cycle (right).

    ``series`` maps ``(method, trial)`` to a dict of lists ``epoch``, ``loss``, ``size``, ``accuracy``.
    Traces come in pairs (loss, accuracy) in the order of ``series``.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss per epoch", "test accuracy after each cycle"))
    for (method, trial), data in (series or {}).items():
        color = method_color(method)
        dash = ["solid", "dash", "dot", "dashdot"][trial % 4]
        name = f"{method} trial {trial}"
        fig.add_trace(go.Scatter(x=list(data["epoch"]), y=list(data["loss"]), mode="lines", name=name,
                                 legendgroup=name, line={"color": color, "dash": dash}), row=1, col=1)
        fig.add_trace(go.Scatter(x=list(data["size"]), y=list(data["accuracy"]), mode="lines+markers", name=name,
                                 legendgroup=name, showlegend=False, line={"color": color, "dash": dash}), row=1, col=2)
    fig.update_xaxes(title_text="epoch (all cycles of the run)", row=1, col=1)
    fig.update_xaxes(title_text="labeled images", row=1, col=2)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="accuracy (%)", row=1, col=2)
    fig.update_layout(template="plotly_white", height=360, margin={"t": 40})
    return fig


@_escaped
def loss_prediction_figure(pairs: Mapping[str, tuple[Tensor, Tensor]], max_points: int = 2000) -> go.Figure:
    """One scatter per objective: predicted against true per-sample loss (log scale on the true
    loss), titled with Spearman's rank correlation; ``pairs`` maps a name to ``(predicted, true)``."""
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


@_escaped
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


@_escaped
def paired_difference_figure(rows: Sequence[PairedComparison], per_trial: dict[int, list[float]], method_a: str,
                             method_b: str, confidence: float = 0.95, interval: str | None = None) -> go.Figure:
    """Mean of ``a - b`` per labeled-set size with its confidence interval, each trial's difference as a dot.

    ``rows``: :class:`~tavaal_nb.analysis.stats.PairedComparison` (plain intervals) or the per-size
    :class:`~tavaal_nb.analysis.multiplicity.CorrectedComparison` rows; ``interval``: what the intervals are, for
    the title (e.g. ``"95 % simultaneous interval over 6 comparisons (Bonferroni)"``; default: a plain
    ``confidence`` t interval)."""
    fig = go.Figure()
    sizes = [row.labeled_size for row in rows]
    for trial, diffs in sorted(per_trial.items()):
        fig.add_trace(go.Scatter(x=sizes, y=diffs, mode="markers", name=f"trial {trial}", legendgroup="trials",
                                 marker={"size": 6, "color": "rgba(120,120,120,0.55)"}, showlegend=trial == min(per_trial),
                                 hovertemplate=f"trial {trial}<br>%{{x}} labeled: %{{y:+.2f}} points<extra></extra>"))
    upper = [row.high - row.mean_difference if not math.isnan(row.high) else None for row in rows]
    lower = [row.mean_difference - row.low if not math.isnan(row.low) else None for row in rows]
    hover = [f"{row.trials} trials, sign test p = {row.sign_test_p:.3f}, "
             f"trials needed ~ {row.trials_needed if row.trials_needed is not None else 'n/a'}<br>{text(row.verdict)}"
             for row in rows]
    fig.add_trace(go.Scatter(
        x=sizes, y=[row.mean_difference for row in rows], mode="lines+markers", name=f"mean {method_a} - {method_b}",
        line={"color": method_color(method_a), "width": 3}, text=hover,
        error_y={"type": "data", "array": upper, "arrayminus": lower, "visible": True},
        hovertemplate="%{x} labeled: %{y:+.2f} points<br>%{text}<extra></extra>"))
    fig.add_hline(y=0, line={"color": "black", "dash": "dot"})
    fig.update_layout(
        title=f"{method_a} minus {method_b}, trial by trial ({interval or f'{int(round(confidence * 100))} % t interval'})",
        xaxis_title="labeled images", yaxis_title="accuracy difference (points)", height=420,
        margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return fig


@_escaped
def entropy_readings_figure(results: Results, reading: str = "labeled", title: str | None = None) -> go.Figure:
    """Mean (line) and std over trials (error bars) of :func:`entropy_by_size` for every method, with the
    train pool's own entropy as a dashed line."""
    fig = go.Figure()
    for method in results.methods:
        by_size = entropy_by_size(results, method, reading)
        sizes = list(by_size)
        means, stds = zip(*(mean_std(v) for v in by_size.values())) if by_size else ((), ())
        fig.add_trace(go.Scatter(x=sizes, y=means, name=method, mode="lines+markers", line={"color": method_color(method)},
                                 error_y={"type": "data", "array": stds, "visible": True}))
    reference = class_entropy(results.dataset["class_counts"])
    fig.add_hline(y=reference, line_dash="dash", line_color="black",
                  annotation_text=f"pool entropy {reference:.3f}", annotation_position="bottom right")
    what = "the labeled set" if reading == "labeled" else "each query's selection"
    fig.update_layout(title=title or f"Class-count entropy of {what}", template="plotly_white",
                      xaxis_title="labeled images", yaxis_title="entropy of class counts (nats)")
    return mark_smoke_test(fig, results)
