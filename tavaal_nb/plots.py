"""Plotly figure builders for the paper's figures, shared by the report and the widgets.

Each function takes results (see :func:`tavaal_nb.results.load_results`) and returns a
``plotly.graph_objects.Figure``; nothing here needs Jupyter.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from tavaal_nb.results import Results, mean_std

__all__ = ["METHOD_COLORS", "method_color", "learning_curve_stats", "learning_curves_figure",
           "class_entropy_figure", "discriminator_histogram_figure", "histogram_counts", "group_results",
           "merge_results", "ranking_loss_values", "ranking_loss_figure", "imbalance_figure", "pca_2d",
           "latent_figure", "image_grid", "image_grid_figure", "dashboard_figure"]

METHOD_COLORS = {
    "random": "#7f7f7f", "lloss": "#1f77b4", "lloss-v2": "#17becf", "vaal": "#ff7f0e",
    "tavaal": "#d62728", "coreset": "#2ca02c", "entropy": "#9467bd",
}
_FALLBACK = ["#8c564b", "#e377c2", "#bcbd22", "#393b79", "#637939"]


def method_color(method: str) -> str:
    return METHOD_COLORS.get(method, _FALLBACK[sum(map(ord, method)) % len(_FALLBACK)])


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def learning_curve_stats(results: Sequence[Results]) -> dict[str, dict[str, list]]:
    """Per method, pooled over every results object: sizes, per-trial values, mean and std."""
    pooled: dict[str, dict[int, list[float]]] = {}
    for result in results:
        for method, curve in result.curves().items():
            target = pooled.setdefault(method, {})
            for size, values in zip(curve["labeled_size"], curve["accuracy"]):
                target.setdefault(size, []).extend(values)
    stats: dict[str, dict[str, list]] = {}
    for method, by_size in pooled.items():
        sizes = sorted(by_size)
        pairs = [mean_std(by_size[s]) for s in sizes]
        stats[method] = {
            "labeled_size": sizes,
            "values": [by_size[s] for s in sizes],
            "mean": [p[0] for p in pairs],
            "std": [p[1] for p in pairs],
        }
    return stats


def learning_curves_figure(results: Sequence[Results], methods: Sequence[str] | None = None,
                           title: str = "Test accuracy against labeled-set size") -> go.Figure:
    """Paper Figs. 2-5: mean accuracy per method with a +-1 std band over trials."""
    stats = learning_curve_stats(results)
    fig = go.Figure()
    for method, entry in stats.items():
        if methods is not None and method not in methods:
            continue
        color = method_color(method)
        x = entry["labeled_size"]
        upper = [m + s for m, s in zip(entry["mean"], entry["std"])]
        lower = [m - s for m, s in zip(entry["mean"], entry["std"])]
        fig.add_trace(go.Scatter(x=x + x[::-1], y=upper + lower[::-1], mode="lines", fill="toself",
                                 fillcolor=_rgba(color, 0.18),
                                 line={"width": 0}, hoverinfo="skip", showlegend=False, legendgroup=method,
                                 name=f"{method} +-1 std"))
        hover = [", ".join(f"{v:.2f}" for v in values) for values in entry["values"]]
        fig.add_trace(go.Scatter(x=x, y=entry["mean"], mode="lines+markers", name=method, legendgroup=method,
                                 line={"color": color}, customdata=hover,
                                 hovertemplate="%{x} labeled: %{y:.2f}%<br>trials: %{customdata}<extra>" + method + "</extra>"))
    fig.update_layout(title=title, xaxis_title="labeled images", yaxis_title="test accuracy (%)",
                      template="plotly_white", legend_title="method")
    return fig


def class_entropy_figure(results: Results, reference: float | None = None,
                         title: str = "Class-count entropy of the selected samples") -> go.Figure:
    """Paper Fig. 6: per cycle and method, the entropy of the selected samples' class counts
    (mean over trials as the bar, std as the error bar); the dataset's own entropy as a line."""
    from tavaal_nb.metrics import class_entropy

    fig = go.Figure()
    for method in results.methods:
        by_size: dict[int, list[float]] = {}
        for run in results.runs:
            if run["method"] != method:
                continue
            for record in run["cycles"]:
                if record.get("selected_class_entropy") is not None:
                    size = record["labeled_size"] + len(record["selected_indices"])
                    by_size.setdefault(size, []).append(record["selected_class_entropy"])
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
    return fig


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
        if cycle >= len(run["cycles"]) or run["cycles"][cycle].get("discriminator_scores") is None:
            continue
        record = run["cycles"][cycle]
        color = method_color(run["method"])
        if binned:
            counts = histogram_counts(record["discriminator_scores"], bins, low, high)
            fig.add_trace(go.Bar(x=[low + (k + 0.5) * width for k in range(bins)], y=counts, width=width,
                                 name=run["method"], marker_color=color, opacity=0.6,
                                 hovertemplate="D in [%{customdata}): %{y} candidates<extra>" + run["method"] + "</extra>",
                                 customdata=[f"{low + k * width:.4f}, {low + (k + 1) * width:.4f}" for k in range(bins)]))
        else:
            fig.add_trace(go.Histogram(x=record["discriminator_scores"], name=run["method"], marker_color=color,
                                       opacity=0.6, xbins={"start": low, "end": high, "size": width}))
        if record.get("selection_threshold") is not None:
            # labels of several methods' lines alternate sides and heights so they do not overprint
            fig.add_vline(x=record["selection_threshold"], line_dash="dot", line_color=color,
                          annotation_text=f"{run['method']} threshold",
                          annotation_position="top right" if drawn % 2 == 0 else "bottom left",
                          annotation_font_color=color)
        drawn += 1
    fig.update_layout(barmode="overlay", template="plotly_white", xaxis_title="D(mu, r) (1 = looks labeled)",
                      yaxis_title="candidates", xaxis_range=[low, high],
                      title=title or f"Discriminator outputs on the candidates, cycle {cycle}")
    return fig


