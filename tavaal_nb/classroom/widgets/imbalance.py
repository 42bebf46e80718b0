"""Build an imbalanced train pool class by class (the paper's Table 1)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as widgets
import plotly.graph_objects as go
from torch import Tensor

from tavaal_nb.analysis.model_figures import imbalance_figure
from tavaal_nb.classroom.widgets._base import View
from tavaal_nb.data.imbalance import IMBALANCE_PROFILES, apply_imbalance, imbalance_counts
from tavaal_nb.metrics import class_entropy

__all__ = ["ImbalanceBuilder"]


class ImbalanceBuilder(View):
    """One slider per class count, a button per preset (the three rows of the paper's Table 1,
    the public code's 100x profile, and ``balanced``), a bar chart of the counts and their
    class-count entropy ``-sum_c p_c log p_c`` (nats). ``.counts`` hands the chosen counts to
    the data layer: ``.apply(labels, seed)`` returns the indices of a random pool with those
    counts (:func:`tavaal_nb.data.apply_imbalance`).

    Example::

        from tavaal_nb.classroom.widgets import ImbalanceBuilder
        builder = ImbalanceBuilder()
        builder.presets["entropy-1.65"].click()
        round(builder.entropy, 3)                         # 1.657, Table 1's first row
        keep = builder.apply(data.train_labels, seed=0)   # indices into the pool
    """

    def __init__(self, counts: Sequence[int] | str = "entropy-1.89", class_names: Sequence[str] | None = None,
                 max_count: int = 5000, step: int = 10, static: bool | None = None) -> None:
        super().__init__(static)
        start = imbalance_counts(counts)
        self.class_names = list(class_names) if class_names is not None else [f"class {k}" for k in range(len(start))]
        if len(self.class_names) != len(start):
            raise ValueError(f"{len(self.class_names)} class names for {len(start)} counts")
        self.max_count = max(max_count, max(start))
        self.sliders = [
            widgets.IntSlider(value=c, min=0, max=self.max_count, step=step, description=name,
                              continuous_update=False, style={"description_width": "80px"})
            for c, name in zip(start, self.class_names)
        ]
        profiles = {name: list(IMBALANCE_PROFILES[name]) for name in IMBALANCE_PROFILES
                    if len(IMBALANCE_PROFILES[name]) == len(start)}
        profiles["balanced"] = [self.max_count] * len(start)
        self.profiles = profiles
        self.presets: dict[str, widgets.Button] = {}
        for name, values in profiles.items():
            button = widgets.Button(description=name, tooltip=f"counts {values}", layout=widgets.Layout(width="auto"))
            button.on_click(lambda _button, values=values: self.set_counts(values))
            self.presets[name] = button
        self._readout = widgets.HTML()
        self._watch(*self.sliders)
        grid = widgets.GridBox(self.sliders, layout=widgets.Layout(grid_template_columns="repeat(2, 360px)"))
        self._finish([widgets.HBox(list(self.presets.values())), grid, self._readout])

    @property
    def counts(self) -> list[int]:
        """The chosen images per class, in class order."""
        return [s.value for s in self.sliders]

    @property
    def entropy(self) -> float:
        """Class-count entropy of :attr:`counts` in nats (NaN when every count is 0)."""
        return class_entropy(self.counts) if sum(self.counts) > 0 else float("nan")

    def set_counts(self, counts: Sequence[int] | str) -> None:
        """Set every slider at once (a list of counts or a profile name), with one redraw."""
        values = self.profiles[counts] if isinstance(counts, str) and counts in self.profiles else imbalance_counts(counts)
        if len(values) != len(self.sliders):
            raise ValueError(f"{len(values)} counts for {len(self.sliders)} classes")
        with self.hold():
            for slider, value in zip(self.sliders, values):
                slider.max = max(slider.max, value)
                slider.value = value

    def apply(self, labels: Tensor, seed: int = 0) -> Tensor:
        """Sorted indices of a random subset of ``labels`` with :attr:`counts` images per class."""
        return apply_imbalance(labels, self.counts, seed=seed)

    def _build(self) -> go.Figure:
        entropy = self.entropy
        balanced = math.log(len(self.sliders))
        self._readout.value = (f"<small>{sum(self.counts):,} images; class-count entropy "
                               f"<b>{entropy:.3f}</b> nats (balanced: {balanced:.3f})</small>")
        return imbalance_figure(self.counts, self.class_names)
