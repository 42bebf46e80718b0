"""Paired comparison of two methods: per-trial differences, their confidence interval, a sign test and
the number of trials a gap would need (the honest way to read Figs. 2-5 with few trials)."""

from __future__ import annotations

import math

import ipywidgets as widgets
import plotly.graph_objects as go

from tavaal_nb.markup import text
from tavaal_nb.analysis.plots import paired_difference_figure
from tavaal_nb.analysis.stats import PairedComparison, compare_paired, per_trial_accuracy
from tavaal_nb.classroom.widgets._base import ResultsView

__all__ = ["PairedComparisonView"]


class PairedComparisonView(ResultsView):
    """Pick two methods and see ``a - b`` per labeled-set size: the trials' differences, their mean with a
    Student-t interval, the exact sign test and how many paired trials the gap seen would need
    (:mod:`tavaal_nb.analysis.stats`). Because every method of a trial starts from the same labeled set, a gap
    smaller than the learning curves' bands can still be clear here.

    Example::

        from tavaal_nb.classroom.widgets import PairedComparisonView
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
        try:
            rows = self.rows()
        except ValueError as error:  # e.g. a method not (yet) run in the selected experiment
            self.table.value = f"<i>{text(error)}</i>"
            return go.Figure(layout={"title": str(error)})
        acc_a, acc_b = per_trial_accuracy(self.results, a), per_trial_accuracy(self.results, b)
        per_trial = {t: [(acc_a[t].get(r.labeled_size) or math.nan) - (acc_b[t].get(r.labeled_size) or math.nan)
                         for r in rows] for t in sorted(set(acc_a) & set(acc_b))}
        cells = "".join(
            f"<tr><td>{r.labeled_size}</td><td>{r.trials}</td><td>{r.mean_difference:+.2f}</td>"
            f"<td>{'' if math.isnan(r.low) else f'[{r.low:+.2f}, {r.high:+.2f}]'}</td><td>{r.sign_test_p:.3f}</td>"
            f"<td>{'' if r.trials_needed is None else r.trials_needed}</td><td>{text(r.verdict)}</td></tr>" for r in rows)
        self.table.value = ("<table><tr><th>labeled</th><th>trials</th><th>mean a-b</th><th>interval</th>"
                            "<th>sign test p</th><th>trials needed</th><th>reading</th></tr>" + cells + "</table>")
        return paired_difference_figure(rows, per_trial, a, b, self.confidence.value)
