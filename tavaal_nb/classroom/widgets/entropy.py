"""Class-count entropy of the selected samples per cycle and method (paper Fig. 6)."""

from __future__ import annotations

import plotly.graph_objects as go

from tavaal_nb.analysis.plots import class_entropy_figure
from tavaal_nb.classroom.widgets._base import ResultsView

__all__ = ["ClassEntropyView"]


class ClassEntropyView(ResultsView):
    """Grouped bars: for each query (x: labeled images after it) and method, the entropy of the
    class counts of the samples it selected, ``-sum_c p_c log p_c`` in nats (mean over trials,
    std as an error bar); the dashed line is the entropy of the whole train pool's class counts.
    Balanced selections on a balanced pool reach ``log(classes)``; the paper's Fig. 6 shows
    TA-VAAL keeping it high on imbalanced pools.

    ``sources``: as for :class:`LearningCurves`; with several experiments a selector picks one.

    Example::

        from tavaal_nb.classroom.widgets import ClassEntropyView
        view = ClassEntropyView("runs/fm-imb")
        [bar.y for bar in view.figure.data]   # the entropies drawn, per method
    """

    def __init__(self, sources, static: bool | None = None) -> None:
        super().__init__(sources, static)
        self._watch(self.group_selector)
        self._finish([self.group_selector])

    def _build(self) -> go.Figure:
        label = self.group_selector.value
        return class_entropy_figure(self.results, title=f"Class-count entropy of the selected samples: {label}")
