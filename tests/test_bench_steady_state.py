"""The bench measures graphs, not their set-up (issue 28): steady-state rates by differencing two lengths, the
fixed cost of a call and the per-epoch overhead kept apart and charged in the trial estimate, the ablation's
row order, and GPU busy cross-checked against nvidia-smi with the profiler's graph workarounds in place.

Timings are made up (``timed`` monkeypatched) wherever a value is checked: nothing here depends on speed."""

from __future__ import annotations

import os
import stat
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import ci_config

import tavaal_nb.bench.ablation as ablation_module
import tavaal_nb.bench.phases as phases_module
import tavaal_nb.bench.profiling as profiling_module
from tavaal_nb import make_config
from tavaal_nb.bench.ablation import ABLATION, run_ablation
from tavaal_nb.bench.phases import BenchRow, Phases, epoch_overhead, estimate_trial_seconds, graph_segments
from tavaal_nb.bench.profiling import SmiSampler, gpu_busy, prepare_profiler_for_graphs, profiler_events
from tavaal_nb.cli import build_parser
from tavaal_nb.cuda_graphs import WARMUP_STEPS
from tavaal_nb.training import Runtime

PHASES = ("task", "vae", "scoring")
FIXED_S, PER_UNIT_S = 2.0, 0.01


def made_up_phases(monkeypatch, graphs: bool):
    """Phases whose calls take FIXED_S plus PER_UNIT_S per unit of work (images or iterations)."""
    config = ci_config()
    phases = object.__new__(Phases)
    phases.config, phases.device = config, torch.device("cpu")
    phases.data = SimpleNamespace(train_size=400)
    phases.runtime = Runtime(False, False, cuda_graphs=graphs)
    calls = []
    monkeypatch.setattr(Phases, "run", lambda self, phase, steps: calls.append((phase, steps)))
    monkeypatch.setattr(phases_module, "timed", lambda device, fn: (
        fn(), FIXED_S + PER_UNIT_S * phases.units(*calls[-1]))[1])
    return phases, calls


# ------------------------------------------------------------------------------ steady state (item 2)
@pytest.mark.parametrize("graphs, short", [(False, 2), (True, WARMUP_STEPS + 1)])
def test_training_phases_are_timed_at_two_lengths_and_differenced(monkeypatch, graphs, short):
    phases, calls = made_up_phases(monkeypatch, graphs)
    task, vae = phases.time("task", 2), phases.time("vae", 2)
    # with graphs the short run already holds the warm-ups and the capture: the long one adds replays only
    assert calls == [("task", short), ("task", 2 * short), ("vae", short), ("vae", 2 * short)]
    assert task.rate == pytest.approx(1 / PER_UNIT_S) and vae.rate == pytest.approx(1 / PER_UNIT_S)
    assert task.fixed_s == pytest.approx(FIXED_S) and vae.fixed_s == pytest.approx(FIXED_S)
    assert task.work == short * phases.config.batch_size and vae.work == short
    scoring = phases.time("scoring", 2)
    assert calls[-1] == ("scoring", 2) and scoring.fixed_s is None  # one pass: it builds nothing per call


def test_a_difference_lost_in_noise_falls_back_to_the_long_runs_plain_rate(monkeypatch):
    phases, calls = made_up_phases(monkeypatch, False)
    seconds = iter([5.0, 4.0])  # the long run faster than the short one: a busy machine
    monkeypatch.setattr(phases_module, "timed", lambda device, fn: (fn(), next(seconds))[1])
    row = phases.time("vae", 3)
    assert row.fixed_s is None and row.rate == pytest.approx(6 / 4.0)


def test_host_operations_are_counted_past_the_warm_ups_and_the_capture():
    low, high = profiling_module.HOST_OP_STEPS
    assert (low, high) == (8, 16) and low > WARMUP_STEPS + 1


def test_a_task_epochs_overhead_is_the_difference_of_two_epoch_counts_beyond_its_images(monkeypatch):
    phases, _ = made_up_phases(monkeypatch, True)
    phases.task_model = phases.augmenter = phases.generator = None
    epochs = []
    monkeypatch.setattr(phases_module, "train_task_model", lambda task, data, labeled, config, *a, **k: epochs.append(
        (config.epochs, labeled.numel(), config.milestones, config.ranker_detach_epoch)))
    monkeypatch.setattr(phases_module, "timed", lambda device, fn: (fn(), 1.0 + 0.25 * epochs[-1][0])[1])
    point = epoch_overhead(phases, 1000, rate=10_000.0)
    assert epochs == [(4, 1000, (4,), 4), (8, 1000, (8,), 8)]  # one learning rate, the Ranker attached
    assert point == {"labeled": 1000, "epoch_s": pytest.approx(0.25), "overhead_s": pytest.approx(0.25 - 0.1)}


