"""How a step is captured, replayed and given up on (``tavaal_nb.cuda_graphs``), checked on the CPU against a fake
``torch.cuda`` that records devices, streams, captures and replays; the task loop's partial-batch graph and
its one read per epoch; and (on a GPU only) the checks of ``tavaal_nb.bench.graph_checks``."""

from __future__ import annotations

import contextlib
import warnings
from types import SimpleNamespace

import pytest
import torch
from conftest import ci_config

import tavaal_nb.cuda_graphs as graphs_module
import tavaal_nb.training as training_module
from tavaal_nb.bench import graph_checks
from tavaal_nb.cuda_graphs import CaptureError, DeviceTally, GraphedStep, clear_eager_fallbacks, eager_fallbacks, fetch
from tavaal_nb.experiment_data import make_augmenter, prepare_data
from tavaal_nb.losses import bce_ranking_loss
from tavaal_nb.training import build_task_model, train_task_model

RUN_DEVICE = torch.device("cuda", 1)  # not the fake's current device (0): bug 1 of issue 28
EMPTY_WARNING = ("The CUDA Graph is empty. This usually means that the graph was attempted to be captured on "
                 "wrong device or stream.")


class FakeCuda:
    """Enough of ``torch.cuda`` for :class:`GraphedStep`, on the CPU. A step "launches a kernel" with
    :meth:`launch` on a device: the launch goes to that device's current stream, and is captured when
    that stream is the capture stream. A capture that recorded nothing warns as PyTorch does."""

    def __init__(self, monkeypatch, register: bool = True, fail_on_exit: bool = False) -> None:
        self.current_device = 0
        self.current: dict[int, object] = {}  # device index -> its current stream
        self.streams, self.devices_entered, self.captures, self.events = [], [], [], []
        self.capturing = None  # the capture stream while a capture is under way
        self.fail_on_exit = fail_on_exit  # capture_end fails after an error inside the capture, as real ones can
        fake = self

        class Stream:
            def __init__(self, device=None, priority=0):
                self.device = torch.device("cuda", fake.current_device) if device is None else torch.device(device)
                self.waited = []
                fake.streams.append(self)

            def wait_stream(self, other):
                self.waited.append(other)

        class Graph:
            def __init__(self):
                self.body, self.registered, self.was_reset = [], [], False

            def pool(self):
                return ("pool of", id(self))

            def replay(self):
                fake.events.append("replay")
                for action in self.body:
                    action()

            def reset(self):
                self.was_reset = True

            def capture_end(self):
                fake.capturing = None

        if register:
            Graph.register_generator_state = lambda self, generator: self.registered.append(generator)
        self.Stream, self.Graph = Stream, Graph
        self.default = {0: Stream(0), 1: Stream(1)}
        self.streams.clear()
        cuda = torch.cuda
        for name, value in (("Stream", Stream), ("CUDAGraph", Graph), ("stream", self.stream), ("device", self.device),
                            ("current_stream", self.current_stream), ("set_stream", self.set_stream),
                            ("graph", self.graph), ("synchronize", lambda device=None: self.events.append(
                                ("synchronize", device))), ("empty_cache", lambda: self.events.append("empty_cache")),
                            ("is_current_stream_capturing", lambda: self.capturing is not None)):
            monkeypatch.setattr(cuda, name, value)

    def current_stream(self, device=None):
        index = self.current_device if device is None or device.index is None else device.index
        return self.current.get(index, self.default[index])

    def set_stream(self, stream):
        self.current[stream.device.index] = stream

    @contextlib.contextmanager
    def stream(self, stream):
        before = self.current_stream(stream.device)
        self.set_stream(stream)
        try:
            yield
        finally:
            self.set_stream(before)

    @contextlib.contextmanager
    def device(self, device):
        device = torch.device(device)
        self.devices_entered.append(device)
        before, self.current_device = self.current_device, device.index
        try:
            yield
        finally:
            self.current_device = before

    @contextlib.contextmanager
    def graph(self, graph, pool=None, stream=None):
        self.captures.append({"graph": graph, "pool": pool, "stream": stream, "device": self.current_device})
        before = self.current_stream(stream.device)
        self.set_stream(stream)
        self.capturing = stream
        try:
            yield
        except Exception:
            if self.fail_on_exit:  # capture_end raises in __exit__: the stream stays switched, as in torch
                raise RuntimeError("CUDA error: operation failed due to a previous error during capture") from None
            raise
        finally:
            if not self.fail_on_exit:
                self.capturing = None
                self.set_stream(before)
        if not graph.body:
            warnings.warn(EMPTY_WARNING, UserWarning, stacklevel=2)

    def launch(self, device, action=lambda: None):
        """A kernel on ``device``: run it now, or record it into the graph when its stream is capturing."""
        stream = self.current_stream(torch.device(device))
        if self.capturing is not None and stream is self.capturing:
            self.captures[-1]["graph"].body.append(action)
        else:
            self.events.append(("kernel", str(device), stream))
            action()


