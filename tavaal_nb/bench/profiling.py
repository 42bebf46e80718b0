"""Host work and GPU busy time of the bench's phases, from ``torch.profiler`` events.

:func:`host_ops_per_step` counts the operator calls one task step or one VAE/D iteration costs the
host (countable on a CPU: the launch overhead a GPU waits on); :func:`busy_fraction` is the share of
wall time during which the GPU ran something, measured in the steady state and cross-checked against
``nvidia-smi`` sampled over the same window (:class:`SmiSampler`). A process that captures CUDA graphs is
profiled with PyTorch's workarounds in place (:func:`prepare_profiler_for_graphs`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from tavaal_nb.bench.phases import PHASE_NAMES, PHASES, BenchRow, Phases, bench_data
from tavaal_nb.config import Config
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.training import Runtime, synchronize

if TYPE_CHECKING:
    from torch._C._profiler import _ProfilerEvent

__all__ = ["COPY_OPS", "NO_KERNEL_OPS", "HOST_OP_STEPS", "count_host_ops", "profile_phase", "host_ops_of",
           "host_ops_per_step", "device_busy_seconds", "busy_fraction", "gpu_busy", "format_host_work",
           "prepare_profiler_for_graphs", "SmiSampler", "percent"]

COPY_OPS = frozenset({"aten::copy_", "aten::to", "aten::_to_copy"})
"""The operators of a dtype/device/layout copy (``.to()``, ``.float()``, ``copy_``)."""
NO_KERNEL_OPS = frozenset({
    "aten::view", "aten::_unsafe_view", "aten::reshape", "aten::_reshape_alias", "aten::as_strided", "aten::t",
    "aten::transpose", "aten::permute", "aten::expand", "aten::slice", "aten::select", "aten::unsqueeze",
    "aten::squeeze", "aten::detach", "aten::detach_", "aten::alias", "aten::empty", "aten::empty_like",
    "aten::empty_strided", "aten::resize_", "aten::split", "aten::chunk", "aten::unbind", "aten::flatten",
    "aten::contiguous", "aten::lift_fresh", "aten::set_", "aten::is_nonzero", "aten::result_type",
    "aten::broadcast_tensors", "aten::narrow", "aten::expand_as", "aten::view_as", "aten::unflatten",
    "aten::resolve_conj", "aten::resolve_neg", "aten::item", "aten::_local_scalar_dense", "aten::zeros_like",
    "aten::ones_like"})
"""Operators that only make, re-describe or read a tensor (no kernel of their own on a GPU; ``zeros_like``
and the like launch through the ``fill_``/``zero_`` they call): not counted as launches."""
HOST_OP_STEPS = (8, 16)
"""The two step counts whose profiles are subtracted by :func:`host_ops_per_step`: with CUDA graphs both
include the warm-ups and the capture, so the difference is replays only."""


def _has_aten_parent(event: Any) -> bool:
    parent = getattr(event, "cpu_parent", None)
    while parent is not None:
        if parent.name.startswith("aten::"):
            return True
        parent = getattr(parent, "cpu_parent", None)
    return False


def count_host_ops(events: Iterable[Any]) -> dict[str, int]:
    """Operator calls in a list of profiler events (``torch.profiler.profile(...).events()``).

    * ``aten_ops``: top-level ``aten::`` events (no ``aten::`` event above them): the operators
      that Python code and the autograd engine dispatch, each of which costs host time;
    * ``aten_calls``: every ``aten::`` event, nested ones included (``aten::to`` calls ``aten::_to_copy``,
      which calls ``aten::copy_``: three);
    * ``copies``: the ``aten::copy_``, ``aten::to`` and ``aten::_to_copy`` events, nested included;
    * ``cpu_events``: every host event (operators, autograd nodes, optimizer and CUDA runtime calls);
    * ``launches``: ``aten::`` events that do work (not in :data:`NO_KERNEL_OPS`) with no such event
      below them: about one kernel each on a GPU (an estimate countable on the CPU; a cuDNN convolution
      may launch two or three, and the CPU's own kernels decompose a little differently).

    Device-side events (kernels, memcpys) are not counted.
    """
    host = [e for e in events if getattr(e, "device_type", DeviceType.CPU) == DeviceType.CPU]
    aten = [e for e in host if e.name.startswith("aten::")]
    below: dict[int, bool] = {}  # id(event) -> whether an operator that does work runs inside it

    def work_below(event: Any) -> bool:
        key = id(event)
        if key not in below:
            children = getattr(event, "cpu_children", None) or ()
            below[key] = any(_does_work(c) or work_below(c) for c in children)
        return below[key]

    return {"aten_ops": sum(not _has_aten_parent(e) for e in aten), "aten_calls": len(aten),
            "copies": sum(e.name in COPY_OPS for e in aten), "cpu_events": len(host),
            "launches": sum(_does_work(e) and not work_below(e) for e in aten)}


def _does_work(event: Any) -> bool:
    return event.name.startswith("aten::") and event.name not in NO_KERNEL_OPS


@dataclass(eq=False)
class Event:
    """One profiler event, as :func:`count_host_ops` and :func:`device_busy_seconds` read it."""

    name: str
    device_type: DeviceType
    time_range: SimpleNamespace  # start, end: microseconds
    cpu_parent: Event | None = None
    cpu_children: list[Event] = field(default_factory=list)


_NOT_HOST_WORK = ("allocation", "outofmemory", "pycall", "pyccall")
"""Tags of the profiler's event tree that are not host work (memory records, Python frames)."""


def profiler_events(prof: profile) -> list[Event]:
    """The host events of a finished profile, from the profiler's C++ event tree (with their parents and
    children), and its device events (kernels, memcpys) from the raw Kineto records. ``prof.events()``
    would build the same from Python objects, about 50x slower (seconds per thousand operators)."""
    results = None if prof.profiler is None else prof.profiler.kineto_results
    if results is None:
        raise ValueError("profiler_events needs a finished profile: read it after its `with profile(...)` block "
                         "has ended")
    events: list[Event] = []
    stack: list[tuple[_ProfilerEvent, Event | None]] = [(node, None) for node in results.experimental_event_tree()]
    while stack:
        node, parent = stack.pop()
        if str(node.tag).split(".")[-1].lower() in _NOT_HOST_WORK:
            continue
        event = Event(node.name, DeviceType.CPU,
                      SimpleNamespace(start=node.start_time_ns / 1e3, end=node.end_time_ns / 1e3), parent)
        if parent is not None:
            parent.cpu_children.append(event)
        events.append(event)
        stack.extend((child, event) for child in node.children)
    for raw in results.events():
        if raw.device_type() == DeviceType.CUDA:
            start = raw.start_ns() / 1e3
            events.append(Event(raw.name(), DeviceType.CUDA, SimpleNamespace(start=start,
                                                                              end=start + raw.duration_ns() / 1e3)))
    return events


def profile_phase(phases: Phases, phase: str, steps: int, cuda: bool = False) -> list[Event]:
    """The profiler events of ``steps`` units of ``phase`` (CPU activity, and CUDA with ``cuda``)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        phases.run(phase, steps)
        synchronize(phases.device)
    return profiler_events(prof)


def host_ops_of(phases: Phases, steps: tuple[int, int] = HOST_OP_STEPS) -> dict[str, dict[str, float]]:
    """:func:`host_ops_per_step` on phases already built and warmed up."""
    low, high = steps
    result: dict[str, dict[str, float]] = {}
    for phase in ("task", "vae"):
        few, many = (count_host_ops(profile_phase(phases, phase, n)) for n in (low, high))
        result[phase] = {key: (many[key] - few[key]) / (high - low) for key in many}
    return result


def host_ops_per_step(config: Config, data: ImageData | None = None,
                      steps: tuple[int, int] = HOST_OP_STEPS) -> dict[str, dict[str, float]]:
    """Host operator calls per task-model optimizer step (``"task"``) and per VAE/D iteration
    (``"vae"``): the host work that CPU-bound launch overhead on a GPU is made of, countable on a CPU.

    Each phase is warmed up, then run under ``torch.profiler.profile(activities=[CPU])`` twice, for
    ``steps[0]`` and for ``steps[1]`` steps; the counts of :func:`count_host_ops` (``aten_ops``,
    ``aten_calls``, ``copies``, ``cpu_events``) of the two runs are subtracted and divided by the
    difference of the step counts, so what a call does once (building optimizers, the per-epoch
    or per-block host sync) drops out and the numbers are exactly the marginal cost of one step.
    ``data`` defaults to the bench's synthetic images of the dataset's shape.
    """
    data = data if data is not None else bench_data(config, max(steps), 64)
    if Runtime.resolve(config, config.resolved_device()).cuda_graphs:
        prepare_profiler_for_graphs(config.resolved_device())
    phases = Phases(config, data)
    for phase in ("task", "vae"):
        phases.warm_up(phase)
    return host_ops_of(phases, steps)


def device_busy_seconds(events: Iterable[Any]) -> float:
    """Seconds during which the GPU ran something: the union of the intervals of the device-side
    events (kernels, memcpys, memsets: ``device_type`` CUDA) of a profile, so that kernels that overlap
    on several streams count once. On one stream this is the sum of the kernel durations."""
    spans = sorted((e.time_range.start, e.time_range.end) for e in events
                   if getattr(e, "device_type", None) == DeviceType.CUDA)
    busy, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop <= end:
            continue
        busy += stop - max(start, end)
        end = stop
    return busy / 1e6  # profiler times are microseconds


def busy_fraction(events: Iterable[Any], wall_s: float) -> float:
    """GPU busy: :func:`device_busy_seconds` of ``events`` over ``wall_s`` seconds of wall time."""
    if wall_s <= 0:
        raise ValueError(f"wall time must be positive, got {wall_s}")
    return device_busy_seconds(events) / wall_s


def prepare_profiler_for_graphs(device: torch.device) -> dict[str, Any] | None:
    """PyTorch's workarounds for profiling a process that captures CUDA graphs, applied before any capture:
    CUPTI teardown off (``TEARDOWN_CUPTI=0``, ``DISABLE_CUPTI_LAZY_REINIT=1``: re-initialising CUPTI after a
    teardown crashes in such a process) and the profiler initialised once before the first capture
    (``torch.profiler._utils._init_for_cuda_graphs``, pytorch#75504: a profiler that first starts after a
    capture can crash or misreport graph kernels). Values already in the environment are kept. Returns
    what was done (None off CUDA). Busy figures from such a profiler are cross-checked against
    ``nvidia-smi`` (:func:`gpu_busy`): on some stacks the early profiler session leaves kernel events out."""
    if device.type != "cuda":
        return None
    os.environ.setdefault("TEARDOWN_CUPTI", "0")
    os.environ.setdefault("DISABLE_CUPTI_LAZY_REINIT", "1")
    global _PROFILER_READY
    initialised = False
    if not _PROFILER_READY:
        try:
            from torch.profiler._utils import _init_for_cuda_graphs
        except ImportError:  # a torch without it: nothing to initialise
            pass
        else:
            _init_for_cuda_graphs()
            initialised = True
        _PROFILER_READY = True
    return {key: os.environ[key] for key in ("TEARDOWN_CUPTI", "DISABLE_CUPTI_LAZY_REINIT")} | {
        "initialised_now": initialised}


_PROFILER_READY = False


class SmiSampler:
    """``nvidia-smi``'s utilisation of ``device``'s GPU, sampled every ``interval_ms`` while the block runs.

    ``samples`` (percent) and ``mean`` (a fraction) are empty / None where there is no ``nvidia-smi`` or
    the device is not CUDA. The GPU is named as ``CUDA_VISIBLE_DEVICES`` names it, if set."""

    def __init__(self, device: torch.device, interval_ms: int = 250) -> None:
        self.device, self.interval_ms = device, interval_ms
        self.samples: list[float] = []
        self._process: subprocess.Popen | None = None

    def _gpu(self) -> str:
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
        return visible[index] if index < len(visible) else str(index)

    def __enter__(self) -> SmiSampler:
        executable = shutil.which("nvidia-smi")
        if executable is not None and self.device.type == "cuda":
            self._process = subprocess.Popen(
                [executable, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-lms", str(self.interval_ms), "-i", self._gpu()],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            out, _ = self._process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            out, _ = self._process.communicate()
        for line in out.splitlines():
            try:
                self.samples.append(float(line.strip()))
            except ValueError:
                continue

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) / 100 if self.samples else None


def gpu_busy(phases: Phases, rows: list[BenchRow], steps: int) -> dict[str, dict[str, float | None]]:
    """Per phase, GPU busy in the steady state and over one profiled window, cross-checked.

    ``steady``: device-busy seconds of the long run minus the short run's (:meth:`Phases.time`'s lengths),
    under the profiler (CPU and CUDA activities), over the same difference of wall seconds timed without
    it (``rows``), so neither the profiler's overhead nor the set-up and capture dilute it (scoring: one
    pass). ``window_profiler`` and ``window_smi``: the long run's device-busy share of its own wall time
    under the profiler, and nvidia-smi's mean utilisation sampled every 250 ms over that same window."""
    result = {}
    for phase, row in zip(PHASES, rows):
        long = steps if phase == "scoring" else 2 * phases.steady_steps(steps)
        few = 0.0 if phase == "scoring" else device_busy_seconds(
            profile_phase(phases, phase, phases.steady_steps(steps), cuda=True))
        with SmiSampler(phases.device) as smi:
            tic = time.perf_counter()
            many = device_busy_seconds(profile_phase(phases, phase, long, cuda=True))
            wall = time.perf_counter() - tic
        result[phase] = {"steady": (many - few) / row.seconds, "window_profiler": many / wall,
                         "window_smi": smi.mean}
    return result


