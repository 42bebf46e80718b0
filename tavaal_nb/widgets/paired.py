"""Paired comparison of two methods: per-trial differences, their confidence interval, a sign test and
the number of trials a gap would need (the honest way to read Figs. 2-5 with few trials)."""

from __future__ import annotations

import math

import ipywidgets as widgets
import plotly.graph_objects as go

from tavaal_nb.plots import method_color
from tavaal_nb.stats import PairedComparison, compare_paired, per_trial_accuracy
from tavaal_nb.widgets._base import ResultsView

__all__ = ["PairedComparisonView", "paired_difference_figure"]


def paired_difference_figure(rows: list[PairedComparison], per_trial: dict[int, list[float]], method_a: str,
                             method_b: str, confidence: float = 0.95) -> go.Figure:
    """Mean of ``a - b`` per labeled-set size with its confidence interval, each trial's difference as a dot."""
    fig = go.Figure()
    sizes = [row.labeled_size for row in rows]
    for trial, diffs in sorted(per_trial.items()):
        fig.add_trace(go.Scatter(x=sizes, y=diffs, mode="markers", name=f"trial {trial}", legendgroup="trials",
                                 marker={"size": 6, "color": "rgba(120,120,120,0.55)"}, showlegend=trial == min(per_trial),
                                 hovertemplate=f"trial {trial}<br>%{{x}} labeled: %{{y:+.2f}} points<extra></extra>"))
    upper = [row.high - row.mean_difference if not math.isnan(row.high) else None for row in rows]
    lower = [row.mean_difference - row.low if not math.isnan(row.low) else None for row in rows]
    hover = [f"{row.trials} trials, sign test p = {row.sign_test_p:.3f}, "
             f"trials needed ~ {row.trials_needed if row.trials_needed is not None else 'n/a'}<br>{row.verdict}"
             for row in rows]
    fig.add_trace(go.Scatter(
        x=sizes, y=[row.mean_difference for row in rows], mode="lines+markers", name=f"mean {method_a} - {method_b}",
        line={"color": method_color(method_a), "width": 3}, text=hover,
        error_y={"type": "data", "array": upper, "arrayminus": lower, "visible": True},
        hovertemplate="%{x} labeled: %{y:+.2f} points<br>%{text}<extra></extra>"))
    fig.add_hline(y=0, line={"color": "black", "dash": "dot"})
    fig.update_layout(
        title=f"{method_a} minus {method_b}, trial by trial ({int(round(confidence * 100))} % t interval)",
        xaxis_title="labeled images", yaxis_title="accuracy difference (points)", height=420,
        margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return fig


class PairedComparisonView(ResultsView):
    """Pick two methods and see ``a - b`` per labeled-set size: the trials' differences, their mean with a
    Student-t interval, the exact sign test and how many paired trials the gap seen would need
    (:mod:`tavaal_nb.stats`). Because every method of a trial starts from the same labeled set, a gap
    smaller than the learning curves' bands can still be clear here.

    Example::

        from tavaal_nb.widgets import PairedComparisonView
        PairedComparisonView("results/cpu/sweep", method_a="tavaal", method_b="random")
    """

    def __init__(self, sources, method_a: str | None = None, method_b: str | None = None,
                 static: bool | None = None) -> None:
        super().__init__(sources, static)
        methods = list(dict.fromkeys(m for result in self.groups.values() for m in result.methods))
        if len(methods) < 2:
            raise ValueError(f"a paired comparison needs two methods; these results hold {methods}")
        for given in (method_a, method_b):
            if given is not None and given not in methods:
                raise ValueError(f"method {given!r} is not in these results; valid: {', '.join(methods)}")
        a = method_a or ("tavaal" if "tavaal" in methods else methods[0])
        b = method_b or ("random" if "random" in methods and a != "random" else next(m for m in methods if m != a))
        self.method_a = widgets.Dropdown(options=methods, value=a, description="a")
        self.method_b = widgets.Dropdown(options=methods, value=b, description="b")
        self.confidence = widgets.SelectionSlider(options=[0.8, 0.9, 0.95, 0.99], value=0.95, description="interval")
        self.table = widgets.HTML()
        self._watch(self.group_selector, self.method_a, self.method_b, self.confidence)
        self._finish([self.group_selector, widgets.HBox([self.method_a, self.method_b, self.confidence]), self.table])

    def rows(self) -> list[PairedComparison]:
        return compare_paired(self.results, self.method_a.value, self.method_b.value, self.confidence.value)

    def _build(self) -> go.Figure:
        a, b = self.method_a.value, self.method_b.value
        if a == b:
            self.table.value = "<i>pick two different methods</i>"
            return go.Figure(layout={"title": "pick two different methods"})
        rows = self.rows()
        acc_a, acc_b = per_trial_accuracy(self.results, a), per_trial_accuracy(self.results, b)
        per_trial = {t: [(acc_a[t].get(r.labeled_size) or math.nan) - (acc_b[t].get(r.labeled_size) or math.nan)
                         for r in rows] for t in sorted(set(acc_a) & set(acc_b))}
        cells = "".join(
            f"<tr><td>{r.labeled_size}</td><td>{r.trials}</td><td>{r.mean_difference:+.2f}</td>"
            f"<td>{'' if math.isnan(r.low) else f'[{r.low:+.2f}, {r.high:+.2f}]'}</td><td>{r.sign_test_p:.3f}</td>"
            f"<td>{'' if r.trials_needed is None else r.trials_needed}</td><td>{r.verdict}</td></tr>" for r in rows)
        self.table.value = ("<table><tr><th>labeled</th><th>trials</th><th>mean a-b</th><th>interval</th>"
                            "<th>sign test p</th><th>trials needed</th><th>reading</th></tr>" + cells + "</table>")
        return paired_difference_figure(rows, per_trial, a, b, self.confidence.value)
