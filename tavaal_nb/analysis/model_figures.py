"""Plotly figure builders for the course's pictures of models and data, not of results: the two ranking losses
(eqs. 1 and 4) and their gradients, a pool's class counts (Table 1), the VAE's latent space, image grids, what a
loss predictor predicts and the VAE/discriminator losses during training. Used by the widgets and notebooks 02
and 03; the figures of results are in :mod:`tavaal_nb.analysis.plots`. Like those, each returns a
``plotly.graph_objects.Figure`` with names escaped for plotly and needs no Jupyter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from scipy.stats import spearmanr
from torch import Tensor

from tavaal_nb.analysis.figure_data import image_grid, ranking_loss_curves, ranking_loss_values
from tavaal_nb.analysis.plots import PALETTE
from tavaal_nb.markup import escaped_figures, text
from tavaal_nb.metrics import class_entropy

__all__ = ["ranking_loss_figure", "imbalance_figure", "latent_figure", "latent_classes_figure", "image_grid_figure",
           "loss_prediction_figure", "vae_history_figure"]


@escaped_figures
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


@escaped_figures
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


@escaped_figures
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


@escaped_figures
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


@escaped_figures
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


@escaped_figures
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


@escaped_figures
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
