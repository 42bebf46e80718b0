"""Host work and GPU busy time of the bench's phases, from ``torch.profiler`` events.

:func:`host_ops_per_step` counts the operator calls one task step or one VAE/D iteration costs the
host (countable on a CPU: the launch overhead a GPU waits on); :func:`busy_fraction` is the share of
wall time during which the GPU ran something.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from tavaal_nb.bench.phases import PHASE_NAMES, PHASES, BenchRow, Phases, bench_data
from tavaal_nb.config import Config
from tavaal_nb.data.datasets import ImageData
from tavaal_nb.training import synchronize

__all__ = ["COPY_OPS", "HOST_OP_STEPS", "count_host_ops", "profile_phase", "host_ops_of", "host_ops_per_step",
           "device_busy_seconds", "busy_fraction", "gpu_busy", "format_host_work"]

COPY_OPS = frozenset({"aten::copy_", "aten::to", "aten::_to_copy"})
"""The operators of a dtype/device/layout copy (``.to()``, ``.float()``, ``copy_``)."""
HOST_OP_STEPS = (2, 4)
"""The two step counts whose profiles are subtracted by :func:`host_ops_per_step`."""


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
    * ``cpu_events``: every host event (operators, autograd nodes, optimizer and CUDA runtime calls).

    Device-side events (kernels, memcpys) are not counted.
    """
    host = [e for e in events if getattr(e, "device_type", DeviceType.CPU) == DeviceType.CPU]
    aten = [e for e in host if e.name.startswith("aten::")]
    return {"aten_ops": sum(not _has_aten_parent(e) for e in aten), "aten_calls": len(aten),
            "copies": sum(e.name in COPY_OPS for e in aten), "cpu_events": len(host)}


def profile_phase(phases: Phases, phase: str, steps: int, cuda: bool = False) -> list[Any]:
    """The profiler events of ``steps`` units of ``phase`` (CPU activity, and CUDA with ``cuda``)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        phases.run(phase, steps)
        synchronize(phases.device)
    return list(prof.events())


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


def gpu_busy(phases: Phases, rows: list[BenchRow], steps: int) -> dict[str, float]:
    """Per phase, device-busy seconds under the profiler (CPU and CUDA activities) over the wall seconds
    of the same work timed without it (``rows``): the profiler's own overhead does not dilute it."""
    return {phase: busy_fraction(profile_phase(phases, phase, steps, cuda=True), row.seconds)
            for phase, row in zip(PHASES, rows)}


def format_host_work(meta: dict) -> list[str]:
    """The lines under the bench table: host operator calls per step, and GPU busy per phase."""
    lines = []
    ops = meta.get("host_ops_per_step")
    if ops:
        lines.append("host operator calls per step (torch.profiler, marginal over "
                     f"{HOST_OP_STEPS[0]} -> {HOST_OP_STEPS[1]} steps): " + "; ".join(
                         f"{label} {ops[key]['aten_ops']:.0f} aten ops ({ops[key]['aten_calls']:.0f} with nested, "
                         f"{ops[key]['copies']:.0f} copy_/to/_to_copy, {ops[key]['cpu_events']:.0f} host events)"
                         for key, label in (("task", "task step"), ("vae", "VAE/D iteration")) if key in ops))
    busy = meta.get("gpu_busy")
    if busy:
        lines.append("GPU busy (device time under the profiler / wall time): "
                     + ", ".join(f"{PHASE_NAMES[k].split(' (')[0]} {100 * v:.0f}%" for k, v in busy.items()))
    return lines
