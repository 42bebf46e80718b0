"""Paired comparison of two methods: the area under the learning curve first, then the difference at each
labeled size, with intervals and p values corrected for the number of comparisons the table shows
(:mod:`tavaal_nb.analysis.multiplicity`), the sign test and the number of trials a gap would need."""

from __future__ import annotations

import itertools
import math

import ipywidgets as widgets
import plotly.graph_objects as go

from tavaal_nb.analysis.multiplicity import CorrectedComparison, comparison_family, family_header
from tavaal_nb.analysis.plots import paired_difference_figure
from tavaal_nb.analysis.stats import per_trial_accuracy
from tavaal_nb.classroom.widgets._base import ResultsView
from tavaal_nb.markup import text

__all__ = ["PairedComparisonView"]

FAMILIES = {"pair": "this table (the pair picked)", "all pairs": "every pair of methods in this experiment"}
"""What the intervals are corrected over: the comparisons the table shows, or those of every pair of methods."""


class PairedComparisonView(ResultsView):
    """Pick two methods and see ``a - b``: first the area under the learning curve (AULC, the primary summary),
    then each labeled-set size, each trial's difference as a dot. Intervals are simultaneous over the family of
    comparisons (Bonferroni), p values Holm-adjusted over it; the caption says how many comparisons that is.
    The family is the table's rows by default (``family="pair"``); ``family="all pairs"`` corrects over every pair
    of methods of the experiment, for a reader who will look through all of them. A difference is "clear" only when
    its interval excludes 0 and, with a ``noise_floor`` (points; 0 or None: none), exceeds the noise floor.

    Example::

        from tavaal_nb.classroom.widgets import PairedComparisonView
        PairedComparisonView("results/cpu/sweep", method_a="tavaal", method_b="random")
    """

    def __init__(self, sources, method_a: str | None = None, method_b: str | None = None,
                 static: bool | None = None, noise_floor: float | None = None, family: str = "pair") -> None:
        super().__init__(sources, static)
        methods = list(dict.fromkeys(m for result in self.groups.values() for m in result.methods))
        if len(methods) < 2:
            raise ValueError(f"a paired comparison needs two methods; these results hold {methods}")
        for given in (method_a, method_b):
            if given is not None and given not in methods:
                raise ValueError(f"method {given!r} is not in these results; valid: {', '.join(methods)}")
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(map(repr, FAMILIES))}, got {family!r}")
        if noise_floor is not None and (not math.isfinite(noise_floor) or noise_floor < 0):
            raise ValueError(f"noise_floor must be None or a finite number >= 0 (points), got {noise_floor}")
        a = method_a or ("tavaal" if "tavaal" in methods else methods[0])
        b = method_b or ("random" if "random" in methods and a != "random" else next(m for m in methods if m != a))
        self.method_a = widgets.Dropdown(options=methods, value=a, description="a")
        self.method_b = widgets.Dropdown(options=methods, value=b, description="b")
        self.confidence = widgets.SelectionSlider(options=[0.8, 0.9, 0.95, 0.99], value=0.95, description="interval")
        self.family = widgets.Dropdown(options=[(label, key) for key, label in FAMILIES.items()], value=family,
                                       description="correct over", style={"description_width": "initial"})
        self.noise_floor = widgets.BoundedFloatText(value=noise_floor or 0.0, min=0.0, max=100.0, step=0.1,
                                                    description="noise floor", style={"description_width": "initial"})
        self.table = widgets.HTML()
        self._watch(self.group_selector, self.method_a, self.method_b, self.confidence, self.family, self.noise_floor)
        self._finish([self.group_selector, widgets.HBox([self.method_a, self.method_b, self.confidence]),
                      widgets.HBox([self.family, self.noise_floor]), self.table])

    def family_rows(self) -> list[CorrectedComparison]:
        """Every comparison of the family the intervals are corrected over, the picked pair's first."""
        a, b = self.method_a.value, self.method_b.value
        pairs = [(a, b)]
        if self.family.value == "all pairs":
            pairs += [pair for pair in itertools.combinations(self.results.methods, 2) if set(pair) != {a, b}]
        return comparison_family(self.results, pairs, self.confidence.value, self.noise_floor.value or None)

    def rows(self) -> list[CorrectedComparison]:
        """The picked pair's comparisons: the AULC first, then each labeled size."""
        a, b = self.method_a.value, self.method_b.value
        return [row for row in self.family_rows() if (row.method_a, row.method_b) == (a, b)]

    def _build(self) -> go.Figure:
        a, b = self.method_a.value, self.method_b.value
        if a == b:
            self.table.value = "<i>pick two different methods</i>"
            return go.Figure(layout={"title": "pick two different methods"})
        try:
            family = self.family_rows()
        except ValueError as error:  # e.g. a method not (yet) run in the selected experiment
            self.table.value = f"<i>{text(error)}</i>"
            return go.Figure(layout={"title": str(error)})
        rows = [row for row in family if (row.method_a, row.method_b) == (a, b)]
        by_size = [row for row in rows if row.labeled_size is not None]
        sizes = [size for row in by_size if (size := row.labeled_size) is not None]
        acc_a, acc_b = per_trial_accuracy(self.results, a), per_trial_accuracy(self.results, b)
        per_trial = {t: [(acc_a[t].get(size) or math.nan) - (acc_b[t].get(size) or math.nan) for size in sizes]
                     for t in sorted(set(acc_a) & set(acc_b))}
        shown = f" (this table shows the {len(rows)} of {text(a)} minus {text(b)})" if len(family) > len(rows) else ""
        cells = "".join(
            f"<tr><td>{text(r.label)}</td><td>{r.trials}</td><td>{r.mean_difference:+.2f}</td>"
            f"<td>{'' if math.isnan(r.low) else f'[{r.low:+.2f}, {r.high:+.2f}]'}</td>"
            f"<td>{'' if math.isnan(r.p_holm) else f'{r.p_holm:.3f}'}</td><td>{r.sign_test_p:.3f}</td>"
            f"<td>{'' if r.trials_needed is None else r.trials_needed}</td><td>{text(r.verdict)}</td></tr>"
            for r in rows)
        self.table.value = (f"<p><b>{text(family_header(family))}</b>{shown}. The AULC (mean accuracy over the sizes "
                            "both reached) is the primary comparison; the sizes come after it.</p>"
                            "<table><tr><th>comparison</th><th>trials</th><th>mean a-b</th>"
                            f"<th>{text(rows[0].interval) if rows else 'interval'}</th><th>Holm-adjusted p</th>"
                            "<th>sign test p (uncorrected)</th><th>trials needed (this family, 80 % power)</th><th>reading</th></tr>"
                            + cells + "</table>")
        interval = rows[0].interval if rows else None
        return paired_difference_figure(by_size, per_trial, a, b, self.confidence.value, interval)
