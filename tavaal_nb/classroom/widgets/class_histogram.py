"""The discriminator's scores on the candidates of one query, stacked by true class (eq. 9 by class)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import plotly.graph_objects as go
import torch

from tavaal_nb.classroom.widgets._base import View
from tavaal_nb.markup import text
from tavaal_nb.strategies.base import Selection
from tavaal_nb.strategies.vaal import DISCRIMINATOR_SCORES

__all__ = ["ClassDiscriminatorHistogram"]


class ClassDiscriminatorHistogram(View):
    """``D(r, mu)`` over the candidates of one VAAL / TA-VAAL query, one colour per true class, with the
    threshold of eq. 9: the ``k`` lowest scores are labeled. The slider moves ``k`` (it starts at the
    query's budget, the threshold actually used); the list under it gives the classes left of the
    threshold, most frequent first: which classes a selection of ``k`` would label.

    ``selections``: one :class:`~tavaal_nb.strategies.base.Selection` or ``{method: Selection}`` (a
    selector appears); ``labels``: the classes of the whole train pool the candidate indices point into.
    Bins span the scores' own range (D often bunches far from 0 and 1). ``question`` is printed above.

    Example::

        recorder = SelectionRecorder(); run_experiment(config, callbacks=[recorder])
        view = ClassDiscriminatorHistogram({"tavaal": recorder.selections[("tavaal", 0, 0)]}, data.train_labels,
                                           class_names=data.class_names)
        view.left_counts          # {class name: how many of the selected candidates}
    """

    def __init__(self, selections: Selection | Mapping[str, Selection], labels: Sequence[int] | torch.Tensor,
                 class_names: Sequence[str] | None = None, bins: int = 30, question: str | None = None,
                 static: bool | None = None) -> None:
        super().__init__(static)
        self.selections = dict(selections) if isinstance(selections, Mapping) else {"selection": selections}
        if not self.selections:
            raise ValueError("give at least one Selection")
        for name, selection in self.selections.items():
            if selection.strategy_data.get(DISCRIMINATOR_SCORES) is None:
                raise ValueError(f"{name}: this Selection has no discriminator scores (only vaal and tavaal have them)")
        self.labels = torch.as_tensor(labels).reshape(-1).cpu().long()
        count = int(self.labels.max()) + 1
        self.class_names = list(class_names) if class_names is not None else [str(c) for c in range(count)]
        if len(self.class_names) < count:
            raise ValueError(f"{len(self.class_names)} class names for labels up to {count - 1}")
        if bins < 1:
            raise ValueError(f"bins must be a positive integer, got {bins}")
        self.bins = bins
        self.method = widgets.ToggleButtons(options=list(self.selections), description="query",
                                            style={"button_width": "auto"})
        if len(self.selections) == 1:
            self.method.layout.display = "none"
        self.k = widgets.IntSlider(description="label the k lowest", min=1, style={"description_width": "initial"})
        self._listing = widgets.HTML()
        self._fit_slider()
        self.method.observe(lambda _change: self._fit_slider(), names="value")
        self._watch(self.method, self.k)
        controls: list[widgets.Widget] = [self.method, self.k, self._listing]
        if question:
            controls.insert(0, widgets.HTML(f"<b>Question.</b> {text(question)}"))
        self._finish(controls)

    def _fit_slider(self) -> None:
        selection = self.selections[self.method.value]
        with self.hold():
            self.k.max = selection.candidates.numel()
            self.k.value = selection.indices.numel()

    @property
    def scores(self) -> torch.Tensor:
        """D on the candidates of the query shown."""
        return self.selections[self.method.value].strategy_data[DISCRIMINATOR_SCORES].detach().float().cpu()

    @property
    def candidate_classes(self) -> torch.Tensor:
        """The true class of each candidate of the query shown."""
        return self.labels[self.selections[self.method.value].candidates.cpu().long()]

    @property
    def threshold(self) -> float:
        """The k-th lowest score: every candidate at or below it is labeled."""
        return torch.sort(self.scores).values[self.k.value - 1].item()

    @property
    def left_counts(self) -> dict[str, int]:
        """Classes of the ``k`` lowest-D candidates (eq. 9 with ``b = k``), most frequent first."""
        order = torch.argsort(self.scores, stable=True)[: self.k.value]
        counts = torch.bincount(self.candidate_classes[order], minlength=len(self.class_names)).tolist()
        named = [(self.class_names[c], n) for c, n in enumerate(counts) if n]
        return dict(sorted(named, key=lambda pair: -pair[1]))

    def _build(self) -> go.Figure:
        scores, classes = self.scores, self.candidate_classes
        low, high = scores.min().item(), scores.max().item()
        width = max(high - low, 1e-6) / self.bins
        position = ((scores - low) / width).floor().clamp(0, self.bins - 1).long()
        centres = [low + (b + 0.5) * width for b in range(self.bins)]
        fig = go.Figure()
        for c, name in enumerate(self.class_names):
            mask = classes == c
            if mask.any():
                fig.add_trace(go.Bar(x=centres, y=torch.bincount(position[mask], minlength=self.bins).tolist(),
                                     width=width, name=name))
        threshold = self.threshold
        fig.add_vline(x=threshold, line_dash="dot", line_color="black",
                      annotation_text=f"k = {self.k.value}: D <= {threshold:.4f}", annotation_position="top right")
        listing = ", ".join(f"{text(name)} x{n}" for name, n in self.left_counts.items())
        self._listing.value = f"<small>left of the line ({self.k.value} candidates): {listing}</small>"
        fig.update_layout(barmode="stack", template="plotly_white", yaxis_title="candidates",
                          xaxis_title="D(r, mu) (bins over the scores' range)", title=f"D on the candidates by true class: {self.method.value}")
        return fig
