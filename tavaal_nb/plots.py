"""Plotly figure builders for the paper's figures, shared by the report and the widgets.

Each function takes results (see :func:`tavaal_nb.results.load_results`) and returns a
``plotly.graph_objects.Figure``; nothing here needs Jupyter.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from tavaal_nb.results import Results, mean_std

__all__ = ["METHOD_COLORS", "method_color", "learning_curve_stats", "learning_curves_figure",
           "class_entropy_figure", "discriminator_histogram_figure"]

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
        fig.add_trace(go.Scatter(x=x + x[::-1], y=upper + lower[::-1], fill="toself", fillcolor=_rgba(color, 0.18),
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
                                   title: str | None = None) -> go.Figure:
    """Paper Fig. 7: histogram of ``D(mu, r)`` over the candidates at one cycle, with the
    selection threshold (the largest ``D`` that was still selected) marked."""
    fig = go.Figure()
    for run in results.runs:
        if run["trial"] != trial or (methods is not None and run["method"] not in methods):
            continue
        if cycle >= len(run["cycles"]) or run["cycles"][cycle].get("discriminator_scores") is None:
            continue
        record = run["cycles"][cycle]
        color = method_color(run["method"])
        fig.add_trace(go.Histogram(x=record["discriminator_scores"], name=run["method"], marker_color=color,
                                   opacity=0.6, xbins={"start": 0.0, "end": 1.0, "size": 1.0 / bins}))
        if record.get("selection_threshold") is not None:
            fig.add_vline(x=record["selection_threshold"], line_dash="dot", line_color=color,
                          annotation_text=f"{run['method']} threshold")
    fig.update_layout(barmode="overlay", template="plotly_white", xaxis_title="D(mu, r) (1 = looks labeled)",
                      yaxis_title="candidates", xaxis_range=[0, 1],
                      title=title or f"Discriminator outputs on the candidates, cycle {cycle}")
    return fig
