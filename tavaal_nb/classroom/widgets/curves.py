"""Learning curves: accuracy against labeled-set size, mean and +-1 std over trials (paper Figs. 2-5)."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go

from tavaal_nb.analysis.plots import learning_curves_figure, method_color
from tavaal_nb.classroom.widgets._base import ResultsView
from tavaal_nb.upper_bound import find_upper_bound

__all__ = ["LearningCurves"]


class LearningCurves(ResultsView):
    """Test accuracy against the number of labeled images, one line per method: the mean over
    trials with a shaded band of +-1 (sample) standard deviation; hovering a point lists every
    trial's value. One toggle button per method shows or hides it.

    ``sources``: a results file or directory, a :class:`~tavaal_nb.results.Results`, or a list of
    them; directories are searched recursively (a sweep). Runs of the same experiment (same
    dataset and settings, e.g. one directory per method) are pooled; different experiments get
    a selector.

    An ``upper_bound.json`` beside the results (:func:`~tavaal_nb.upper_bound.find_upper_bound`)
    is drawn as a dashed "full pool" line; runs that recorded Fig. 4's plain retraining
    (``retrain_plain``) get dashed "(plain)" curves, shown while the "plain retraining" toggle
    is on (``plain`` sets it at the start).

    Example::

        from tavaal_nb.classroom.widgets import LearningCurves
        view = LearningCurves(["runs/fm-tavaal", "runs/fm-random"])
        view                                  # in Jupyter: toggles above the plot
        view.toggles["random"].value = False  # hide a method from Python
        view.export("curves.html")
    """

    def __init__(self, sources, methods: Sequence[str] | None = None, static: bool | None = None,
                 title: str = "Test accuracy against labeled-set size",
                 plain: bool = True) -> None:
        super().__init__(sources, static)
        self.title = title
        self.upper_bounds = {label: find_upper_bound(members) for label, members in self.members.items()}
        self.plain_toggle = widgets.ToggleButton(value=plain, description="plain retraining",
                                                 tooltip="dashed: the task model retrained without the Ranker (Fig. 4)",
                                                 layout=widgets.Layout(width="auto"))
        everything = list(dict.fromkeys(m for result in self.groups.values() for m in result.methods))
        shown = set(everything if methods is None else methods)
        self.toggles = {
            method: widgets.ToggleButton(value=method in shown, description=method, tooltip=f"show {method}",
                                         layout=widgets.Layout(width="auto"))
            for method in everything
        }
        for method, toggle in self.toggles.items():
            toggle.style.text_color = method_color(method)
            toggle.style.font_weight = "bold"
        self._watch(self.group_selector, self.plain_toggle, *self.toggles.values())
        self._finish([self.group_selector, widgets.HBox([*self.toggles.values(), self.plain_toggle])])

    @property
    def methods(self) -> list[str]:
        """The methods currently shown."""
        return [m for m, toggle in self.toggles.items() if toggle.value]

    def _build(self) -> go.Figure:
        label = self.group_selector.value
        title = self.title + (f": {label}" if len(self.groups) > 1 else "")
        return learning_curves_figure([self.results], methods=self.methods, title=title,
                                      upper_bound=self.upper_bounds[label], plain=self.plain_toggle.value)
