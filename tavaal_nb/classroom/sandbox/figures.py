"""Figures of the sandbox: the pool with the labeled points, a cycle's picks and the decision
boundary, beside accuracy against the number of labeled points."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from tavaal_nb.analysis.plots import method_color
from tavaal_nb.classroom.sandbox.run import SandboxRun
from tavaal_nb.markup import text

__all__ = ["CLASS_COLORS", "sandbox_figure", "sandbox_curves_figure"]

CLASS_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d", "#bab0ac")
"""One colour per class of a toy pool (classes beyond eight reuse them)."""


def _class_color(label: int) -> str:
    return CLASS_COLORS[label % len(CLASS_COLORS)]


def _region_colorscale(num_classes: int) -> list[list]:
    """A stepped colourscale: class ``c`` (z = c) gets its colour over ``[c - 0.5, c + 0.5]``."""
    scale = []
    for label in range(num_classes):
        low, high = label / num_classes, (label + 1) / num_classes
        scale += [[low, _class_color(label)], [high, _class_color(label)]]
    return scale


def _curve_traces(run: SandboxRun, cycle: int | None, dash: str | None = None) -> list[go.Scatter]:
    color = method_color(run.name)
    traces = [go.Scatter(x=run.labeled_sizes, y=run.accuracy, mode="lines+markers", name=run.name,
                         line={"color": color, "dash": dash}, legendgroup="curves",
                         hovertemplate="%{x} labeled: %{y:.1f}%<extra>" + text(run.name) + "</extra>")]
    if cycle is not None and cycle < run.cycles:
        traces.append(go.Scatter(x=[run.labeled_sizes[cycle]], y=[run.accuracy[cycle]], mode="markers",
                                 marker={"color": color, "size": 14, "symbol": "circle-open", "line": {"width": 3}},
                                 showlegend=False, hoverinfo="skip"))
    return traces


def sandbox_figure(run: SandboxRun, cycle: int = 0, references: Sequence[SandboxRun] = (),
                   show_boundary: bool = True, height: int = 460) -> go.Figure:
    """Left: the pool by class (unlabeled faint, labeled solid), cycle ``cycle``'s picks as stars and
    that cycle's decision regions. Right: accuracy against labeled points for ``run`` and the
    ``references`` (dashed), the current cycle circled. The title gives the class counts of the
    picks against those of the pool, the sampling-bias check."""
    if not 0 <= cycle < run.cycles:
        raise ValueError(f"cycle must be between 0 and {run.cycles - 1} (the cycles run so far), got {cycle}")
    pool = run.pool
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.09,
                        subplot_titles=("pool, labeled points and this cycle's picks", "test accuracy (balanced)"))
    if show_boundary:
        xs, ys = run.grid_axes
        regions = run.grid_probabilities[cycle].argmax(dim=1).reshape(ys.numel(), xs.numel())
        fig.add_trace(go.Contour(x=xs.tolist(), y=ys.tolist(), z=regions.tolist(), zmin=-0.5,
                                 zmax=pool.num_classes - 0.5, colorscale=_region_colorscale(pool.num_classes),
                                 opacity=0.22, showscale=False, hoverinfo="skip", name="decision regions",
                                 contours={"start": 0.5, "end": pool.num_classes - 1.5, "size": 1,
                                           "coloring": "fill"}, line={"width": 2, "color": "#333"}),
                      row=1, col=1)
    labeled = run.labeled[cycle]
    mask = pool.y.new_zeros(pool.size, dtype=torch.bool)
    mask[labeled] = True
    for label in range(pool.num_classes):
        color = _class_color(label)
        for is_labeled in (False, True):
            members = (pool.y == label) & (mask if is_labeled else ~mask)
            points = pool.x[members]
            fig.add_trace(go.Scatter(
                x=points[:, 0].tolist(), y=points[:, 1].tolist(), mode="markers",
                name=f"class {label} {'labeled' if is_labeled else 'unlabeled'}", legendgroup=f"class {label}",
                showlegend=is_labeled,
                marker={"color": color, "size": 8 if is_labeled else 5, "opacity": 1.0 if is_labeled else 0.35,
                        "line": {"width": 1.2 if is_labeled else 0, "color": "black"}}), row=1, col=1)
    picks = pool.x[run.picks[cycle]]
    fig.add_trace(go.Scatter(x=picks[:, 0].tolist(), y=picks[:, 1].tolist(), mode="markers", name="picks",
                             marker={"symbol": "star", "size": 13, "color": "#ffd400",
                                     "line": {"width": 1.2, "color": "black"}}), row=1, col=1)
    for reference in references:
        for trace in _curve_traces(reference, None, dash="dash"):
            fig.add_trace(trace, row=1, col=2)
    for trace in _curve_traces(run, cycle):
        fig.add_trace(trace, row=1, col=2)
    x0, x1, y0, y1 = pool.bounds()
    fig.update_xaxes(range=[x0, x1], row=1, col=1, showgrid=False, zeroline=False)
    fig.update_yaxes(range=[y0, y1], row=1, col=1, showgrid=False, zeroline=False, scaleanchor="x", scaleratio=1)
    fig.update_xaxes(title_text="labeled points", row=1, col=2)
    fig.update_yaxes(title_text="accuracy (%)", row=1, col=2)
    title = (f"{run.name}, cycle {cycle}: {labeled.numel()} labeled, picks by class "
             f"{run.pick_class_counts(cycle)} (pool {pool.class_counts()})")
    fig.update_layout(title={"text": title, "font": {"size": 14}}, template="plotly_white", height=height,
                      margin={"l": 40, "r": 20, "t": 70, "b": 40}, legend={"orientation": "h", "y": -0.12})
    return fig


def sandbox_curves_figure(runs: dict[str, Sequence[SandboxRun]], title: str = "accuracy against labeled points",
                          height: int = 380) -> go.Figure:
    """Mean accuracy over seeds per strategy (``{name: runs}``, e.g. from ``compare_strategies``),
    each seed's curve faint behind it."""
    fig = go.Figure()
    for name, seeds in runs.items():
        color = method_color(name)
        for run in seeds:
            fig.add_trace(go.Scatter(x=run.labeled_sizes, y=run.accuracy, mode="lines", showlegend=False,
                                     line={"color": color, "width": 1}, opacity=0.3, hoverinfo="skip"))
        cycles = min(run.cycles for run in seeds)
        mean = [sum(run.accuracy[k] for run in seeds) / len(seeds) for k in range(cycles)]
        fig.add_trace(go.Scatter(x=seeds[0].labeled_sizes[:cycles], y=mean, mode="lines+markers", name=name,
                                 line={"color": color, "width": 3},
                                 hovertemplate="%{x} labeled: %{y:.1f}%<extra>" + text(name) + "</extra>"))
    fig.update_layout(title=title, xaxis_title="labeled points", yaxis_title="test accuracy (%), mean over seeds",
                      template="plotly_white", height=height, legend_title="strategy")
    return fig
