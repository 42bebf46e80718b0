"""Back-ends: where sweep tasks execute. Each takes a task payload and returns a future of its outcome.

* :class:`InlineBackend`: one after another in this process.
* :class:`ProcessBackend`: a fresh (spawned) process per task, at most one per slot; a slot
  may pin a GPU (``CUDA_VISIBLE_DEVICES``), several slots may share one device (parallel trials).
* :class:`ExecutorBackend`: any :class:`concurrent.futures.Executor` (process pools, SLURM or Ray
  executors with that interface).
* :class:`DaskBackend`: a dask.distributed Client (the ``dask`` extra).

Every back-end calls this module's ``run_task`` (looked up when a task is submitted, so tests
can substitute a faulty one).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from tavaal_nb.files import open_append
from tavaal_nb.sweep.task import LOG_NAME, SweepTaskError, run_task

__all__ = ["Backend", "InlineBackend", "ProcessBackend", "ExecutorBackend", "DaskBackend", "MissingExtraError",
           "make_backend", "check_executor", "import_distributed", "DASK_EXTRA", "STOP_GRACE_S"]

DASK_EXTRA = "pip install 'tavaal-nb[dask]'"
STOP_GRACE_S = 30.0
"""Seconds a task's process gets to stop after SIGINT (its finished cycles are saved already)."""


class MissingExtraError(RuntimeError):
    """An optional dependency is not installed; the message names the extra to install."""


class Backend:
    """Runs task payloads; ``capacity`` of them at once."""

    name = "?"
    capacity = 1 << 30

    def submit(self, payload: dict[str, Any]):
        """Start one task; returns a future (``add_done_callback``, ``result``)."""
        raise NotImplementedError

    def close(self, cancel: bool = False) -> None:
        """Release what this back-end started; ``cancel`` stops the tasks still running."""


class InlineBackend(Backend):
    """Tasks one after another in this process (a crash stops the sweep; resume continues it)."""

    name = "local (in this process)"
    capacity = 1

    def submit(self, payload):
        future: cf.Future = cf.Future()
        try:
            future.set_result(run_task(payload))
        except Exception as error:  # noqa: BLE001 - reported through the future
            future.set_exception(error)
        return future


class ExecutorBackend(Backend):
    """Any concurrent.futures.Executor, the caller's: closing cancels our tasks, not the executor."""

    def __init__(self, executor: cf.Executor) -> None:
        self.executor = executor
        self.futures: list[cf.Future] = []
        self.name = f"executor {type(executor).__module__}.{type(executor).__name__}"

    def submit(self, payload):
        future = self.executor.submit(run_task, payload)
        self.futures.append(future)
        return future

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for future in self.futures:
                future.cancel()
        self.futures.clear()


