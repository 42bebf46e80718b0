"""Plotly figure builders for results: the paper's figures (learning curves, class entropy, discriminator
outputs) and the course's readings of them, shared by the report, the widgets and the notebooks. The course's
pictures of models and data (the ranking losses, latent spaces, image grids) are in
:mod:`tavaal_nb.analysis.model_figures`.

Each function takes results (see :func:`tavaal_nb.results.load_results`) or plain numbers and
returns a ``plotly.graph_objects.Figure``; nothing here needs Jupyter. What the figures show is
computed in :mod:`tavaal_nb.analysis.figure_data`; results are grouped and pooled by :mod:`tavaal_nb.analysis.grouping`.
Every method's colour comes from :func:`method_color`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tavaal_nb.analysis.figure_data import histogram_counts
from tavaal_nb.analysis.stats import PairedComparison, entropy_by_size, learning_curve_stats, mean_std
from tavaal_nb.markup import escaped_figures, text
from tavaal_nb.metrics import class_entropy
from tavaal_nb.results import Results
from tavaal_nb.schema import NUMBER_OR_NULL
from tavaal_nb.strategies import BUILTIN_METHODS
from tavaal_nb.strategies.vaal import SELECTION_THRESHOLD, discriminator_scores
from tavaal_nb.upper_bound import UpperBound

__all__ = ["SMOKE_TEST_NOTE", "mark_smoke_test", "trials_in", "entropy_readings_figure", "PALETTE", "method_color", "learning_curves_figure", "class_entropy_figure",
           "discriminator_histogram_figure", "dashboard_figure", "paired_difference_figure"]

PALETTE = (
    "#7f7f7f", "#1f77b4", "#17becf", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd",
    "#8c564b", "#e377c2", "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d",
)
"""Method colours: the built-in methods take the first ones in registration order, any other
method one of the rest."""


SMOKE_TEST_NOTE = ("SMOKE TEST (ci preset): a few images, an epoch or two, to exercise the code; "
                   "these numbers mean nothing")
"""What a figure drawn from a ``ci``-preset run says on its face (the course's site and tests run at ``ci``)."""


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


@escaped_figures
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


@escaped_figures
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


@escaped_figures
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


@escaped_figures
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


@escaped_figures
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


@escaped_figures
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
