"""The sandbox as an interactive view: strategy, budget, imbalance and cycle under one figure."""

from __future__ import annotations

import time
from collections.abc import Callable

import ipywidgets as widgets
import plotly.graph_objects as go
from torch import Tensor

from tavaal_nb.classroom.sandbox.figures import sandbox_figure
from tavaal_nb.classroom.sandbox.pool import ToyPool, make_toy_pool
from tavaal_nb.classroom.sandbox.run import SandboxRun, run_sandbox
from tavaal_nb.classroom.sandbox.strategies import SANDBOX_STRATEGIES, SandboxContext, SandboxStrategy, scoring_strategy
from tavaal_nb.classroom.widgets._base import View
from tavaal_nb.markup import text

__all__ = ["SandboxView"]


class SandboxView(View):
    """Move the sliders; the sandbox re-picks and redraws.

    A run is computed the first time its (strategy, budget, imbalance) is asked for, only up to the
    cycle shown, and cached, so moving the cycle slider back and forth costs nothing but drawing.
    ``reference`` (default ``"random"``; None for none) is drawn dashed in the accuracy panel.
    :meth:`add_strategy` puts a learner's own scoring function into the dropdown.

    Example::

        view = SandboxView(kind="moons", strategy="entropy")
        view.cycle.value = 3          # cycle 3's picks and decision regions
        view.run.accuracy             # accuracy (%) of cycles 0..3
    """

    def __init__(self, kind: str = "moons", strategy: str = "entropy", budget: int = 10, imbalance: float = 1.0,
                 cycle: int = 0, initial: int = 10, cycles: int = 8, largest: int = 300, seed: int = 0,
                 reference: str | None = "random", static: bool | None = None) -> None:
        super().__init__(static)
        if strategy not in SANDBOX_STRATEGIES:
            raise ValueError(f"unknown sandbox strategy {strategy!r}; valid: {', '.join(SANDBOX_STRATEGIES)}")
        if reference is not None and reference not in SANDBOX_STRATEGIES:
            raise ValueError(f"unknown reference strategy {reference!r}; valid: None, {', '.join(SANDBOX_STRATEGIES)}")
        self.kind, self.initial, self.largest, self.seed, self.reference = kind, initial, largest, seed, reference
        self.strategies: dict[str, SandboxStrategy] = dict(SANDBOX_STRATEGIES)
        self._pools: dict[float, ToyPool] = {}
        self._runs: dict[tuple[str, int, float], SandboxRun] = {}
        self.last_redraw_s = 0.0
        wide = {"description_width": "initial"}
        self.strategy = widgets.Dropdown(options=list(self.strategies), value=strategy, description="strategy",
                                         style=wide)
        self.budget = widgets.IntSlider(value=budget, min=1, max=40, description="budget per cycle", style=wide)
        self.imbalance = widgets.FloatSlider(value=imbalance, min=1.0, max=20.0, step=0.5, readout_format=".1f",
                                             description="imbalance (largest / smallest class)", style=wide)
        self.cycle = widgets.IntSlider(value=cycle, min=0, max=cycles - 1, description="cycle", style=wide)
        self._readout = widgets.HTML()
        self._watch(self.strategy, self.budget, self.imbalance, self.cycle)
        self._finish([widgets.HBox([self.strategy, self.budget]), widgets.HBox([self.imbalance, self.cycle]),
                      self._readout])

    def add_strategy(self, strategy: SandboxStrategy | Callable[[SandboxContext], Tensor], name: str | None = None,
                     prefer: str = "highest", select: bool = True) -> SandboxStrategy:
        """Add a :class:`SandboxStrategy` or a scoring function ``fn(context) -> scores`` (the
        ``budget`` highest, or ``prefer="lowest"`` lowest, are picked) to the dropdown; select it."""
        if not isinstance(strategy, SandboxStrategy):
            strategy = scoring_strategy(strategy, name, prefer)
        self.strategies[strategy.name] = strategy
        self._runs = {key: run for key, run in self._runs.items() if key[0] != strategy.name}
        with self.hold():
            self.strategy.options = list(self.strategies)
            if select:
                self.strategy.value = strategy.name
        return strategy

    @property
    def pool(self) -> ToyPool:
        """The pool at the current imbalance (made once per imbalance)."""
        key = float(self.imbalance.value)
        if key not in self._pools:
            self._pools[key] = make_toy_pool(self.kind, self.largest, key, seed=self.seed)
        return self._pools[key]

    def _run_of(self, name: str) -> SandboxRun:
        key = (name, int(self.budget.value), float(self.imbalance.value))
        if key not in self._runs:
            self._runs[key] = run_sandbox(self.pool, self.strategies[name], initial=self.initial,
                                          budget=key[1], cycles=0, seed=self.seed)
        return self._runs[key].advance(self.cycle.value + 1)

    @property
    def run(self) -> SandboxRun:
        """The current strategy's run, computed up to the current cycle."""
        return self._run_of(self.strategy.value)

    def _build(self) -> go.Figure:
        started = time.perf_counter()
        run = self.run
        cycle = min(self.cycle.value, run.cycles - 1)
        references = [self._run_of(self.reference)] if self.reference not in (None, run.name) else []
        figure = sandbox_figure(run, cycle, references)
        self.last_redraw_s = time.perf_counter() - started
        self._readout.value = (f"<small>{text(run.strategy.help)}; accuracy {run.accuracy[cycle]:.1f}% with "
                               f"{run.labeled_sizes[cycle]} labeled points (computed and drawn in "
                               f"{self.last_redraw_s:.2f} s)</small>")
        return figure
