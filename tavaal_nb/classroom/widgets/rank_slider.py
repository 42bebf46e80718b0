"""Decoded images as the rank variable r moves (the decoder p(x | z, r) of eq. 6)."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go
import torch

from tavaal_nb.analysis.model_figures import image_grid_figure
from tavaal_nb.classroom.widgets._base import View
from tavaal_nb.markup import text

__all__ = ["RankSlider"]


class RankSlider(View):
    """The same codes decoded with one value of ``r`` at a time: move the slider and watch what the
    conditional VAE's decoder does with the Ranker's predicted loss, all else fixed.

    ``decoded`` is the uint8 tensor ``(K, N, C, H, W)`` of
    :func:`tavaal_nb.analysis.decode_with_r` (row ``k``: every image decoded with ``r = r_values[k]``);
    the view only indexes it, so moving the slider costs nothing. The top row shows the images at the
    slider's ``r``, the bottom row at the lowest ``r``; the readout gives the mean absolute change
    between the two (grey levels, 0-255). ``question`` is printed above the controls.

    Example::

        sweep = decode_with_r(vae, images[:6], r_values, augmenter)
        view = RankSlider(sweep, r_values)
        view.r.value = len(r_values) - 1     # the highest r
        view.change                          # mean |difference| from the lowest r
    """

    def __init__(self, decoded: torch.Tensor, r_values: Sequence[float], question: str | None = None,
                 static: bool | None = None) -> None:
        super().__init__(static)
        decoded = torch.as_tensor(decoded).detach().cpu()
        if decoded.dtype != torch.uint8 or decoded.ndim != 5:
            raise ValueError("decoded must be a uint8 tensor (K, N, C, H, W): decode_with_r's output")
        self.r_values = [float(v) for v in r_values]
        if decoded.shape[0] != len(self.r_values) or len(self.r_values) < 2:
            raise ValueError(f"give one r value per row of decoded (at least 2): {decoded.shape[0]} rows, "
                             f"{len(self.r_values)} values")
        if self.r_values != sorted(self.r_values):
            raise ValueError("r_values must be ascending")
        self.decoded = decoded
        self.r = widgets.IntSlider(value=0, min=0, max=len(self.r_values) - 1, description="r step",
                                   readout=False, continuous_update=True)
        self._readout = widgets.HTML()
        controls: list[widgets.Widget] = [widgets.HBox([self.r, self._readout])]
        if question:
            controls.insert(0, widgets.HTML(f"<b>Question.</b> {text(question)}"))
        self._watch(self.r)
        self._finish(controls)

    @property
    def value(self) -> float:
        """The rank variable the top row is decoded with (raw Ranker units)."""
        return self.r_values[self.r.value]

    @property
    def change(self) -> float:
        """Mean absolute difference (grey levels) between the images at the slider's r and at the lowest r."""
        return (self.decoded[self.r.value].float() - self.decoded[0].float()).abs().mean().item()

    def _build(self) -> go.Figure:
        count = self.decoded.shape[1]
        self._readout.value = (f"<small>r = {self.value:.3f} (decoder input sig(r) = "
                               f"{torch.sigmoid(torch.tensor(self.value)).item():.3f}); mean change from the lowest "
                               f"r: {self.change:.2f} grey levels</small>")
        images = torch.cat([self.decoded[self.r.value], self.decoded[0]])
        captions = [f"r={self.value:.2f}"] * count + [f"r={self.r_values[0]:.2f}"] * count
        return image_grid_figure(images, captions, columns=count,
                                 title="Top: decoded with the slider's r. Bottom: the same codes with the lowest r")
