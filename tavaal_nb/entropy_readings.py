"""Two readings of the paper's Fig. 6 ("data class count entropy" per stage), from a results file.

The paper plots, for each method and stage, an entropy of class counts without saying of *which* images:

* ``"selected"``: the images one query selected (the ``b`` new ones); this is what
  :class:`tavaal_nb.widgets.ClassEntropyView` draws, keyed by the labeled-set size after the query;
* ``"labeled"``: the whole labeled set at that stage (the initial images and every selection so far),
  keyed by the labeled-set size; it moves slowly, since each query adds ``b`` images to a growing set.

Both are ``H = -sum_c p_c log p_c`` (nats) of class counts (:func:`tavaal_nb.metrics.class_entropy`).
"""

from __future__ import annotations

import statistics

import plotly.graph_objects as go

from tavaal_nb.metrics import class_entropy
from tavaal_nb.results import Results

__all__ = ["READINGS", "entropy_by_size", "entropy_readings_figure"]

READINGS = ("selected", "labeled")


def entropy_by_size(results: Results, method: str, reading: str = "selected") -> dict[int, list[float]]:
    """Class-count entropies of ``method``'s runs, one per trial, by labeled-set size.

    ``reading="selected"``: the entropy of each query's selection, keyed by the labeled-set size after
    the query; ``reading="labeled"``: the entropy of the labeled set each cycle trained on, keyed by its
    size (cycle 0 is the initial random set).
    """
    if reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS}, got {reading!r}")
    if method not in results.methods:
        raise ValueError(f"no runs of method {method!r}; the results hold {', '.join(results.methods)}")
    by_size: dict[int, list[float]] = {}
    for run in results.runs:
        if run["method"] != method:
            continue
        for record in run["cycles"]:
            if reading == "labeled":
                size, counts = record["labeled_size"], record["labeled_class_counts"]
            elif record.get("selected_class_counts"):
                size, counts = record["labeled_size"] + len(record["selected_indices"]), record["selected_class_counts"]
            else:
                continue
            by_size.setdefault(size, []).append(class_entropy(counts))
    return dict(sorted(by_size.items()))


def entropy_readings_figure(results: Results, reading: str = "labeled", title: str | None = None) -> go.Figure:
    """Mean (line) and std over trials (error bars) of :func:`entropy_by_size` for every method, with the
    train pool's own entropy as a dashed line."""
    fig = go.Figure()
    for method in results.methods:
        by_size = entropy_by_size(results, method, reading)
        sizes = list(by_size)
        means = [statistics.mean(v) for v in by_size.values()]
        stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in by_size.values()]
        fig.add_trace(go.Scatter(x=sizes, y=means, name=method, mode="lines+markers",
                                 error_y={"type": "data", "array": stds, "visible": True}))
    reference = class_entropy(results.dataset["class_counts"])
    fig.add_hline(y=reference, line_dash="dash", line_color="black",
                  annotation_text=f"pool entropy {reference:.3f}", annotation_position="bottom right")
    what = "the labeled set" if reading == "labeled" else "each query's selection"
    fig.update_layout(title=title or f"Class-count entropy of {what}", template="plotly_white",
                      xaxis_title="labeled images", yaxis_title="entropy of class counts (nats)")
    return fig