@pytest.fixture(autouse=True)
def fresh_fallbacks():
    clear_eager_fallbacks()
    yield
    clear_eager_fallbacks()


def counting_step(fake, device=RUN_DEVICE):
    counter = {"n": 0}

    def step():
        fake.launch(device, lambda: counter.__setitem__("n", counter["n"] + 1))
    return step, counter


# ------------------------------------------------------------------------------ devices and streams (items 1, 7)
def test_warm_up_capture_and_replay_happen_on_the_steps_device_with_one_stream_each(monkeypatch):
    fake = FakeCuda(monkeypatch)
    step, counter = counting_step(fake)
    graphed = GraphedStep(step, True, RUN_DEVICE, "task step")
    for _ in range(10):
        graphed()
    assert counter["n"] == 10  # 3 warm-ups, the capture's replay, 6 replays: every call one real step
    assert graphed.graph is not None and fake.events.count("replay") == 7
    assert len(fake.streams) == 2  # one warm-up stream and one capture stream, not one per warm-up call
    warmup, capture = fake.streams
    assert warmup.device == capture.device == RUN_DEVICE
    assert [c["stream"] for c in fake.captures] == [capture]  # the explicit stream=
    assert fake.captures[0]["device"] == 1 and set(fake.devices_entered) == {RUN_DEVICE}
    assert fake.current_device == 0  # the caller's current device is left as it was
    kernels = [e for e in fake.events if isinstance(e, tuple) and e[0] == "kernel"]
    assert [k[2] for k in kernels] == [warmup] * 3  # warm-ups on the side stream, replays through the graph


def test_a_captured_step_needs_its_cuda_device():
    with pytest.raises(ValueError, match="a captured step needs the CUDA device its tensors are on, got None"):
        GraphedStep(lambda: None, True)
    with pytest.raises(ValueError, match="got cpu"):
        GraphedStep(lambda: None, True, torch.device("cpu"))
    GraphedStep(lambda: None, False)  # eager needs none


def test_a_capture_on_the_wrong_device_is_empty_and_an_error(monkeypatch):
    """Work issued to another device than the captured one records nothing: an error (then the eager
    fallback), never a graph whose replays silently do nothing."""
    fake = FakeCuda(monkeypatch)
    step, counter = counting_step(fake, device=torch.device("cuda", 0))  # the tensors' device is not the step's
    graphed = GraphedStep(step, True, RUN_DEVICE, "VAE/D iteration")
    with pytest.warns(RuntimeWarning, match=r"capture of the VAE/D iteration failed \(CaptureError: the capture "
                                            r"recorded no work on cuda:1"):
        for _ in range(6):
            graphed()
    assert graphed.graph is None and counter["n"] == 6  # every call still one real step
    assert eager_fallbacks()["VAE/D iteration"].startswith("CaptureError: the capture recorded no work on cuda:1")


