"""Packing trials onto one GPU by default (tavaal_nb.sweep.packing): ``run --parallel-trials auto``
and ``sweep --workers auto``.

CUDA is faked (``torch.cuda.is_available``, ``mem_get_info``, the CPU core count): what is checked is
the arithmetic and where its result goes, never a real GPU. On the CPU, auto is 1 and runs are made
exactly as before (one after another, in this process).
"""

from __future__ import annotations

import pytest
import torch
from conftest import ci_config

import tavaal_nb.sweep.backends as backends
import tavaal_nb.sweep.packing as packing
from tavaal_nb import make_config
from tavaal_nb.cli import build_parser, main
from tavaal_nb.sweep import AUTO, auto_parallel_trials, parse_parallel_trials, trial_memory_bytes
from tavaal_nb.sweep.backends import InlineBackend, ProcessBackend, make_backend

GIB = 2**30


@pytest.fixture
def fake_gpu(monkeypatch):
    """A CUDA device with ``free`` GiB free (set ``fake_gpu.free``) and ``fake_gpu.cores`` CPU cores."""
    state = type("FakeGPU", (), {"free": 40.0, "cores": 16, "asked": []})()

    def mem_get_info(device=None):
        state.asked.append(device)
        return int(state.free * GIB), int(141 * GIB)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    monkeypatch.setattr(packing, "cpu_cores", lambda: state.cores)
    return state


def test_memory_estimate_of_a_paper_trial_is_the_measured_one_with_headroom():
    paper = make_config("paper", dataset="synthetic", train_limit=20_000)
    # the measured trial: 2,645 MiB on the H200, times the 1.25 margin
    assert trial_memory_bytes(paper) == pytest.approx(1.25 * packing.TRIAL_MEMORY_MEASURED, rel=1e-6)
    whole = trial_memory_bytes(make_config("paper", dataset="synthetic"))  # no limit: the largest pool, SVHN's
    assert whole - trial_memory_bytes(paper) == pytest.approx(1.25 * (73_257 - 20_000) * 3072, abs=2)
    small = trial_memory_bytes(ci_config())
    assert packing.CONTEXT_BYTES < small < trial_memory_bytes(paper)  # never below a CUDA context


def test_auto_is_free_memory_over_the_estimate_capped_by_trials_and_cores(fake_gpu):
    config = make_config("paper", dataset="synthetic", train_limit=20_000, device="cuda")
    per_trial = trial_memory_bytes(config) / GIB  # 3.23 GiB
    fake_gpu.free = 10 * per_trial + 0.5
    assert auto_parallel_trials(config, trials=50) == 10  # memory
    assert auto_parallel_trials(config, trials=5) == 5  # the trials
    fake_gpu.cores = 3
    assert auto_parallel_trials(config, trials=50) == 3  # the CPU cores
    fake_gpu.free = 0.5 * per_trial
    assert auto_parallel_trials(config, trials=50) == 1  # less than one trial's worth: still one
    assert fake_gpu.asked[-1] == torch.device("cuda")
    fake_gpu.free = 100.0
    fake_gpu.cores = 16
    assert auto_parallel_trials(config.replace(device="cuda:1"), trials=4) == 4
    assert fake_gpu.asked[-1] == torch.device("cuda:1")


def test_auto_is_one_on_the_cpu(fake_gpu, monkeypatch):
    assert auto_parallel_trials(ci_config(), trials=5) == 1  # device cpu, even with a GPU present
    assert auto_parallel_trials(make_config("ci", device="auto"), trials=5) == 5  # auto picks the GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert auto_parallel_trials(make_config("ci", device="auto"), trials=5) == 1
    assert auto_parallel_trials(make_config("ci", device="cuda"), trials=5) == 1  # no CUDA: no packing
    assert not fake_gpu.asked[1:]  # memory asked only where CUDA was used


def test_parallel_trials_values(capsys):
    assert parse_parallel_trials("auto") == AUTO and parse_parallel_trials(" AUTO ") == AUTO
    assert parse_parallel_trials("3") == 3
    for bad in ("0", "-2", "two", ""):
        with pytest.raises(ValueError, match="expected auto or a positive integer"):
            parse_parallel_trials(bad)
    parser = build_parser()
    assert parser.parse_args(["run", "--out", "x"]).parallel_trials == AUTO  # the default
    assert parser.parse_args(["run", "--out", "x", "--parallel-trials", "4"]).parallel_trials == 4
    assert parser.parse_args(["sweep", "--out", "x"]).workers == AUTO
    for command in (["run", "--out", "x", "--parallel-trials", "many"], ["sweep", "--out", "x", "--workers", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(command)
        assert "expected auto or a positive integer, got" in capsys.readouterr().err
    assert "auto or a positive integer" in " ".join(parser._subparsers._group_actions[0].choices["run"].format_help()
                                                    .split())


def test_run_auto_on_the_cpu_is_the_sequential_run(tmp_path, capsys):
    small = ["--preset", "ci", "--dataset", "synthetic", "--method", "random", "--trials", "2", "--cycles", "2",
             "--epochs", "1", "--train-limit", "120", "--test-limit", "40", "--device", "cpu", "--no-progress"]
    assert main(["run", *small, "--out", str(tmp_path / "a")]) == 0
    assert "trials at a time" not in capsys.readouterr().out
    import json

    stored = json.loads((tmp_path / "a" / "results.json").read_text())
    assert "parallel_trials" not in stored["sessions"][-1]  # made in this process, as before
    assert not (tmp_path / "a" / "trials").exists()


@pytest.mark.slow
def test_run_auto_on_a_gpu_packs_the_trials(tmp_path, fake_gpu, monkeypatch, capsys):
    from tavaal_nb.cli import commands

    seen = {}

    def parallel(config, out, workers, **kwargs):
        seen["workers"] = workers
        raise RuntimeError("stop here")

    monkeypatch.setattr(commands, "run_parallel_trials", parallel)
    fake_gpu.free = 1000.0
    assert main(["run", "--preset", "ci", "--dataset", "synthetic", "--method", "random", "--trials", "3",
                 "--device", "cuda", "--out", str(tmp_path / "b")]) == 2
    assert seen == {"workers": 3} and "3 trials at a time" in capsys.readouterr().out


def test_sweep_auto_packs_each_gpu(fake_gpu, monkeypatch):
    monkeypatch.setattr(backends, "_gpu_count", lambda: 1)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    packed = make_backend("local", None, device=None, per_gpu=3)
    try:
        assert isinstance(packed, ProcessBackend) and packed.capacity == 3 and packed.torch_threads == 1
        assert sorted(packed.slots.queue) == ["0", "0", "0"]
    finally:
        packed.close()
    monkeypatch.setattr(backends, "_gpu_count", lambda: 2)
    two = make_backend("local", None, device=None, per_gpu=2)
    try:
        assert sorted(two.slots.queue) == ["0", "0", "1", "1"]
    finally:
        two.close()
    assert isinstance(make_backend("local", None, device="cpu", per_gpu=1), InlineBackend)  # as before
    explicit = make_backend("local", 2, device=None, per_gpu=5)  # --workers N wins
    try:
        assert explicit.capacity == 2 and explicit.torch_threads is None
    finally:
        explicit.close()