def test_the_trial_estimate_charges_fixed_costs_per_graph_segment_and_query_and_epoch_overheads():
    config = make_config("ci", cycles=3, initial=20, budget=20, subset=100, epochs=2, vae_iterations=4,
                         milestones=(2,), ranker_detach_epoch=1)
    rows = [BenchRow("t", "images/s", 100.0, 1, 1, fixed_s=0.5), BenchRow("v", "iterations/s", 2.0, 1, 1, fixed_s=0.3),
            BenchRow("s", "images/s", 1000.0, 1, 1)]
    points = [{"labeled": 20, "overhead_s": 0.01}, {"labeled": 60, "overhead_s": 0.03}]
    estimate = estimate_trial_seconds(config, rows, test_size=100, epoch_overheads=points)
    assert graph_segments(config) == 2  # epoch 0 attached, epoch 1 detached (the milestone comes after)
    assert estimate["set_up"] == pytest.approx(3 * 2 * 0.5 + 2 * 0.3)  # 3 cycles x 2 segments; 2 queries
    assert estimate["epoch_overhead"] == pytest.approx(2 * (0.01 + 0.02 + 0.03))  # linear in labeled
    assert estimate["total"] == pytest.approx(2.4 + 4.0 + 0.56 + 3.6 + 0.12)  # with the hand count of test_bench
    plain = estimate_trial_seconds(config, [BenchRow(r.phase, r.unit, r.rate, 1, 1) for r in rows], test_size=100)
    assert "set_up" not in plain and plain["total"] == pytest.approx(6.96)


def test_the_paper_preset_captures_three_task_graph_segments_per_cycle():
    assert graph_segments(make_config("paper")) == 3  # attached; detached from epoch 121; lr / 10 from 160


# ------------------------------------------------------------------------------ the ablation (items 6, 10)
def test_the_ablation_rows_go_fp32_bf16_channels_last_fused_graphs_cache_compile():
    names = [change for change, _ in ABLATION]
    assert names == ["fp32, contiguous, plain optimizers", "+ bf16 autocast", "+ channels_last", "+ fused optimizers",
                     "+ CUDA graphs", "+ autocast weight cache", "torch.compile instead of CUDA graphs"]
    settings = {}
    for change, delta in ABLATION:
        settings = {**settings, **delta}
        assert not (settings["compile"] and settings["cuda_graphs"] == "on"), change  # a pairing auto never makes
    assert ABLATION[0][1]["autocast_cache"] is False and settings["autocast_cache"] is True
    assert Runtime.resolve(make_config("ci", device="cpu", precision="bf16", autocast_cache=False),
                           torch.device("cpu")).autocast_cache is False


def test_an_ablation_row_whose_captures_fell_back_keeps_its_rates_and_says_so(monkeypatch):
    def measured_eagerly(variant, steps, pool, data=None):
        return {k: 5.0 for k in PHASES}, {k: 0.1 for k in PHASES}, {"VAE/D iteration": "RuntimeError: capture failed"}

    monkeypatch.setattr(ablation_module, "_variant_rates", measured_eagerly)
    (row,), _ = run_ablation(ci_config(), variants=(ABLATION[0],), isolate=False, steps=1, pool=64, peak=False)
    assert row.rates == {k: 5.0 for k in PHASES}
    assert row.note == "captures failed, eager: VAE/D iteration (RuntimeError: capture failed)"
    assert row.note in ablation_module.format_ablation_row(row)


def test_the_autocast_cache_reaches_autocast(monkeypatch):
    seen = []
    monkeypatch.setattr(torch, "autocast", lambda device_type, dtype, cache_enabled: seen.append(cache_enabled))
    for cache in (True, False):
        Runtime(True, False, autocast_cache=cache).autocast(torch.device("cpu"))
    assert seen == [True, False]
    with pytest.raises(ValueError, match="autocast_cache must be true or false, got 'yes'"):
        ci_config(autocast_cache="yes")


def test_bench_command_line_takes_the_graph_switch_and_the_epoch_overhead_points():
    args = build_parser().parse_args(["bench", "--cuda-graphs", "off", "--epoch-overhead", "1000,4000"])
    assert args.cuda_graphs == "off" and args.epoch_overhead == (1000, 4000)
    assert build_parser().parse_args(["bench"]).epoch_overhead == ()


# ------------------------------------------------------------------------------ profiling with graphs (item 4)
def test_the_profiler_workarounds_are_set_once_before_any_capture(monkeypatch):
    import torch.profiler._utils as profiler_utils

    inits = []
    monkeypatch.setattr(profiler_utils, "_init_for_cuda_graphs", lambda: inits.append(1))
    monkeypatch.setattr(profiling_module, "_PROFILER_READY", False)
    monkeypatch.delenv("TEARDOWN_CUPTI", raising=False)
    monkeypatch.setenv("DISABLE_CUPTI_LAZY_REINIT", "0")  # a value already set is kept
    assert prepare_profiler_for_graphs(torch.device("cpu")) is None and not inits
    first = prepare_profiler_for_graphs(torch.device("cuda", 0))
    second = prepare_profiler_for_graphs(torch.device("cuda", 0))
    assert first == {"TEARDOWN_CUPTI": "0", "DISABLE_CUPTI_LAZY_REINIT": "0", "initialised_now": True}
    assert second["initialised_now"] is False and inits == [1] and os.environ["TEARDOWN_CUPTI"] == "0"


