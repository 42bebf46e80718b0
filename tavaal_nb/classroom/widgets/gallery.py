"""Thumbnails of the samples a method selected in one query, with their classes."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import torch

from tavaal_nb.analysis.model_figures import image_grid_figure
from tavaal_nb.classroom.widgets._base import View
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.markup import text
from tavaal_nb.results import Results, load_results

__all__ = ["SelectionGallery"]


def checked_indices(values: Any, size: int, hint: str = "") -> list[int]:
    """``values`` (a sequence, array or tensor of pool indices) as a list of ints, every one checked: integers in
    ``0 .. size - 1``; else one ValueError naming the first bad one, where it is and how many are bad."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"indices must be a sequence of integers in 0..{size - 1}, got {type(values).__name__}")
    flat = values.reshape(-1).tolist() if hasattr(values, "reshape") and hasattr(values, "tolist") else list(values)
    wrong = [(k, v) for k, v in enumerate(flat) if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
    if wrong:
        k, v = wrong[0]
        raise ValueError(f"indices must be integers: {len(wrong)} of {len(flat)} are not (the first, at position {k}, "
                         f"is {v!r} of type {type(v).__name__})")
    outside = [(k, int(v)) for k, v in enumerate(flat) if not 0 <= int(v) < size]
    if outside:
        k, v = outside[0]
        raise ValueError(f"index {v} (at position {k}) is outside the {size} images given; {len(outside)} of "
                         f"{len(flat)} indices lie outside 0..{size - 1}" + (f": {hint}" if hint else ""))
    return [int(v) for v in flat]


class SelectionGallery(View):
    """The images a query selected (first ``max_images``, in the order the method ranked them),
    each captioned with its class. Give the train pool the results index into (an
    :class:`~tavaal_nb.data.ImageData`, or a uint8 ``(N, C, H, W)`` tensor plus ``labels``) and
    either ``results`` (a Results, file or directory: then method, trial and cycle selectors
    appear) or ``indices`` (pool indices to show).

    Example::

        from tavaal_nb.experiment_data import prepare_data
        from tavaal_nb.classroom.widgets import SelectionGallery
        data = prepare_data(config)              # the pool the run used
        view = SelectionGallery(data, results="runs/fm-imb", method="tavaal", cycle=0)
        view.captions                            # the classes shown
    """

    def __init__(self, images: ImageData | torch.Tensor, labels: Sequence[int] | torch.Tensor | None = None, *,
                 results: Results | str | None = None, indices: Sequence[int] | torch.Tensor | None = None,
                 class_names: Sequence[str] | None = None, method: str | None = None, trial: int = 0,
                 cycle: int = 0, max_images: int = 40, columns: int = 10, static: bool | None = None) -> None:
        super().__init__(static)
        if isinstance(images, ImageData):
            labels = images.train_labels if labels is None else labels
            class_names = images.class_names if class_names is None else class_names
            images = images.train_images
        if labels is None:
            raise ValueError("give the labels of the images (or an ImageData)")
        self.images = torch.as_tensor(images)
        self.labels = torch.as_tensor(labels).reshape(-1).cpu()
        if self.images.shape[0] != self.labels.numel():
            raise ValueError(f"{self.images.shape[0]} images but {self.labels.numel()} labels")
        self.class_names = list(class_names) if class_names is not None else [str(k) for k in range(int(self.labels.max()) + 1)]
        self.max_images, self.columns = max_images, columns
        self.results: Results | None = None
        self._fixed = None if indices is None else checked_indices(indices, self.images.shape[0])
        if (results is None) == (indices is None):
            raise ValueError("give either results (to pick a method, trial and cycle) or indices")
        controls: list[widgets.Widget] = []
        if results is not None:
            found = load_results(results)
            if len(found) != 1:
                raise ValueError(f"a gallery shows one results file; {len(found)} were found")
            self.results = found[0]
            methods = self.results.methods
            self.method = widgets.Dropdown(options=methods, value=method if method in methods else methods[0],
                                           description="method")
            trials = sorted({run["trial"] for run in self.results.runs})
            self.trial = widgets.Dropdown(options=trials, value=trial if trial in trials else trials[0],
                                          description="trial", layout=widgets.Layout(width="160px"))
            queries = max(len(run["cycles"]) for run in self.results.runs)
            self.cycle = widgets.IntSlider(min=0, max=max(0, queries - 2), value=min(cycle, max(0, queries - 2)),
                                           description="cycle", continuous_update=False)
            self._watch(self.method, self.trial, self.cycle)
            controls.append(widgets.HBox([self.method, self.trial, self.cycle]))
        self._info = widgets.HTML()
        controls.append(self._info)
        self._finish(controls)

    @property
    def indices(self) -> list[int]:
        """Pool indices of every image the chosen query selected (all of them, not just those shown)."""
        if self._fixed is not None:
            return self._fixed
        assert self.results is not None  # __init__ takes results or indices, exactly one
        run = self.results.run(self.method.value, self.trial.value)
        if run is None or self.cycle.value >= len(run["cycles"]):
            return []
        return list(run["cycles"][self.cycle.value].get("selected_indices") or [])

    @property
    def shown(self) -> list[int]:
        """Pool indices of the images drawn (the first ``max_images``)."""
        return self.indices[: self.max_images]

    @property
    def captions(self) -> list[str]:
        """The class name under each drawn image."""
        return [self.class_names[int(self.labels[i])] for i in self.shown]

    def _build(self) -> go.Figure:
        checked_indices(self.indices, self.images.shape[0], "pass the train pool the results were made on "
                        "(tavaal_nb.experiment_data.prepare_data(config))")  # every index, not only those drawn
        shown = self.shown
        where = ("" if self._fixed is not None
                 else f"{self.method.value}, trial {self.trial.value}, query of cycle {self.cycle.value}: ")
        total = len(self.indices)
        counts: dict[str, int] = {}
        for i in self.indices:
            name = self.class_names[int(self.labels[i])]
            counts[name] = counts.get(name, 0) + 1
        self._info.value = ("<small>" + text(where) + f"{total} selected, classes: "
                            + ", ".join(f"{text(name)} x{n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
                            + "</small>")
        if not shown:
            fig = go.Figure()
            fig.update_layout(title=where + "no selection (the last cycle makes no query)", template="plotly_white",
                              height=200, xaxis={"visible": False}, yaxis={"visible": False})
            return fig
        title = where + (f"the first {len(shown)} of {total} selected" if total > len(shown) else f"{total} selected")
        index = torch.as_tensor(shown, dtype=torch.long)
        return image_grid_figure(self.images[index.to(self.images.device)].cpu(), self.captions, self.columns, title)