def _exit_with_parent(parent: int) -> None:
    """Exit when the process that started this one is gone (no orphaned runs after a crash)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


def _process_main(task, payload: dict[str, Any], slot: str | None, threads: int | None, parent: int, conn) -> None:
    """Entry point of a task's process: pin the GPU and threads, log to the task's log, report through ``conn``."""
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    if slot is not None:  # before anything initializes CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = slot
    if threads:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # already set in this process
            pass
    log = open_append(Path(payload["dir"]) / LOG_NAME)  # open for the process' life; never through a link
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        conn.send(("ok", task(payload)))
    except Exception as error:  # noqa: BLE001 - reported to the parent
        if not isinstance(error, SweepTaskError):
            error = SweepTaskError(f"{type(error).__name__}: {error}")
        conn.send(("error", error))


class ProcessBackend(Backend):
    """A fresh (spawned) process per task, at most one per slot; a slot may pin a GPU.

    ``torch_threads`` (optional) sets torch's thread count in each process (1 keeps CPU
    results equal to a one-thread run in this process, and N processes off each other's cores).
    """

    def __init__(self, slots: Sequence[str | None], torch_threads: int | None = None) -> None:
        self.slots: queue.Queue = queue.Queue()
        for slot in slots:
            self.slots.put(slot)
        self.capacity = len(slots)
        self.torch_threads = torch_threads
        self.context = multiprocessing.get_context("spawn")  # CUDA-safe: nothing is inherited but the payload
        self.pool = cf.ThreadPoolExecutor(len(slots), thread_name_prefix="tavaal-tasks")
        self.processes: set = set()
        self.lock = threading.Lock()
        self.stopping = False
        gpus = [s for s in slots if s is not None]
        self.name = (f"local ({len(slots)} processes, GPUs {','.join(gpus)})" if gpus
                     else f"local ({len(slots)} processes)")

    def submit(self, payload):
        return self.pool.submit(self._run, run_task, payload)

    def _run(self, task, payload: dict[str, Any]) -> dict[str, Any]:
        slot = self.slots.get()
        try:
            Path(payload["dir"]).mkdir(parents=True, exist_ok=True)
            receiver, sender = self.context.Pipe(duplex=False)
            process = self.context.Process(target=_process_main, name=f"tavaal-task-{payload['id']}",
                                           args=(task, payload, slot, self.torch_threads, os.getpid(), sender))
            with self.lock:
                if self.stopping:
                    raise RuntimeError("the back-end was closed before this task started")
                process.start()
                self.processes.add(process)
            sender.close()
            try:
                kind, value = receiver.recv()
            except EOFError:  # the process ended without a word
                kind, value = None, None
            process.join()
            with self.lock:
                self.processes.discard(process)
            if kind == "ok":
                return value
            if kind == "error":
                raise value
            code = process.exitcode
            assert code is not None  # the process was joined above
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise RuntimeError(f"the task's process {how} before it reported a result")
        finally:
            self.slots.put(slot)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            with self.lock:
                self.stopping = True  # no task starts from now on
                running = [p for p in self.processes if p.exitcode is None]
            for process in running:  # they stop after their last saved cycle
                try:
                    os.kill(process.pid, signal.SIGINT)
                except (ProcessLookupError, OSError):
                    pass
            deadline = time.monotonic() + STOP_GRACE_S
            for process in running:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.exitcode is None:
                    process.kill()
        self.pool.shutdown(wait=True, cancel_futures=cancel)


class DaskBackend(Backend):
    """A dask.distributed Client (ours, on a LocalCluster or a scheduler address, or the caller's)."""

    def __init__(self, client, cluster=None, owned: bool = False) -> None:
        self.client, self.cluster, self.owned = client, cluster, owned
        self.futures: list = []
        where = getattr(client, "scheduler", None)
        address = getattr(where, "address", None) or "?"
        self.name = f"dask ({'LocalCluster ' if cluster is not None else ''}{address})"

    def submit(self, payload):
        key = f"tavaal-sweep-{payload['id'].replace('/', ':')}-attempt{payload['attempt']}-{os.urandom(4).hex()}"
        future = self.client.submit(run_task, payload, key=key, pure=False)
        self.futures.append(future)
        return future

    def close(self, cancel: bool = False) -> None:
        try:
            if cancel:
                pending = [f for f in self.futures if not f.done()]
                if pending:
                    self.client.cancel(pending)
        finally:
            self.futures.clear()
            if self.owned:
                self.client.close()
                if self.cluster is not None:
                    self.cluster.close()


def import_distributed():
    """dask.distributed, or :class:`MissingExtraError` naming the extra to install."""
    try:  # imported here: dask is an optional extra, needed only by this back-end
        import distributed
    except ImportError as error:
        raise MissingExtraError(
            f"the dask executor needs dask.distributed, which is not installed ({error}); "
            f"install the extra with: {DASK_EXTRA}   (or use --executor local)"
        ) from error
    return distributed


def _dask_backend(scheduler: str | None, workers: int | None) -> DaskBackend:
    distributed = import_distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except OSError as error:
            raise RuntimeError(f"cannot reach the dask scheduler at {scheduler}: {error}") from error
        return DaskBackend(client, owned=True)
    n = workers if workers else max(1, _gpu_count() or (os.cpu_count() or 2) // 2)
    # allowed_failures=0: a worker death fails the attempt at once; the driver's own retries count it
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=logging.ERROR,
                                       scheduler_kwargs={"allowed_failures": 0})
    try:
        client = distributed.Client(cluster)
    except BaseException:
        cluster.close()
        raise
    return DaskBackend(client, cluster, owned=True)


def _gpu_count() -> int:
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - no usable CUDA means no GPUs
        return 0


def _local_backend(workers: int | None, gpus: Sequence[str | int] | None, device: str | None,
                   per_gpu: int = 1) -> Backend:
    """``per_gpu`` processes per GPU when several are visible (or ``gpus`` names some), or on the
    one device when ``per_gpu`` > 1; ``workers`` processes when asked; else this process.
    Packed processes (``per_gpu`` > 1) run one torch thread each, as parallel trials do."""
    explicit = gpus is not None
    if gpus is None:
        gpus = []
        # a named device (cpu, cuda:N) is used as it is: no process per GPU
        count = 0 if device == "cpu" or str(device).startswith("cuda:") else _gpu_count()
        if count:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            ids = [g.strip() for g in visible.split(",") if g.strip()] if visible else []
            gpus = ids[:count] if ids else [str(k) for k in range(count)]
    names = [str(g) for g in gpus]
    packed = not workers and per_gpu > 1
    n = workers or max(1, len(names) if len(names) > 1 or explicit else 1) * per_gpu
    if n == 1 and not explicit:
        return InlineBackend()
    slots: list[str | None] = [names[k % len(names)] for k in range(n)] if names else [None] * n
    return ProcessBackend(slots, torch_threads=1 if packed else None)


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__name__ == "Client" and type(obj).__module__.startswith("distributed")


def check_executor(executor: Any, scheduler: str | None, gpus: Sequence[str | int] | None) -> None:
    """Refuse an executor and options that do not go together, before anything is written."""
    if isinstance(executor, str) and executor not in ("local", "dask"):
        raise ValueError(f"unknown executor {executor!r}; valid: local, dask (or pass a concurrent.futures.Executor)")
    if scheduler and executor != "dask":
        raise ValueError("--scheduler is for --executor dask")
    if gpus is not None and executor != "local":
        raise ValueError("--gpus is for --executor local (dask workers choose their own GPUs)")
    if executor == "dask":
        import_distributed()  # a missing extra is said before anything is written
    elif not (executor == "local" or _is_dask_client(executor) or isinstance(executor, cf.Executor)):
        raise TypeError(f"executor must be 'local', 'dask', a distributed.Client or a concurrent.futures.Executor, "
                        f"not {type(executor).__name__}")


def make_backend(executor: Any, workers: int | None = None, scheduler: str | None = None,
                 gpus: Sequence[str | int] | None = None, device: str | None = None, per_gpu: int = 1) -> Backend:
    """The back-end for ``executor`` (``"local"``, ``"dask"``, a distributed.Client or an Executor);
    ``per_gpu``: local processes per GPU when ``workers`` is not given."""
    check_executor(executor, scheduler, gpus)
    if executor == "local":
        return _local_backend(workers, gpus, device, per_gpu)
    if executor == "dask":
        return _dask_backend(scheduler, workers)
    if _is_dask_client(executor):
        return DaskBackend(executor)
    return ExecutorBackend(executor)