def percent(value: float | None) -> str:
    """A fraction as a whole percentage, or "-" when there is none."""
    return "-" if value is None else f"{100 * value:.0f}%"


def format_host_work(meta: dict) -> list[str]:
    """The lines under the bench table: host operator calls per step, and GPU busy per phase."""
    lines = []
    ops = meta.get("host_ops_per_step")
    if ops:
        lines.append("host operator calls per step (torch.profiler, marginal over "
                     f"{HOST_OP_STEPS[0]} -> {HOST_OP_STEPS[1]} steps): " + "; ".join(
                         f"{label} {ops[key]['aten_ops']:.0f} aten ops ({ops[key]['aten_calls']:.0f} with nested, "
                         f"{ops[key]['copies']:.0f} copy_/to/_to_copy, {ops[key]['cpu_events']:.0f} host events, "
                         f"~{ops[key].get('launches', 0):.0f} kernel launches)"
                         for key, label in (("task", "task step"), ("vae", "VAE/D iteration")) if key in ops))
    busy = meta.get("gpu_busy")
    if busy:
        def name(key: str) -> str:
            return PHASE_NAMES[key].split(" (")[0]

        lines.append("GPU busy, steady state (profiler device time / wall time): "
                     + ", ".join(f"{name(k)} {percent(v['steady'])}" for k, v in busy.items()))
        lines.append("GPU busy over the long run's window, profiler vs nvidia-smi: "
                     + ", ".join(f"{name(k)} {percent(v['window_profiler'])} vs {percent(v['window_smi'])}"
                                 for k, v in busy.items()))
    return lines
