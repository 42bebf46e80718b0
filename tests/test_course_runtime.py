"""Classroom-safe presets and run-time estimates (tavaal_nb.classroom.course_runtime)."""

import pytest

import tavaal_nb
from tavaal_nb.classroom.course_runtime import (
    announce_minutes,
    announce_run,
    expected_minutes,
    notebook_preset,
    phase_minutes,
)


@pytest.mark.parametrize("environ, preset", [
    ({}, "cpu"), ({"TAVAAL_PRESET": "auto"}, "cpu"), ({"TAVAAL_PRESET": ""}, "cpu"),
    ({"TAVAAL_PRESET": "ci"}, "ci"), ({"TAVAAL_PRESET": "cpu"}, "cpu"),
    ({"TAVAAL_PRESET": "paper"}, "paper"), ({"TAVAAL_PRESET": "authors-code"}, "authors-code"),
])
def test_notebook_preset_is_paper_only_on_purpose(environ, preset):
    assert notebook_preset(environ) == preset


def test_notebook_preset_ignores_a_gpu(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert tavaal_nb.config.resolve_preset("auto") == "paper"  # the command line's auto picks paper on a GPU ...
    assert notebook_preset({"TAVAAL_PRESET": "auto"}) == "cpu"  # ... a notebook's never does


def test_notebook_preset_rejects_unknown_names():
    with pytest.raises(ValueError, match="TAVAAL_PRESET='gpu'.*valid: .*paper"):
        notebook_preset({"TAVAAL_PRESET": "gpu"})


def test_expected_minutes_of_the_ci_preset_by_hand():
    config = tavaal_nb.make_config("ci", dataset="synthetic", methods=("tavaal", "random"), trials=1)
    # task: 3.33 GFLOP x (4/64)^2 per image, 2 epochs x (20 + 40 + 60) images, for both methods;
    # VAE/D (tavaal only, 2 queries x 4 iterations): 834 GFLOP x (4/128)^2 x 16/128 each;
    # at 0.06 TFLOP/s, plus 2 s per cycle: 2 methods x 3 cycles.
    task = 3.33 / 256 * 2 * 120
    vae = 834 / 1024 / 8 * 4 * 2
    seconds = (2 * task + vae) / 60.0 + 2 * 3 * 2.0
    assert expected_minutes(config, "cpu") == pytest.approx(seconds / 60, rel=1e-9)
    assert expected_minutes(config.replace(trials=3), "cpu") == pytest.approx(3 * seconds / 60, rel=1e-9)


def test_paper_preset_is_hours_on_a_cpu_and_minutes_on_a_gpu():
    config = tavaal_nb.make_config("paper", dataset="cifar10", methods=("tavaal",), trials=1)
    assert expected_minutes(config, "cpu") > 24 * 60
    assert 5 < expected_minutes(config, "cuda") < 120


def test_the_gpu_estimate_is_the_h200_measurement():
    # bench on one H200 (commit 4f0e4ad): 7,599 images/s, 43.4 VAE/D iterations/s, and from them one paper
    # trial of TA-VAAL predicted at 64.6 minutes (train 24.1, VAE/D 40.5; ../shared/measurements/...)
    config = tavaal_nb.make_config("paper", dataset="cifar10", methods=("tavaal",), trials=1)
    train = 200 * sum(1000 * (c + 1) for c in range(10)) / 7599 / 60
    vae = sum(config.vae_iterations_for(1000 * (c + 1), 10_000) for c in range(9)) / 43.4 / 60
    assert train == pytest.approx(24.1, abs=0.05) and vae == pytest.approx(40.5, abs=0.05)
    assert expected_minutes(config, "cuda") == pytest.approx(train + vae + 10 * 3.0 / 60, rel=1e-9)
    # retrain_plain trains a second, plain task model every cycle
    assert expected_minutes(config.replace(retrain_plain=True), "cuda") == \
        pytest.approx(expected_minutes(config, "cuda") + train, rel=1e-9)
    # host-bound: a narrower model steps no faster; fewer images per step means more steps
    narrow = config.replace(width=16, vae_width=16)
    assert expected_minutes(narrow, "cuda") == pytest.approx(expected_minutes(config, "cuda"), rel=1e-9)
    assert phase_minutes(config.replace(batch_size=64), task_images=1280, device="cuda") == \
        pytest.approx(2 * phase_minutes(config, task_images=1280, device="cuda"), rel=1e-9)
    with pytest.raises(ValueError, match="device must be"):
        expected_minutes(config, "tpu")


def test_announce_run_speaks_only_for_long_runs(capsys):
    short = tavaal_nb.make_config("ci", dataset="synthetic", methods=("random",), trials=1)
    assert announce_run(short, "cpu") is None
    assert capsys.readouterr().out == ""
    long = tavaal_nb.make_config("paper", dataset="cifar10", methods=("tavaal",), trials=5)
    message = announce_run(long, "cpu")
    assert message is not None and "hours" in message and "TAVAAL_PRESET=ci" in message
    assert message in capsys.readouterr().out


def test_phase_minutes_by_hand_and_bad_counts():
    config = tavaal_nb.make_config("cpu", dataset="synthetic")
    # width 16: 3.33 / 16 GFLOP per image; vae_width 16, batch 64: 834 / 64 / 2 GFLOP per iteration
    seconds = (1000 * 3.33 / 16 + 10 * 834 / 128) / 60.0 + 2 * 2.0
    assert phase_minutes(config, task_images=1000, vae_iterations=10, cycles=2, device="cpu") == \
        pytest.approx(seconds / 60, rel=1e-9)
    assert phase_minutes(config, device="cpu") == 0.0
    with pytest.raises(ValueError, match="counts must be >= 0"):
        phase_minutes(config, task_images=-1)


def test_announce_minutes_names_the_job(capsys):
    assert announce_minutes(1.5, "Training") is None
    assert announce_minutes(150.0, "Training").startswith("Training is expected to take about 2.5 hours")
    assert "2.5 hours" in capsys.readouterr().out


def test_expected_minutes_count_the_minimum_step_schedule(monkeypatch):
    import tavaal_nb.classroom.course_runtime as runtime_module

    seen = []
    monkeypatch.setattr(runtime_module, "phase_minutes",
                        lambda config, task_images, vae_iterations, cycles, device=None: seen.append(task_images) or 0.0)
    config = tavaal_nb.make_config("cpu", dataset="fashion-mnist", methods=("random",), min_steps=250)
    runtime_module.expected_minutes(config, device="cpu")
    # 200 images: 4 steps an epoch -> 63 epochs; 400: 7 -> 36; 600: 10 -> 25; 800: 13 -> 20; 1,000: 16 -> 16
    assert seen == [63 * 200 + 36 * 400 + 25 * 600 + 20 * 800 + 16 * 1000]
    seen.clear()
    runtime_module.expected_minutes(config.replace(min_steps=0), device="cpu")
    assert seen == [12 * (200 + 400 + 600 + 800 + 1000)]