# ------------------------------------------------------------------------------ a failing capture (item 3)
@pytest.mark.parametrize("fail_on_exit", [False, True])
def test_a_failing_capture_is_released_warned_once_recorded_and_the_step_runs_eagerly(monkeypatch, fail_on_exit):
    fake = FakeCuda(monkeypatch, fail_on_exit=fail_on_exit)
    counter = {"n": 0}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)

    def step():
        if fake.capturing is not None:
            raise RuntimeError("operation not permitted when stream is capturing\nmore detail")
        counter["n"] += 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graphed = GraphedStep(step, True, RUN_DEVICE, "task step", optimizers=[optimizer])
        for _ in range(6):
            graphed()
        again = GraphedStep(step, True, RUN_DEVICE, "task step")  # the next epoch's or cycle's step
        for _ in range(5):
            again()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert messages == ["CUDA graph capture of the task step failed (RuntimeError: operation not permitted when "
                        "stream is capturing); that step runs eagerly for the rest of this run"]
    assert counter["n"] == 11 and graphed.graph is None and not again.capture
    assert len(fake.captures) == 1  # the second step did not try again
    assert eager_fallbacks() == {"task step": "RuntimeError: operation not permitted when stream is capturing"}
    # released: capture ended, the caller's stream current again, the graph reset, the device synchronised
    assert fake.capturing is None and fake.current_stream(RUN_DEVICE) is fake.default[1]
    assert fake.captures[0]["graph"].was_reset
    assert ("synchronize", RUN_DEVICE) in fake.events and "empty_cache" in fake.events
    clear_eager_fallbacks()
    assert GraphedStep(step, True, RUN_DEVICE, "task step").capture  # a new run tries again


def test_other_warnings_of_a_capture_are_passed_on(monkeypatch):
    fake = FakeCuda(monkeypatch)
    step, _ = counting_step(fake)

    def noisy():
        if fake.capturing is not None:
            warnings.warn("something PyTorch says", UserWarning, stacklevel=1)
        step()

    graphed = GraphedStep(noisy, True, RUN_DEVICE, warmup=0)
    with pytest.warns(UserWarning, match="something PyTorch says"):
        graphed()
    assert graphed.graph is not None and not eager_fallbacks()


# ------------------------------------------------------------------------------ generators and pools (items 5, 8)
@pytest.mark.parametrize("register", [True, False])
def test_generators_are_registered_where_torch_still_has_the_call(monkeypatch, register):
    fake = FakeCuda(monkeypatch, register=register)
    step, _ = counting_step(fake)
    cuda_generator = SimpleNamespace(device=RUN_DEVICE)
    graphed = GraphedStep(step, True, RUN_DEVICE, generators=[cuda_generator, torch.Generator()], warmup=1)
    graphed()
    graphed()
    assert graphed.graph is not None
    assert hasattr(graphed.graph, "register_generator_state") is register
    if register:
        assert graphed.graph.registered == [cuda_generator]  # CUDA generators only, once


def test_the_partial_batch_graph_shares_the_full_batch_graphs_pool_on_its_own_streams(monkeypatch):
    fake = FakeCuda(monkeypatch)
    full_step, _ = counting_step(fake)
    tail_step, _ = counting_step(fake)
    full = GraphedStep(full_step, True, RUN_DEVICE, "task step", warmup=1)
    tail = GraphedStep(tail_step, True, RUN_DEVICE, "task step (last partial batch)", warmup=1, share_pool_with=full)
    for _ in range(3):
        full()
        tail()
    first, second = fake.captures
    assert first["pool"] is None and second["pool"] == full.graph.pool()
    assert first["stream"] is not second["stream"]  # separate cuBLAS workspaces (pytorch#193402)
    assert len(fake.streams) == 4


# ------------------------------------------------------------------------------ the task loop (item 5)
def test_the_task_loop_replays_a_partial_batch_step_and_reads_the_device_once_per_epoch(monkeypatch):
    made, reads = [], []

    class Recording(GraphedStep):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    def counting_fetch(*tensors):
        reads.append(len(tensors))
        return fetch(*tensors)

    monkeypatch.setattr(training_module, "GraphedStep", Recording)
    monkeypatch.setattr(training_module, "fetch", counting_fetch)
    config = ci_config(epochs=3, milestones=(2,), ranker_detach_epoch=1)
    data = prepare_data(config)
    torch.manual_seed(0)
    task = build_task_model(config, data, True, torch.device("cpu"))
    augmenter = make_augmenter(config, data)
    host_reads = []  # from here on, every read of a tensor's value by the host
    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            host_reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    history = train_task_model(task, data, torch.arange(100), config, augmenter,
                               torch.Generator().manual_seed(0), bce_ranking_loss, progress=False, _static_steps=True)
    assert len(history) == 3 and reads == [2, 2, 2]  # the loss sum and the NaN check together, once per epoch
    assert host_reads == ["tolist"] * 3
    # a full-batch step and a partial-batch step per (detached, learning rate): attached; detached; lr / 10
    assert [m.name for m in made] == ["task step", "task step (last partial batch)"] * 3
    assert all(m.share_pool_with is made[k - 1] for k, m in enumerate(made) if k % 2)
    assert [m.calls for m in made] == [6, 1, 6, 1, 6, 1]  # 100 labeled: 6 batches of 16 and one of 4


