"""Whole training steps as CUDA graphs (``Config.cuda_graphs``), and the device-side bookkeeping they update.

A training step here is a plain Python function over *static* tensors: the parameters, the optimizer
state, the precomputed batch positions and a :class:`DeviceTally` that holds the loss sums, the first
non-finite step and a step counter. The eager path calls that function; :class:`GraphedStep` runs the
same function eagerly for a few warm-up calls on its own side stream (real training steps, on their real
batches), then captures one call into a ``torch.cuda.CUDAGraph`` and from then on replays it: one
host call per step instead of hundreds of kernel launches. There is one implementation of a step's
maths; the graph only changes how often the host has to issue it.

What a captured step may do: read its batch through the tally's counter (:meth:`DeviceTally.row`,
an ``index_select`` on the device, never a Python integer) or from a static buffer the caller fills
with ``copy_``, draw random numbers only from generators registered with the graph (the default CUDA
generator is registered by the capture itself; the training generator is passed in ``generators``),
and keep every Python-side constant it bakes in (learning rate, batch size, whether the Ranker's
features are detached) fixed: when one changes, the caller builds a new :class:`GraphedStep`.
Philox-based generators advance by the same offsets per replay as per eager call, so a replay draws
the numbers the eager step would have drawn.

Everything about a graph happens on the run's device, not the current one: warm-up, capture and
replay run inside ``torch.cuda.device(device)``, on streams made for that device, with the capture
stream passed explicitly (``--device cuda:1`` would otherwise capture on cuda:0 and replay nothing).
A capture that records no work is an error. A capture that fails for any reason is released
(the capture ended, the stream restored, the device synchronised, the cache emptied), warned about
once per step name and run, recorded (:func:`eager_fallbacks`, which the loop writes into the
session entry), and that step runs eagerly for the rest of the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["DeviceTally", "GraphedStep", "WARMUP_STEPS", "CaptureError", "fetch", "eager_fallbacks",
           "clear_eager_fallbacks"]

WARMUP_STEPS = 3
"""Eager calls on a side stream before capture (PyTorch's documented pattern): they create the optimizer
state and let cuDNN pick its algorithms, so the captured step is the steady-state one."""

EMPTY_CAPTURE = "graph is empty"
"""What PyTorch's warning says when a capture recorded nothing (usually: the wrong device or stream)."""

_FALLBACKS: dict[str, str] = {}
"""Steps whose capture failed in this run: step name -> the error. Process-wide, like the CUDA context it
describes; :func:`tavaal_nb.loop.run_experiment` clears it when a run starts."""


class CaptureError(RuntimeError):
    """A capture that cannot be replayed (it recorded no work)."""


def eager_fallbacks() -> dict[str, str]:
    """The steps that run eagerly because their capture failed in this run: step name -> the error."""
    return dict(_FALLBACKS)


def clear_eager_fallbacks() -> None:
    """Forget earlier capture failures: the next run tries to capture every step again."""
    _FALLBACKS.clear()


def fetch(*tensors: Tensor) -> list[list[Any]]:
    """The values of several tensors as lists, read with one device-to-host transfer (one sync).

    Read as float64, which holds every float32 value and every integer below 2**53 exactly, so each value
    is the one its own ``.tolist()`` would give (integers come back as Python ints)."""
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors]).tolist()
    values, start = [], 0
    for tensor in tensors:
        part = flat[start:start + tensor.numel()]
        values.append(part if tensor.is_floating_point() else [int(v) for v in part])
        start += tensor.numel()
    return values