# ---------------------------------------------------------------------------------------------
# Helpers and builders used by the interactive views (tavaal_nb.widgets); each works on plain
# inputs and returns data or a plain go.Figure, so they can also be used without Jupyter.
# ---------------------------------------------------------------------------------------------

def histogram_counts(values: Sequence[float], bins: int = 40, low: float = 0.0, high: float = 1.0) -> list[int]:
    """Counts of ``values`` in ``bins`` equal bins over ``[low, high]``; the last bin includes ``high``
    and values outside the range are clipped into the end bins (so the counts sum to ``len(values)``)."""
    if bins < 1 or not high > low:
        raise ValueError(f"need bins >= 1 and high > low, got bins={bins}, low={low}, high={high}")
    counts = [0] * bins
    width = (high - low) / bins
    for value in values:
        if value is None:
            continue
        counts[min(bins - 1, max(0, int((value - low) // width)))] += 1
    return counts


_POOLED_FIELDS = ("methods", "trials", "first_trial", "seed", "device", "data_dir")
"""Config fields that may differ between results that are pooled into one group."""


def group_results(results: Sequence[Results]) -> dict[str, list[Results]]:
    """Results that measure the same thing, grouped: same dataset and settings, whatever the
    methods, trials, seed or device (e.g. one directory per method, or a sweep over seeds).

    Keys are short labels: the dataset name, plus the settings that tell groups of the same
    dataset apart (``"synthetic (epochs=4)"``).
    """
    import json

    keyed: dict[str, list[Results]] = {}
    for result in results:
        key = json.dumps({k: v for k, v in result.config.items() if k not in _POOLED_FIELDS},
                         sort_keys=True, default=str)
        keyed.setdefault(key, []).append(result)
    configs = {key: json.loads(key) for key in keyed}
    labels: dict[str, list[Results]] = {}
    for key, members in keyed.items():
        name = members[0].dataset.get("name", configs[key].get("dataset", "?"))
        siblings = [other for other in configs if other != key and configs[other].get("dataset") == configs[key].get("dataset")]
        differing = sorted({field for other in siblings for field in configs[key]
                            if configs[key].get(field) != configs[other].get(field)})
        label = name + (" (" + ", ".join(f"{f}={configs[key][f]}" for f in differing[:3]) + ")" if differing else "")
        while label in labels:
            label += "'"
        labels[label] = members
    return labels


def merge_results(results: Sequence[Results]) -> Results:
    """One in-memory :class:`Results` holding the runs of several (same dataset and settings).

    Trials are renumbered per method (0, 1, ...) in the order met, so runs from several
    directories that each call their trial 0 stay apart; a run's original place is kept in
    its ``source`` field. A single result is returned unchanged.
    """
    results = list(results)
    if not results:
        raise ValueError("nothing to merge: no results given")
    if len(results) == 1:
        return results[0]
    first = results[0]
    config = dict(first.config)
    methods: list[str] = []
    runs: list[dict] = []
    next_trial: dict[str, int] = {}
    for result in results:
        for run in result.runs:
            if run["method"] not in methods:
                methods.append(run["method"])
            copy = dict(run)
            copy["trial"] = next_trial.get(run["method"], 0)
            next_trial[run["method"]] = copy["trial"] + 1
            copy["source"] = {"path": str(result.path) if result.path else None, "trial": run["trial"]}
            runs.append(copy)
    config["methods"] = methods
    config["trials"] = max(next_trial.values(), default=0)
    merged = Results.new(config, first.dataset)
    merged.data["runs"] = runs
    return merged


def ranking_loss_values(pred_i: float, pred_j: float, i_greater: bool, margin: float = 1.0) -> dict[str, float]:
    """Eq. 1 (:func:`tavaal_nb.losses.margin_ranking_loss`) and eq. 4 (:func:`~tavaal_nb.losses.bce_ranking_loss`)
    for one pair of predicted losses ``(pred_i, pred_j)`` whose true order is ``l_i > l_j``
    (``i_greater``) or not, with their gradients with respect to both predictions (autograd).

    Returns ``eq1, eq1_grad_i, eq1_grad_j, eq4, eq4_grad_i, eq4_grad_j``.
    """
    import torch

    from tavaal_nb.losses import margin_ranking_loss, bce_ranking_loss

    target = torch.tensor([1.0, 0.0] if i_greater else [0.0, 1.0], dtype=torch.float64)
    out: dict[str, float] = {}
    for name, fn in (("eq1", lambda p, t: margin_ranking_loss(p, t, margin=margin)), ("eq4", bce_ranking_loss)):
        pred = torch.tensor([pred_i, pred_j], dtype=torch.float64, requires_grad=True)
        loss = fn(pred, target)
        loss.backward()
        out[name] = float(loss.detach())
        out[f"{name}_grad_i"], out[f"{name}_grad_j"] = (float(g) for g in pred.grad)
    return out


def _ranking_curves(i_greater: bool, margin: float, gaps: Sequence[float]) -> dict[str, list[float]]:
    values = [ranking_loss_values(gap, 0.0, i_greater, margin) for gap in gaps]
    return {key: [v[key] for v in values] for key in ("eq1", "eq1_grad_i", "eq4", "eq4_grad_i")}


def ranking_loss_figure(pred_i: float, pred_j: float, i_greater: bool, margin: float = 1.0,
                        gap_range: float = 4.0, points: int = 161, curves: dict | None = None) -> go.Figure:
    """Eqs. 1 and 4 and their gradients as functions of the gap ``pred_i - pred_j`` (both losses
    depend on the predictions only through it), with the current pair marked.

    Left: the losses; right: ``d loss / d pred_i`` (``d / d pred_j`` is its negative).
    ``curves`` may pass precomputed curves (they only change with the order and margin).
    """
    from plotly.subplots import make_subplots

    gaps = [-gap_range + 2 * gap_range * k / (points - 1) for k in range(points)]
    curves = curves or _ranking_curves(i_greater, margin, gaps)
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


def imbalance_figure(counts: Sequence[int], class_names: Sequence[str] | None = None,
                     title: str | None = None) -> go.Figure:
    """Images per class as bars, titled with the total and the class-count entropy (Table 1)."""
    import math

    from tavaal_nb.metrics import class_entropy

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


def pca_2d(*arrays) -> tuple[list, list[float]]:
    """Project row vectors onto their first two principal components, jointly.

    Takes one or more ``(n_k, d)`` arrays (tensors or nested lists); returns the projected
    ``(n_k, 2)`` tensors, in order, and the fraction of the variance each component explains.
    The components come from an exact SVD of the centred rows (``torch.linalg.svd``); each
    is signed so that its largest-magnitude loading is positive, which makes the picture
    reproducible.
    """
    import torch

    parts = [torch.as_tensor(a, dtype=torch.float64).reshape(len(a), -1) for a in arrays]
    stacked = torch.cat(parts)
    if stacked.shape[0] < 2:
        raise ValueError("a projection needs at least two points")
    centred = stacked - stacked.mean(dim=0, keepdim=True)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:2]
    if components.shape[0] < 2:  # one-dimensional data: pad with a zero component
        components = torch.cat([components, torch.zeros(1, components.shape[1], dtype=components.dtype)])
    signs = torch.sign(components.gather(1, components.abs().argmax(dim=1, keepdim=True)))
    signs[signs == 0] = 1
    components = components * signs
    projected = centred @ components.T
    variance = singular.pow(2)
    explained = (variance[:2] / variance.sum().clamp_min(1e-12)).tolist() + [0.0] * max(0, 2 - len(variance))
    out, start = [], 0
    for part in parts:
        out.append(projected[start:start + part.shape[0]])
        start += part.shape[0]
    return out, explained[:2]


def latent_figure(xy_labeled, xy_candidates, selected_mask=None, r_labeled=None, r_candidates=None,
                  color_by: str = "pool", explained: Sequence[float] | None = None,
                  title: str = "VAE latent means, first two principal components") -> go.Figure:
    """Scatter of projected latent means: labeled, unlabeled candidates and the selected
    candidates, coloured by pool (``color_by="pool"``) or by the rank variable ``r``."""
    import torch

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
            marker.update(color=r.tolist(), coloraxis="coloraxis")
            custom = r.tolist()
            hover += "<br>r %{customdata:.3f}"
        else:
            marker["color"] = color
        fig.add_trace(go.Scatter(x=xy[:, 0].tolist(), y=xy[:, 1].tolist(), mode="markers", name=f"{name} ({len(xy)})",
                                 marker=marker, customdata=custom, hovertemplate=hover + f"<extra>{name}</extra>"))
    labels = [f"PC{k + 1}" + (f" ({100 * explained[k]:.0f}% of variance)" if explained else "") for k in range(2)]
    fig.update_layout(template="plotly_white", title=title, xaxis_title=labels[0], yaxis_title=labels[1], height=480)
    if color_by == "r":
        fig.update_layout(coloraxis={"colorscale": "Viridis", "colorbar": {"title": "r"}},
                          legend={"orientation": "h", "y": -0.2})
    return fig


def image_grid(images, columns: int = 10, gap: int = 2, row_gap: int | None = None):
    """Tile ``(N, C, H, W)`` uint8 images (C = 1 or 3) into one ``(rows*(H+row_gap), columns*(W+gap), 3)``
    uint8 array, row by row, on a white background; grey images are repeated to RGB. Image ``k``
    sits at row ``k // columns``, column ``k % columns``; ``row_gap`` (default ``gap``) leaves room
    for captions under each row."""
    import numpy as np
    import torch

    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError("images must be a uint8 tensor of shape (N, C, H, W) with C = 1 or 3")
    row_gap = gap if row_gap is None else row_gap
    count, _, height, width = images.shape
    columns = max(1, min(columns, count))
    rows = max(1, -(-count // columns))
    hwc = images.detach().cpu().permute(0, 2, 3, 1).numpy()
    if hwc.shape[-1] == 1:
        hwc = np.repeat(hwc, 3, axis=-1)
    grid = np.full((rows * (height + row_gap), columns * (width + gap), 3), 255, dtype=np.uint8)
    for k in range(count):
        r, c = divmod(k, columns)
        top, left = r * (height + row_gap), c * (width + gap)
        grid[top:top + height, left:left + width] = hwc[k]
    return grid


def image_grid_figure(images, captions: Sequence[str], columns: int = 10, title: str = "", gap: int = 2) -> go.Figure:
    """Thumbnails (see :func:`image_grid`) with one caption under each, as one image trace."""
    import torch

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


def dashboard_figure(series: dict | None = None) -> go.Figure:
    """The live dashboard's plots: per (method, trial), the training loss of every epoch (left,
    x = epochs since the run started) and the test accuracy after each cycle (right).

    ``series`` maps ``(method, trial)`` to a dict of lists ``epoch``, ``loss``, ``size``, ``accuracy``.
    Traces come in pairs (loss, accuracy) in the order of ``series``.
    """
    from plotly.subplots import make_subplots

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
