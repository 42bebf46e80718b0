"""The two ranking losses of the paper, eq. 1 (Learning Loss) and eq. 4 (TA-VAAL's Ranker), for one pair."""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go

from tavaal_nb.analysis.figure_data import ranking_loss_curves, ranking_loss_values
from tavaal_nb.analysis.model_figures import ranking_loss_figure
from tavaal_nb.classroom.widgets._base import View

__all__ = ["RankingLossExplorer"]


class RankingLossExplorer(View):
    """Move two predicted losses ``l^_i``, ``l^_j`` and the true order of ``l_i``, ``l_j``; see
    eq. 1 (``max(0, -I (l^_i - l^_j) + margin)``, ``I = +-1``) and eq. 4
    (``BCE(sig(l^_i - l^_j), I)``, ``I = 1 / 0``) and their gradients with respect to ``l^_i``,
    computed by the package's loss functions and autograd. Both depend only on the gap
    ``l^_i - l^_j``: eq. 1 stops pushing once the right order is ahead by the margin (zero
    gradient), eq. 4 keeps a gradient that fades smoothly.

    Example::

        from tavaal_nb.classroom.widgets import RankingLossExplorer
        view = RankingLossExplorer()
        view.pred_i.value, view.pred_j.value = 0.3, 0.8
        view.values        # {'eq1': 1.5, 'eq1_grad_i': -1.0, 'eq4': 0.974..., ...}
    """

    def __init__(self, pred_i: float = 0.5, pred_j: float = 0.0, i_greater: bool = True, margin: float = 1.0,
                 static: bool | None = None) -> None:
        super().__init__(static)
        slider = {"min": -3.0, "max": 3.0, "step": 0.05, "readout_format": ".2f",
                  "style": {"description_width": "initial"}}
        self.pred_i = widgets.FloatSlider(value=pred_i, description="predicted loss l^_i", **slider)
        self.pred_j = widgets.FloatSlider(value=pred_j, description="predicted loss l^_j", **slider)
        self.order = widgets.ToggleButtons(options=[("true order: l_i > l_j", True), ("l_i <= l_j", False)],
                                           value=bool(i_greater), style={"button_width": "auto"})
        self.margin = widgets.FloatSlider(value=margin, min=0.0, max=2.0, step=0.1, readout_format=".1f",
                                          description="margin (eq. 1)", style={"description_width": "initial"})
        self._readout = widgets.HTML()
        self._curves: dict[tuple[bool, float], dict] = {}
        self._watch(self.pred_i, self.pred_j, self.order, self.margin)
        self._finish([widgets.HBox([self.pred_i, self.pred_j]), widgets.HBox([self.order, self.margin]),
                      self._readout])

    @property
    def values(self) -> dict[str, float]:
        """Eq. 1 and eq. 4 and their gradients (``*_grad_i``, ``*_grad_j``) at the current pair."""
        return ranking_loss_values(self.pred_i.value, self.pred_j.value, self.order.value, self.margin.value)

    def _build(self) -> go.Figure:
        key = (self.order.value, round(self.margin.value, 6))
        if key not in self._curves:
            gaps = [-4.0 + 8.0 * k / 160 for k in range(161)]
            self._curves[key] = ranking_loss_curves(key[0], key[1], gaps)
        v = self.values
        self._readout.value = (
            f"<small>eq. 1 = {v['eq1']:.4f}, d/dl^_i = {v['eq1_grad_i']:+.4f}, d/dl^_j = {v['eq1_grad_j']:+.4f}"
            f" &nbsp;|&nbsp; eq. 4 = {v['eq4']:.4f}, d/dl^_i = {v['eq4_grad_i']:+.4f}, "
            f"d/dl^_j = {v['eq4_grad_j']:+.4f}</small>")
        return ranking_loss_figure(self.pred_i.value, self.pred_j.value, self.order.value, self.margin.value,
                                   curves=self._curves[key])
