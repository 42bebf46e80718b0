"""A live view of a running experiment: progress, training loss per epoch, accuracy per cycle."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import ipywidgets as widgets
import plotly.graph_objects as go

from tavaal_nb.analysis.plots import dashboard_figure
from tavaal_nb.callbacks import Callback
from tavaal_nb.classroom.widgets._base import View
from tavaal_nb.config import Config
from tavaal_nb.markup import text
from tavaal_nb.strategies.base import Selection

__all__ = ["LiveDashboard"]


class LiveDashboard(View, Callback):
    """A :class:`~tavaal_nb.callbacks.Callback` that draws a run while it happens: a progress bar over
    every (method, trial, cycle), a status line, the task model's training loss per epoch and
    the test accuracy after each cycle, one line per (method, trial).

    Redraws are throttled: the hooks only append numbers, and the figure is updated at most
    once per ``min_interval`` seconds (default 0.5 s, 2 s for static figures; plus once when
    each run starts and ends), touching only the lines that changed. Measured on the ``ci``
    preset, whose cycles last a fraction of a second, the dashboard took under 2 % of the run
    (FigureWidget) and about 2-6 % (static); at real sizes it is far below 1 %. With ``keep_selections`` the
    latest query of each method is kept in ``.selections[method] = (trial, cycle, Selection)``
    (VAAL / TA-VAAL ones carry the latent means for :class:`LatentExplorer`).

    Example::

        from tavaal_nb import make_config, run_experiment
        from tavaal_nb.classroom.widgets import LiveDashboard
        dashboard = LiveDashboard()
        display(dashboard)             # show it first, then run
        results = run_experiment(make_config("ci", methods=("random", "tavaal")), callbacks=[dashboard],
                                 progress=False)
    """

    def __init__(self, min_interval: float | None = None, keep_selections: bool = True, static: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        View.__init__(self, static)
        if min_interval is None:  # a static redraw re-sends the whole figure: less often
            min_interval = 2.0 if self.static else 0.5
        self.min_interval = float(min_interval)
        self.keep_selections = keep_selections
        self.clock = clock
        self.series: dict[tuple[str, int], dict[str, list]] = {}
        self.selections: dict[str, tuple[int, int, Selection]] = {}
        self.cycles_done = 0
        self._changed: set[tuple[str, int]] = set()
        self._trace_keys: list[tuple[str, int]] | None = None
        self._last_draw = -math.inf
        self._dirty = False
        self._started: float | None = None
        self._epochs = 1
        self._cycles = 1
        self._now = "waiting for a run to start"
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="cycles done",
                                            style={"description_width": "initial"})
        self.status = widgets.HTML()
        self._finish([widgets.HBox([self.progress, self.status])])

    # ------------------------------------------------------------------ Callback hooks
    def on_run_start(self, method: str, trial: int, config: Config) -> None:
        if self._started is None:
            self._started = time.perf_counter()
            self.progress.max = max(1, config.trials * len(config.methods) * config.cycles)
        self._epochs, self._cycles = config.epochs, config.cycles
        self.series.setdefault((method, trial), {"epoch": [], "loss": [], "size": [], "accuracy": []})
        self._now = f"{method}, trial {trial}: starting"
        self.redraw()  # a new pair of lines: draw now

    def on_epoch_end(self, method: str, trial: int, cycle: int, epoch: int, loss: float) -> None:
        data = self.series.setdefault((method, trial), {"epoch": [], "loss": [], "size": [], "accuracy": []})
        data["epoch"].append(cycle * self._epochs + epoch + 1)
        data["loss"].append(float(loss))
        self._changed.add((method, trial))
        self._now = (f"{method}, trial {trial}, cycle {cycle + 1}/{self._cycles}, epoch {epoch + 1}/{self._epochs}: "
                     f"loss {loss:.3f}")
        self._maybe_redraw()

    def on_cycle_end(self, method: str, trial: int, record: dict, selection: Selection | None) -> None:
        data = self.series.setdefault((method, trial), {"epoch": [], "loss": [], "size": [], "accuracy": []})
        data["size"].append(record["labeled_size"])
        data["accuracy"].append(record["test_accuracy"])
        self._changed.add((method, trial))
        self.cycles_done += 1
        if self.keep_selections and selection is not None:
            self.selections[method] = (trial, record["cycle"], selection)
        self._now = (f"{method}, trial {trial}, cycle {record['cycle'] + 1}/{self._cycles}: "
                     f"{record['labeled_size']} labeled, accuracy {record['test_accuracy']:.2f}%")
        self._maybe_redraw()

    def on_run_end(self, method: str, trial: int, run: dict) -> None:
        self._now = f"{method}, trial {trial}: finished"
        self.redraw()

    # ------------------------------------------------------------------ drawing
    def _maybe_redraw(self) -> None:
        if self.clock() - self._last_draw >= self.min_interval:
            self.redraw()
        else:
            self._dirty = True

    def flush(self) -> None:
        """Draw what arrived since the last redraw (the hooks do this themselves at run ends)."""
        if self._dirty:
            self.redraw()

    def _status_text(self) -> str:
        elapsed = "" if self._started is None else f" &middot; {time.perf_counter() - self._started:.0f} s"
        return f"<small>{self.cycles_done}/{self.progress.max} &middot; {text(self._now)}{elapsed}</small>"

    def _build(self) -> go.Figure:
        return dashboard_figure(self.series)

    def redraw(self) -> None:
        if self._holding:
            return
        self._last_draw = self.clock()
        self._dirty = False
        self.progress.value = min(self.cycles_done, self.progress.max)
        self.status.value = self._status_text()
        keys = list(self.series)
        if self.static or keys != self._trace_keys:
            self._trace_keys = keys
            self._show(self._build())
        elif self._changed:
            self.redraws += 1
            with self.figure.batch_update():
                for key in self._changed:
                    k = keys.index(key)
                    data = self.series[key]
                    self.figure.data[2 * k].update(x=list(data["epoch"]), y=list(data["loss"]))
                    self.figure.data[2 * k + 1].update(x=list(data["size"]), y=list(data["accuracy"]))
        self._changed = set()
