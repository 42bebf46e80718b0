"""Whole training steps as CUDA graphs (``Config.cuda_graphs``), and the device-side bookkeeping they update.

A training step here is a plain Python function over *static* tensors: the parameters, the optimizer
state, the precomputed batch positions and a :class:`DeviceTally` that holds the loss sums, the first
non-finite step and a step counter. The eager path calls that function; :class:`GraphedStep` runs the
same function eagerly for a few warm-up calls on a side stream (real training steps, on their real
batches), then captures one call into a ``torch.cuda.CUDAGraph`` and from then on replays it: one
host call per step instead of hundreds of kernel launches. There is one implementation of a step's
maths; the graph only changes how often the host has to issue it.

What a captured step may do: read its batch through the tally's counter (:meth:`DeviceTally.row`,
an ``index_select`` on the device, never a Python integer), draw random numbers only from generators
registered with the graph (the default CUDA generator is registered by the capture itself; the
training generator is passed in ``generators``), and keep every Python-side constant it bakes in
(learning rate, batch size, whether the Ranker's features are detached) fixed: when one changes,
the caller builds a new :class:`GraphedStep`. Philox-based generators advance by the same offsets
per replay as per eager call, so a replay draws the numbers the eager step would have drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

__all__ = ["DeviceTally", "GraphedStep", "WARMUP_STEPS"]

WARMUP_STEPS = 3
"""Eager calls on a side stream before capture (PyTorch's documented pattern): they create the optimizer
state and let cuDNN pick its algorithms, so the captured step is the steady-state one."""


class DeviceTally:
    """Loss sums, the first non-finite step and a step counter, all on the device.

    :meth:`add` updates them with device ops only, so a step (eager or captured) never waits for
    the host; the caller reads them once per epoch or per block of iterations.
    """

    def __init__(self, sums_shape: tuple[int, ...], checks_shape: tuple[int, ...], device: torch.device) -> None:
        self.sums = torch.zeros(sums_shape, device=device)
        self.first_bad = torch.full(checks_shape, -1, dtype=torch.long, device=device)
        self.step = torch.zeros((), dtype=torch.long, device=device)

    def add(self, losses: Tensor, checked: Tensor) -> None:
        """Add ``losses`` to the sums; where ``checked`` is not finite, and no earlier step was, record this step."""
        self.sums += losses
        bad = ~torch.isfinite(checked)
        self.first_bad.copy_(torch.where(bad & (self.first_bad < 0), self.step, self.first_bad))
        self.step += 1

    def row(self, table: Tensor) -> Tensor:
        """``table[step]`` for the current step, gathered on the device (capturable; no host sync)."""
        return table.index_select(0, self.step.view(1)).squeeze(0)

    def reset(self) -> None:
        self.sums.zero_()
        self.first_bad.fill_(-1)
        self.step.zero_()


class GraphedStep:
    """Call ``step()`` eagerly, or, with ``capture``, as a CUDA graph after :data:`WARMUP_STEPS` eager calls.

    ``step`` takes no arguments: it reads static tensors only (see the module). ``generators`` are the
    non-default generators it draws from; ``optimizers`` have their gradients set to None before the
    capture, so the captured backward allocates them from the graph's private memory pool. The call
    that captures also replays, so every call is one real step. Without ``capture`` (the CPU, or
    ``cuda_graphs`` off) every call is a plain eager call of ``step``.
    """

    def __init__(self, step: Callable[[], None], capture: bool, generators: Iterable[torch.Generator] = (),
                 optimizers: Iterable[torch.optim.Optimizer] = (), warmup: int = WARMUP_STEPS) -> None:
        self.step, self.capture, self.warmup = step, bool(capture), int(warmup)
        self.generators, self.optimizers = tuple(generators), tuple(optimizers)
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None

    def __call__(self) -> None:
        if not self.capture:
            self.step()
        elif self.graph is not None:
            self.graph.replay()
        elif self.calls < self.warmup:
            self._warm_up()
        else:
            self._capture()
            self.graph.replay()
        self.calls += 1

    def _warm_up(self) -> None:
        current = torch.cuda.current_stream()
        side = torch.cuda.Stream()
        side.wait_stream(current)
        with torch.cuda.stream(side):
            self.step()
        current.wait_stream(side)

    def _capture(self) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            if generator.device.type == "cuda":
                graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            self.step()
        self.graph = graph