class DeviceTally:
    """Loss sums, the first non-finite step and a step counter, all on the device.

    :meth:`add` updates them with device ops only, so a step (eager or captured) never waits for
    the host; the caller reads them once per epoch or per block of iterations (:func:`fetch`).
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

    ``step`` takes no arguments: it reads static tensors only (see the module). ``device`` is the CUDA
    device its tensors live on (required with ``capture``); ``name`` says which step it is in warnings
    and in :func:`eager_fallbacks`. ``generators`` are the non-default generators it draws from;
    ``optimizers`` have their gradients set to None before the capture, so the captured backward
    allocates them from the graph's private memory pool. ``share_pool_with``: another step whose
    graph's memory pool this one's capture joins (one pool for both, replayed one after the other, never
    at once). Each step makes one warm-up stream and one capture stream, the first time it needs them:
    two graphs alive together are captured on different streams, so each has its own cuBLAS workspace
    (pytorch#193402: destroying a graph frees the workspace of its capture stream), and the allocator,
    which hands a freed block only to the stream that freed it, never gives one graph's blocks to the
    other.

    The call that captures also replays, so every call is one real step. Without ``capture`` (the CPU,
    ``cuda_graphs`` off, or a step of this name whose capture failed earlier in the run) every call is
    a plain eager call of ``step``.
    """

    def __init__(self, step: Callable[[], None], capture: bool, device: torch.device | str | None = None,
                 name: str = "training step", generators: Iterable[torch.Generator] = (),
                 optimizers: Iterable[torch.optim.Optimizer] = (), warmup: int = WARMUP_STEPS,
                 share_pool_with: GraphedStep | None = None) -> None:
        self.step, self.name, self.warmup = step, name, int(warmup)
        self.device = None if device is None else torch.device(device)
        if capture and (self.device is None or self.device.type != "cuda"):
            raise ValueError(f"a captured step needs the CUDA device its tensors are on, got {self.device}; "
                             f"pass device=torch.device('cuda', index), or capture=False")
        self.capture = bool(capture) and name not in _FALLBACKS
        self.generators, self.optimizers = tuple(generators), tuple(optimizers)
        self.share_pool_with = share_pool_with
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._warmup_stream: torch.cuda.Stream | None = None
        self._capture_stream: torch.cuda.Stream | None = None

    def __call__(self) -> None:
        if not self.capture:
            self.step()
        elif self.graph is not None:
            with torch.cuda.device(self.device):
                self.graph.replay()
        elif self.calls < self.warmup:
            self._warm_up()
        else:
            self._capture_or_fall_back()
        self.calls += 1

    def _warm_up(self) -> None:
        with torch.cuda.device(self.device):
            if self._warmup_stream is None:
                self._warmup_stream = torch.cuda.Stream(device=self.device)
            current = torch.cuda.current_stream(self.device)
            self._warmup_stream.wait_stream(current)
            with torch.cuda.stream(self._warmup_stream):
                self.step()
            current.wait_stream(self._warmup_stream)

    def _capture_or_fall_back(self) -> None:
        with torch.cuda.device(self.device):
            previous = torch.cuda.current_stream(self.device)
            graph = torch.cuda.CUDAGraph()
            try:
                self._capture(graph)
            except Exception as error:  # noqa: BLE001 - any capture failure: release, warn once, run eagerly
                self._release(graph, previous)
                self._fall_back(error)
                if not isinstance(error, CaptureError):  # an empty capture ran its work uncaptured already
                    self.step()  # this call's real step, eagerly
                return
            self.graph = graph
            graph.replay()

    def _capture(self, graph: torch.cuda.CUDAGraph) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        if hasattr(graph, "register_generator_state"):  # newer torch registers generators lazily, may drop it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
                for generator in self.generators:
                    if generator.device.type == "cuda":
                        graph.register_generator_state(generator)
        if self._capture_stream is None:
            self._capture_stream = torch.cuda.Stream(device=self.device)
        sibling = self.share_pool_with
        pool = sibling.graph.pool() if sibling is not None and sibling.graph is not None else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with torch.cuda.graph(graph, pool=pool, stream=self._capture_stream):
                self.step()
        for warning in caught:
            if EMPTY_CAPTURE in str(warning.message).lower():
                raise CaptureError(f"the capture recorded no work on {self.device} ({warning.message})")
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)

    def _release(self, graph: torch.cuda.CUDAGraph, previous: torch.cuda.Stream) -> None:
        """Undo what a failed capture may have left: capture mode, the capture stream as current, the
        gradients allocated from the graph's pool, the graph itself, queued work and cached blocks."""
        capture_stream = self._capture_stream

        def end_capture() -> None:
            if capture_stream is not None:
                with torch.cuda.stream(capture_stream):
                    if torch.cuda.is_current_stream_capturing():
                        graph.capture_end()

        for action in (end_capture, lambda: torch.cuda.set_stream(previous),
                       *(lambda o=o: o.zero_grad(set_to_none=True) for o in self.optimizers),
                       graph.reset, lambda: torch.cuda.synchronize(self.device), torch.cuda.empty_cache):
            try:
                action()
            except Exception:  # noqa: BLE001,S112 - best effort: each release step is tried on its own
                continue

    def _fall_back(self, error: BaseException) -> None:
        self.capture = False
        if self.name in _FALLBACKS:
            return
        while error.__context__ is not None:  # the error inside the capture, not what ending it raised next
            error = error.__context__
        first = (str(error).strip().splitlines() or [""])[0][:300]
        _FALLBACKS[self.name] = f"{type(error).__name__}: {first}"
        warnings.warn(f"CUDA graph capture of the {self.name} failed ({_FALLBACKS[self.name]}); "
                      f"that step runs eagerly for the rest of this run", RuntimeWarning, stacklevel=4)
