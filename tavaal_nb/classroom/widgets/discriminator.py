"""Histogram of the discriminator's outputs on the candidates, per cycle (paper Fig. 7)."""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go

from tavaal_nb.analysis.plots import discriminator_histogram_figure
from tavaal_nb.classroom.widgets._base import ResultsView
from tavaal_nb.markup import text
from tavaal_nb.results import Results
from tavaal_nb.schema import is_number
from tavaal_nb.strategies.vaal import SELECTION_THRESHOLD, discriminator_scores

__all__ = ["DiscriminatorHistogram"]

ALL = "all"


def _scores(record: dict) -> list[float | None]:
    """The discriminator scores of a record that :attr:`DiscriminatorHistogram.records` kept (it has some)."""
    scores = discriminator_scores(record)
    assert scores is not None  # records keeps only the cycle records with scores
    return scores


def _scored(results: Results) -> tuple[list[str], list[int], list[int]]:
    """Methods, cycles and trials that have discriminator scores (VAAL, TA-VAAL)."""
    methods, cycles, trials = [], set(), set()
    for run in results.runs:
        for k, record in enumerate(run["cycles"]):
            if discriminator_scores(record):
                if run["method"] not in methods:
                    methods.append(run["method"])
                cycles.add(k)
                trials.add(run["trial"])
    return methods, sorted(cycles), sorted(trials)


class DiscriminatorHistogram(ResultsView):
    """How the discriminator ``D(mu, r)`` scored the candidate subset at one cycle (one query):
    counts in equal bins over [0, 1], one colour per method, and a dotted line where the
    selection threshold fell (the largest ``D`` still selected: eq. 9 labels the ``budget``
    candidates with the lowest ``D``, so everything left of the line was chosen). The paper's
    Fig. 7 shows VAAL's outputs bunching up at the last stage while TA-VAAL's stay spread.

    Controls: a cycle slider, a method selector (``all`` overlays them), a trial selector, a
    zoom box (bins over the scores' own range instead of [0, 1], for scores that bunch up) and,
    with several experiments, an experiment selector.

    Example::

        from tavaal_nb.classroom.widgets import DiscriminatorHistogram
        view = DiscriminatorHistogram("runs/fm-imb", bins=40)
        view.cycle.value = 0           # the first query
        view.method.value = "tavaal"
        sum(view.figure.data[0].y)     # == the number of candidates
    """

    def __init__(self, sources, cycle: int | None = None, method: str = ALL, trial: int | None = None,
                 bins: int = 40, zoom: bool = False, static: bool | None = None) -> None:
        super().__init__(sources, static)
        self.bins = bins
        self.cycle = widgets.IntSlider(description="cycle", min=0, max=0, value=0,
                                       style={"description_width": "initial"})
        self.cycle.add_class("tavaal-cycle-slider")
        self.method = widgets.ToggleButtons(description="method", options=[ALL], style={"button_width": "auto"})
        self.trial = widgets.Dropdown(description="trial", options=[0], layout=widgets.Layout(width="160px"))
        self.zoom = widgets.Checkbox(value=zoom, description="zoom to the scores' range", indent=False)
        self._info = widgets.HTML()
        self._configure(cycle, method, trial)
        self.group_selector.observe(lambda _change: self._configure(None, self.method.value, None), names="value")
        self._watch(self.cycle, self.method, self.trial, self.zoom)
        self._finish([self.group_selector, widgets.HBox([self.cycle, self.trial, self.zoom]), self.method, self._info])

    def _configure(self, cycle: int | None, method: str, trial: int | None) -> None:
        """Fit the controls' ranges to the selected experiment."""
        methods, cycles, trials = _scored(self.results)
        if not methods:
            raise ValueError(f"{self.group_selector.value}: no run has discriminator scores "
                             "(only vaal and tavaal record them)")
        with self.hold():
            self.cycle.min = 0  # in this order no intermediate state has min > max
            self.cycle.max = max(cycles)
            self.cycle.min = min(cycles)
            self.cycle.value = max(cycles) if cycle is None else min(max(cycle, min(cycles)), max(cycles))
            self.method.options = [ALL, *methods]
            self.method.value = method if method in self.method.options else ALL
            self.trial.options = trials
            self.trial.value = trials[0] if trial is None or trial not in trials else trial

    @property
    def records(self) -> dict[str, dict]:
        """The cycle records drawn now, by method."""
        out = {}
        for run in self.results.runs:
            if run["trial"] != self.trial.value or (self.method.value != ALL and run["method"] != self.method.value):
                continue
            if self.cycle.value < len(run["cycles"]) and discriminator_scores(run["cycles"][self.cycle.value]):
                out[run["method"]] = run["cycles"][self.cycle.value]
        return out

    def _build(self) -> go.Figure:
        methods = None if self.method.value == ALL else [self.method.value]
        records = self.records
        lines = []
        for name, record in records.items():
            chosen = len(record.get("selected_indices") or [])
            threshold = record["strategy_data"].get(SELECTION_THRESHOLD)
            lines.append(f"<b>{text(name)}</b>: {len(_scores(record))} candidates, {chosen} selected"
                         + (f" (D up to {threshold:.3f})" if is_number(threshold) else ""))
        self._info.value = "<small>" + "; ".join(lines) + "</small>"
        size = next((r["labeled_size"] for r in records.values()), None)
        title = (f"D(mu, r) on the candidates, cycle {self.cycle.value}"
                 + (f" ({size} labeled)" if size is not None else "") + f", trial {self.trial.value}")
        if len(self.groups) > 1:
            title += f": {self.group_selector.value}"
        value_range = (0.0, 1.0)
        if self.zoom.value and records:
            scores = [s for r in records.values() for s in _scores(r) if s is not None]
            low, high = min(scores), max(scores)
            pad = max(1e-6, 0.02 * (high - low))
            value_range = (max(0.0, low - pad), min(1.0, high + pad))
        return discriminator_histogram_figure(self.results, self.cycle.value, methods=methods, trial=self.trial.value,
                                              bins=self.bins, title=title, binned=True, value_range=value_range)