def test_profiler_events_read_a_finished_profile_and_refuse_one_not_run():
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        torch.ones(3).add(1)
    names = [event.name for event in profiler_events(prof)]
    assert "aten::add" in names and "aten::ones" in names
    with pytest.raises(ValueError, match="needs a finished profile"):
        profiler_events(torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]))


def fake_nvidia_smi(tmp_path, monkeypatch, readings=("40", "60")):
    log = tmp_path / "smi-args.txt"
    script = tmp_path / "nvidia-smi"
    script.write_text(f"#!{sys.executable}\nimport sys, time\nopen({str(log)!r}, 'w').write(' '.join(sys.argv[1:]))\n"
                      + "".join(f"print({r!r}, flush=True)\n" for r in readings) + "time.sleep(30)\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.mark.slow
def test_nvidia_smi_is_sampled_every_250_ms_over_the_window(tmp_path, monkeypatch):
    log = fake_nvidia_smi(tmp_path, monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    with SmiSampler(torch.device("cuda", 1)) as smi:
        for _ in range(100):  # until the fake has printed
            if log.exists():
                break
            __import__("time").sleep(0.1)
        __import__("time").sleep(0.5)
    assert smi.samples == [40.0, 60.0] and smi.mean == pytest.approx(0.5)
    assert "-lms 250" in log.read_text() and "-i 5" in log.read_text()  # the GPU as CUDA_VISIBLE_DEVICES names it
    with SmiSampler(torch.device("cpu")) as none:
        pass
    assert none.samples == [] and none.mean is None


def test_gpu_busy_is_steady_state_and_beside_nvidia_smi(monkeypatch):
    phases, _ = made_up_phases(monkeypatch, True)
    profiled = []

    def profile(phases_, phase, steps, cuda=False):
        profiled.append((phase, steps, cuda))
        busy_us = 1e6 * (0.5 + 0.004 * steps)  # fixed 0.5 s of device time, then 4 ms a step
        return [SimpleNamespace(device_type=profiling_module.DeviceType.CUDA,
                                time_range=SimpleNamespace(start=0, end=busy_us))]

    class Smi:
        def __init__(self, device, interval_ms=250):
            self.mean = 0.61

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(profiling_module, "profile_phase", profile)
    monkeypatch.setattr(profiling_module, "SmiSampler", Smi)
    short = phases.steady_steps(3)
    rows = [BenchRow(p, "", 1.0, seconds, 1) for p, seconds in zip(PHASES, (0.02 * short, 0.02 * short, 1.0))]
    busy = gpu_busy(phases, rows, 3)
    assert profiled[:2] == [("task", short, True), ("task", 2 * short, True)]
    assert busy["task"]["steady"] == pytest.approx(0.004 * short / (0.02 * short))  # 20 %: the fixed 0.5 s drops out
    assert busy["task"]["window_smi"] == 0.61 and 0 < busy["task"]["window_profiler"]
    assert profiled[-1] == ("scoring", 3, True) and busy["scoring"]["steady"] == pytest.approx(0.5 + 0.012)


def test_bench_files_side_by_side(tmp_path, capsys):
    import json

    from tavaal_nb.bench.speed import main as compare

    meta = {"runtime": {"cuda_graphs": True}, "fixed_s": {"task": 0.41, "vae": 0.3},
            "epoch_overhead": [{"labeled": 1000, "overhead_s": 0.0042}], "host_ops_per_step": {
                "task": {"aten_ops": 2, "launches": 0}, "vae": {"aten_ops": 3, "launches": 0}},
            "gpu_busy": {"task": {"steady": 0.9, "window_smi": 0.85}, "vae": {"steady": 0.71, "window_smi": None}},
            "peak_memory_gb": {"task": 3.5, "vae": 9.25}, "trial_estimate_s": {"total": 840.0}}
    rows = [{"rate": r} for r in (36_000.0, 201.5, 170_000.0)]
    (tmp_path / "on.json").write_text(json.dumps({"meta": meta, "rows": rows}))
    assert compare([str(tmp_path / "on.json")]) == 0
    assert ("| on | True | 36,000 | 201.5 | 170,000 | 0.41 / 0.30 | 1,000: 4.2 | 2 / 3 | 0 / 0 | 90% (85%) / 71% (-) "
            "| 3.50 / 9.25 | 14.0 |") in capsys.readouterr().out
    assert compare([str(tmp_path / "off.json")]) == 2
    assert "usage: python -m tavaal_nb.bench.speed BENCH.json" in capsys.readouterr().err
