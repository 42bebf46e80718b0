"""Trials per hour with N bench processes sharing one device (``bench --concurrency 1,2,4,8``)."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tavaal_nb.bench.phases import (
    PHASE_NAMES,
    PHASE_UNITS,
    PHASES,
    BenchRow,
    bench_data,
    default_steps,
    estimate_trial_seconds,
    time_phases,
)
from tavaal_nb.config import Config
from tavaal_nb.files import atomic_write_text

__all__ = ["ConcurrencyRow", "CONCURRENCY_TIMEOUT_S", "run_concurrency", "CONCURRENCY_COLUMNS", "format_concurrency_row",
           "format_concurrency", "write_concurrency_json"]


@dataclass
class ConcurrencyRow:
    """N bench processes at once on one device: their phase rates and the trials per hour they predict."""

    processes: int
    rates: dict[str, float]  # per phase, the mean over the processes (each process' own rate)
    trial_s: float  # one trial of the preset at those rates (:func:`estimate_trial_seconds`), mean over processes
    trials_per_hour: float  # sum over the processes of 3600 / its trial estimate
    vs_first: float | None = None  # trials_per_hour over the first level's


CONCURRENCY_TIMEOUT_S = 900.0
"""Seconds a level of :func:`run_concurrency` may take before its processes are stopped."""


def _concurrent_worker(config: Config, steps: int, pool: int, barrier, conn) -> None:
    """One process of :func:`run_concurrency`: the bench's phases, each timed when every process is ready."""
    try:
        torch.set_num_threads(1)  # as a --parallel-trials worker
        data = bench_data(config, steps, pool)
        rows, _ = time_phases(config, data, steps, before=lambda _phase: barrier.wait(CONCURRENCY_TIMEOUT_S))
        conn.send(("ok", [row.rate for row in rows]))
    except BaseException as error:  # noqa: BLE001 - told to the parent, and the others stop waiting
        barrier.abort()
        conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        conn.close()


def _run_level(config: Config, processes: int, steps: int, pool: int) -> list[list[float]]:
    """The phase rates of each of ``processes`` bench processes started together (spawned, one torch thread)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    started = []
    try:
        for _ in range(processes):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_concurrent_worker, args=(config, steps, pool, barrier, sender),
                                      name="tavaal-bench-concurrency", daemon=True)
            process.start()
            sender.close()
            started.append((process, receiver))
        rates: list[list[float]] = []  # each process' phase rates
        errors: list[str] = []
        for process, receiver in started:
            if not receiver.poll(CONCURRENCY_TIMEOUT_S):
                raise RuntimeError(f"a bench process gave no result within {CONCURRENCY_TIMEOUT_S:.0f} s")
            try:
                kind, value = receiver.recv()
            except EOFError:  # it died without a word
                process.join(5)
                kind, value = "error", f"the process exited with code {process.exitcode}"
            (rates if kind == "ok" else errors).append(value)
        if errors:
            raise RuntimeError(f"{len(errors)} of {processes} concurrent bench processes failed: {errors[0]}")
        return rates
    finally:
        for process, _ in started:
            process.join(5)
            if process.exitcode is None:
                process.kill()
                process.join()


def run_concurrency(config: Config, levels: tuple[int, ...] = (1, 2, 4, 8), steps: int | None = None,
                    pool: int = 4096, on_row: Callable[[ConcurrencyRow], None] | None = None,
                    ) -> tuple[list[ConcurrencyRow], dict]:
    """Trials per hour with N trials sharing the device, for each N of ``levels``.

    For each N, N processes (spawned, one torch thread each, like ``run --parallel-trials N``'s
    workers) build the bench's phases; each phase is timed in all of them at once (they wait for
    each other after its warm-up). Each process' rates give one trial's seconds
    (:func:`estimate_trial_seconds`, the preset's schedule), and the N trials running side by side
    complete ``sum(3600 / trial seconds)`` trials per hour: the steady state of N parallel trials,
    without start-up (imports, data, CUDA context), which long trials amortize.
    """
    device = config.resolved_device()
    steps = default_steps(device, steps)
    if not levels or any(not isinstance(n, int) or n < 1 for n in levels):
        raise ValueError(f"concurrency levels must be positive integers, got {levels!r}")
    rows: list[ConcurrencyRow] = []
    for n in levels:
        estimates = []
        per_process = _run_level(config, n, steps, pool)
        for rates in per_process:
            fake = [BenchRow(PHASE_NAMES[k], PHASE_UNITS[k], rate, 0.0, 0) for k, rate in zip(PHASES, rates)]
            estimates.append(estimate_trial_seconds(config, fake)["total"])
        row = ConcurrencyRow(n, {k: sum(r[i] for r in per_process) / n for i, k in enumerate(PHASES)},
                             sum(estimates) / n, sum(3600 / t for t in estimates))
        row.vs_first = row.trials_per_hour / rows[0].trials_per_hour if rows else 1.0
        rows.append(row)
        if on_row is not None:
            on_row(row)
    meta = {"device": str(device), "preset": config.preset, "steps": steps, "cycles": config.cycles,
            "dataset": config.dataset, "torch": torch.__version__, "levels": list(levels)}
    return rows, meta


CONCURRENCY_COLUMNS = (f"{'processes':>9}{'task img/s':>12}{'VAE+D it/s':>12}{'score img/s':>13}"
                       f"{'trial min':>11}{'trials/h':>10}{'vs first':>10}")


def format_concurrency_row(row: ConcurrencyRow) -> str:
    """One line of the concurrency table (:data:`CONCURRENCY_COLUMNS`); rates are per process."""
    return (f"{row.processes:>9}{row.rates['task']:>12.1f}{row.rates['vae']:>12.2f}{row.rates['scoring']:>13.1f}"
            f"{row.trial_s / 60:>11.1f}{row.trials_per_hour:>10.2f}{row.vs_first:>9.2f}x")


def format_concurrency(rows: list[ConcurrencyRow], meta: dict) -> str:
    head = (f"concurrent trials on {meta['device']}, preset {meta['preset']} ({meta['cycles']} cycles), "
            f"{meta['dataset']}-shaped images, {meta['steps']} timed steps per phase; rates are each process' own, "
            "trials/h the steady state of N trials side by side (start-up not counted)")
    return "\n".join([head, CONCURRENCY_COLUMNS, *(format_concurrency_row(r) for r in rows)])


def write_concurrency_json(rows: list[ConcurrencyRow], meta: dict, path: str | Path) -> None:
    atomic_write_text(Path(path), json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2))