def test_fetch_reads_floats_and_large_integers_exactly():
    sums = torch.tensor([0.1, 1e-8, 3.4e38], dtype=torch.float32)
    steps = torch.tensor([-1, 2**40 + 1])
    floats, ints = fetch(sums, steps)
    assert floats == sums.tolist() and ints == [-1, 2**40 + 1] and all(type(v) is int for v in ints)
    (scalar,), (bad,) = fetch(torch.tensor(2.5), torch.tensor(-1))
    assert (scalar, bad) == (2.5, -1)


def test_a_non_finite_loss_is_still_caught_through_the_joint_read():
    tally = DeviceTally((), (), torch.device("cpu"))
    tally.add(torch.tensor(1.0), torch.tensor(1.0))
    tally.add(torch.tensor(float("nan")), torch.tensor(float("nan")))
    (total,), (bad,) = fetch(tally.sums, tally.first_bad)
    assert bad == 1 and total != total  # NaN


def test_a_capture_error_is_a_runtime_error():
    assert issubclass(CaptureError, RuntimeError)


# ------------------------------------------------------------------------------ on a GPU (items 1, 9)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")


@needs_cuda
def test_cuda_capture_on_the_runs_device_replays_its_work():
    graph_checks.check_capture_device()


@needs_cuda
def test_cuda_replayed_random_draws_equal_eager_draws_bit_for_bit():
    graph_checks.check_replayed_draws()


@needs_cuda
def test_cuda_fp32_captured_and_eager_training_agree_to_1e_4_after_20_steps():
    graph_checks.check_fp32_graphed_vs_eager()


def test_graph_checks_skip_without_cuda(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert graph_checks.main([]) == 0
    assert "skipped (no CUDA device here)" in capsys.readouterr().out


def test_graph_checks_report_each_failure_and_go_on(monkeypatch, tmp_path, capsys):
    def broken():
        raise AssertionError("replays did nothing")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(graph_checks, "CHECKS", {"one": broken, "two": lambda: {"calls": 8}})
    assert graph_checks.main(["--json", str(tmp_path / "checks.json")]) == 1
    out = capsys.readouterr().out
    assert "FAILED one" in out and "replays did nothing" in out and "ok     two" in out
    assert '"ok": false' in (tmp_path / "checks.json").read_text()


# ------------------------------------------------------------------------------ the session records it (item 3)
def test_the_session_records_whether_steps_were_captured_and_which_fell_back(monkeypatch, tmp_path):
    import json

    import tavaal_nb.loop as loop_module
    from tavaal_nb import run_experiment

    graphs_module._FALLBACKS["stale step"] = "RuntimeError: from an earlier run"  # cleared when a run starts
    original = loop_module.train_task_model

    def failing_capture(*args, **kwargs):
        graphs_module._FALLBACKS.setdefault("task step", "RuntimeError: capture failed")  # as GraphedStep records it
        return original(*args, **kwargs)

    monkeypatch.setattr(loop_module, "train_task_model", failing_capture)
    run_experiment(ci_config(methods=("random",), cycles=2, epochs=1, milestones=(1,)), tmp_path, progress=False)
    (session,) = json.loads((tmp_path / "results.json").read_text())["sessions"]
    assert session["cuda_graphs"] is False  # the CPU
    assert session["eager_fallbacks"] == {"task step": "RuntimeError: capture failed"}


def test_the_fp32_check_runs_through_on_the_cpu_with_both_sides_eager(monkeypatch):
    """The plumbing of check_fp32_graphed_vs_eager (data, both trainings, the comparison), so a GPU session
    does not find a typo: on the CPU "on" becomes "off", and both sides must agree exactly."""
    import tavaal_nb

    original = tavaal_nb.make_config
    monkeypatch.setattr(tavaal_nb, "make_config", lambda *a, **k: original(*a, **{**k, "cuda_graphs": "off"}))
    outcome = graph_checks.check_fp32_graphed_vs_eager(torch.device("cpu"), steps=3)
    assert outcome == {"steps": 3, "max_relative_difference": {"task_loss": 0.0, "vae_d_losses": 0.0, "weights": 0.0}}
