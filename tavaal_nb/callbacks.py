"""The loop's callback protocol (:class:`Callback`), and callbacks for looking inside a run
(:class:`SelectionRecorder`) and for stopping it at a known point (:class:`InterruptAfter`)."""

from __future__ import annotations

from tavaal_nb.config import Config
from tavaal_nb.strategies.base import Selection

__all__ = ["Callback", "SelectionRecorder", "InterruptAfter"]


class Callback:
    """Hooks the loop calls; override what you need (the live dashboard is one)."""

    def on_run_start(self, method: str, trial: int, config: Config) -> None: ...
    def on_epoch_end(self, method: str, trial: int, cycle: int, epoch: int, loss: float) -> None: ...
    def on_cycle_end(self, method: str, trial: int, record: dict, selection: Selection | None) -> None: ...
    def on_run_end(self, method: str, trial: int, run: dict) -> None: ...


class SelectionRecorder(Callback):
    """A :class:`Callback` that keeps what each query saw and chose.

    ``selections[(method, trial, cycle)]`` is the :class:`~tavaal_nb.strategies.Selection` of
    the query made at the end of that cycle (pool indices of the candidates, one score per
    candidate, ``D(mu, r)`` for VAAL and TA-VAAL, the chosen indices); ``records`` holds
    every cycle's record, as written to the results file. Results files keep the scores but
    not the candidate indices, so checks of the selection rule need this callback.
    """

    def __init__(self) -> None:
        self.selections: dict[tuple[str, int, int], Selection] = {}
        self.records: dict[tuple[str, int, int], dict] = {}

    def on_cycle_end(self, method: str, trial: int, record: dict, selection: Selection | None) -> None:
        key = (method, trial, int(record["cycle"]))
        self.records[key] = record
        if selection is not None:
            self.selections[key] = selection


class InterruptAfter(Callback):
    """A callback that stops a run with ``KeyboardInterrupt`` once ``cycles`` cycles have finished
    (counted over every method and trial): what Ctrl-C or a lost Colab session does, at a known
    point, to show (or test) that the results file keeps every finished cycle and ``--resume``
    continues from there."""

    def __init__(self, cycles: int = 1) -> None:
        if cycles < 1:
            raise ValueError(f"cycles must be at least 1, got {cycles}")
        self.cycles, self.finished = cycles, 0

    def on_cycle_end(self, method: str, trial: int, record: dict, selection: Selection | None) -> None:
        self.finished += 1
        if self.finished >= self.cycles:
            raise KeyboardInterrupt(f"interrupted after {self.finished} finished cycle(s), as asked")
