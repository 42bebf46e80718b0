"""CUDA graphs (``cuda_graphs``) and precision by capability: the graph-ready step path against the
plain loop on the CPU, the switch's validation, resolution and resume, fp16 with its gradient scaler,
and (on a GPU only) captured against eager training."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import ci_config

import tavaal_nb.cuda_graphs as graphs_module
from tavaal_nb import make_config, run_experiment
from tavaal_nb.experiment_data import make_augmenter, prepare_data
from tavaal_nb.losses import bce_ranking_loss
from tavaal_nb.models import ConditionalVAE, Discriminator
from tavaal_nb.stored_config import EXECUTION_FIELDS, config_diff
from tavaal_nb.strategies.vaal import train_adversarial
from tavaal_nb.sweep.grid import EXECUTION_ONLY
from tavaal_nb.training import Runtime, build_task_model, train_task_model

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
LABELED = 100  # six full batches of 16 and a partial one of 4, which runs eagerly


def _task_run(config, data, device, **kwargs):
    """A task model with a Ranker trained from seed 0: (per-epoch losses, final weights)."""
    torch.manual_seed(0)
    task = build_task_model(config, data, True, device)
    generator = torch.Generator(device=device).manual_seed(0)
    history = train_task_model(task, data, torch.arange(LABELED, device=device), config, make_augmenter(config, data),
                               generator, bce_ranking_loss, progress=False, **kwargs)
    weights = {**task.backbone.state_dict(), **{f"ranker.{k}": v for k, v in task.ranker.state_dict().items()}}
    return history, weights


def _adversarial_run(config, data, device, iterations=7, **kwargs):
    """A TA-VAAL VAE and discriminator trained from seed 0: (loss history, final weights)."""
    torch.manual_seed(0)
    vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width).to(device)
    disc = Discriminator(config.z_dim, 1, config.disc_hidden, config.disc_depth).to(device)
    images = data.train_images
    r = torch.randn(100, generator=torch.Generator().manual_seed(1)).to(device)
    history = train_adversarial(vae, disc, images[:40], images[40:100], r[:40], r[40:], config,
                                make_augmenter(config, data), iterations,
                                torch.Generator(device=device).manual_seed(0), progress=False, log_every=3, **kwargs)
    return history, {**vae.state_dict(), **{f"disc.{k}": v for k, v in disc.state_dict().items()}}


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# ------------------------------------------------------------------------------ the graph-ready path, eagerly
def test_static_task_steps_equal_the_plain_loop_exactly():
    """The path CUDA graphs capture (epoch order in a static table, rows read through the device step
    counter, the partial batch eager, a new step when lr or detaching changes), run eagerly on the CPU,
    gives the plain loop's losses and weights bit for bit: the same ops on the same values."""
    config = ci_config(epochs=3, milestones=(2,), ranker_detach_epoch=1)
    data = prepare_data(config)
    plain_history, plain_weights = _task_run(config, data, CPU)
    static_history, static_weights = _task_run(config, data, CPU, _static_steps=True)
    assert static_history == plain_history
    _assert_same_weights(static_weights, plain_weights)


@pytest.mark.parametrize("vae_steps", [1, 2])
def test_static_adversarial_iterations_equal_the_plain_loop_exactly(vae_steps):
    config = ci_config(num_vae_steps=vae_steps)
    data = prepare_data(config)
    plain_history, plain_weights = _adversarial_run(config, data, CPU)
    static_history, static_weights = _adversarial_run(config, data, CPU, _static_steps=True)
    assert static_history == plain_history
    assert [len(v) for v in static_history.values()] == [3] * 5  # blocks of 3, 3, 1
    _assert_same_weights(static_weights, plain_weights)


def test_graphed_step_without_capture_calls_the_step_every_time():
    calls = []
    graphed = graphs_module.GraphedStep(lambda: calls.append(1), capture=False)
    for _ in range(5):
        graphed()
    assert len(calls) == 5 and graphed.graph is None


def test_device_tally_records_the_first_non_finite_step():
    tally = graphs_module.DeviceTally((2,), (2,), CPU)
    table = torch.arange(12).view(4, 3)
    rows = []
    for losses in ([1.0, 2.0], [float("nan"), 1.0], [float("inf"), float("nan")], [1.0, 1.0]):
        rows.append(tally.row(table).tolist())
        values = torch.tensor(losses)
        tally.add(values, values)
    assert rows == table.tolist()
    assert tally.first_bad.tolist() == [1, 2] and int(tally.step) == 4
    tally.reset()
    assert tally.first_bad.tolist() == [-1, -1] and int(tally.step) == 0 and tally.sums.tolist() == [0.0, 0.0]


# ------------------------------------------------------------------------------ cuda_graphs: the switch
def test_cuda_graphs_resolves_on_for_cuda_and_off_for_the_cpu():
    assert Runtime.resolve(ci_config(), CPU).cuda_graphs is False
    assert Runtime.resolve(ci_config(cuda_graphs="off"), CPU).cuda_graphs is False
    assert Runtime.resolve(ci_config(), CUDA).cuda_graphs is True  # no GPU needed to resolve
    assert Runtime.resolve(ci_config(cuda_graphs="off"), CUDA).cuda_graphs is False
    assert Runtime.resolve(ci_config(compile=False, precision="fp32"), CUDA).cuda_graphs is True
    assert Runtime.resolve(None, CUDA).cuda_graphs is False  # inference only: nothing to capture


def test_cuda_graphs_values_are_checked_and_on_needs_cuda():
    with pytest.raises(ValueError, match=r"cuda_graphs must be auto \(on when the device is CUDA\), on .* or off, "
                                         r"got 'yes'"):
        ci_config(cuda_graphs="yes")
    with pytest.raises(ValueError, match="cuda_graphs='on' needs a CUDA device, but device is 'cpu'"):
        ci_config(cuda_graphs="on")  # ci_config runs on device cpu
    on = make_config("ci", dataset="synthetic", device="auto", cuda_graphs="on")  # the device is found later
    with pytest.raises(ValueError, match="cuda_graphs='on' needs a CUDA device, but this run's device is cpu"):
        Runtime.resolve(on, CPU)
    assert Runtime.resolve(on, CUDA).cuda_graphs is True
    with pytest.raises(ValueError, match="cuda_graphs='on' does not work with precision='fp16'"):
        make_config("ci", dataset="synthetic", device="auto", cuda_graphs="on", precision="fp16")


def test_cuda_graphs_is_execution_only_and_a_file_written_with_it_on_resumes_with_it_off(tmp_path):
    assert "cuda_graphs" in EXECUTION_FIELDS and set(EXECUTION_ONLY) == set(EXECUTION_FIELDS)
    on = {**ci_config().to_dict(), "cuda_graphs": "on"}
    assert config_diff(on, ci_config(cuda_graphs="off").to_dict()) == []
    assert config_diff(on, ci_config(precision="bf16").to_dict()) != []  # precision is still compared
    config = ci_config(methods=("random",), cycles=2, epochs=1, milestones=(1,))
    finished = run_experiment(config, tmp_path, progress=False)
    path = tmp_path / "results.json"
    stored = json.loads(path.read_text())
    stored["config"]["cuda_graphs"] = "on"  # as a GPU run would have written it
    path.write_text(json.dumps(stored))
    resumed = run_experiment(config.replace(cuda_graphs="off"), tmp_path, resume=True, progress=False)
    assert [r["selected_indices"] for r in resumed.runs[0]["cycles"]] == \
        [r["selected_indices"] for r in finished.runs[0]["cycles"]]


def test_cli_has_a_cuda_graphs_flag():
    from tavaal_nb.cli import build_parser

    args = build_parser().parse_args(["run", "--out", "x", "--cuda-graphs", "off"])
    assert args.cuda_graphs == "off"


# ------------------------------------------------------------------------------ precision by capability
def _fake_gpu(monkeypatch, capability):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)


@pytest.mark.parametrize("capability, precision", [((9, 0), "bf16"), ((8, 0), "bf16"), ((7, 5), "fp16"),
                                                   ((7, 0), "fp16")])
def test_auto_precision_follows_the_compute_capability(monkeypatch, capability, precision):
    _fake_gpu(monkeypatch, capability)
    runtime = Runtime.resolve(ci_config(), CUDA)
    assert runtime.amp and runtime.fp16 == (precision == "fp16")
    assert runtime.cuda_graphs == (precision == "bf16")  # auto: no graphs with fp16's scaler
    assert Runtime.resolve(None, CUDA).fp16 == (precision == "fp16")
    if precision == "fp16":
        on = make_config("ci", dataset="synthetic", device="auto", cuda_graphs="on")
        with pytest.raises(ValueError, match="cuda_graphs='on' does not work with fp16 precision"):
            Runtime.resolve(on, CUDA)
        assert Runtime.resolve(ci_config(precision="bf16"), CUDA).fp16 is False  # forcing still wins


def test_auto_precision_is_fp32_on_the_cpu(monkeypatch):
    _fake_gpu(monkeypatch, (9, 0))
    runtime = Runtime.resolve(ci_config(), CPU)
    assert (runtime.amp, runtime.fp16) == (False, False)
    assert ci_config().precision == "auto"
    with pytest.raises(ValueError, match="precision must be auto .* bf16, fp16 or fp32, got 'fp8'"):
        ci_config(precision="fp8")


def test_forced_fp16_trains_on_the_cpu_with_a_gradient_scaler(monkeypatch):
    """fp16 autocast on the CPU, each optimizer with an active GradScaler; the losses stay finite."""
    scalers = []
    original = torch.amp.GradScaler

    def spy(*args, **kwargs):
        scaler = original(*args, **kwargs)
        scalers.append(scaler)
        return scaler

    monkeypatch.setattr(torch.amp, "GradScaler", spy)
    config = ci_config(precision="fp16", epochs=1, milestones=(1,))  # one epoch creates and steps every scaler
    data = prepare_data(config)
    history, _ = _task_run(config, data, CPU)
    adversarial, _ = _adversarial_run(config, data, CPU, iterations=4)
    assert len(scalers) == 3 and all(s.is_enabled() for s in scalers)  # SGD, then the VAE's and D's Adam
    assert all(s.get_scale() > 0 for s in scalers)
    assert all(torch.isfinite(torch.tensor(v)).all() for v in [history, *adversarial.values()])


# ------------------------------------------------------------------------------ on a GPU: captured vs eager
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graphs_train_like_eager_steps_on_cuda(monkeypatch):
    """Captured and eager training from the same seeds agree to bf16 tolerance: the same batches and
    the same random crops, flips and noise (Philox offsets advance per replay as per eager call),
    with capturable Adam and bf16 rounding the only differences. Graphs are really captured."""
    captures = []
    original = graphs_module.GraphedStep._capture

    def counting(self):
        captures.append(self)
        original(self)

    monkeypatch.setattr(graphs_module.GraphedStep, "_capture", counting)
    results = {}
    for graphs in ("on", "off"):
        config = make_config("ci", dataset="synthetic", device="cuda", precision="bf16", cuda_graphs=graphs,
                             epochs=3, milestones=(2,), ranker_detach_epoch=1)
        data = prepare_data(config, CUDA)
        task_history, _ = _task_run(config, data, CUDA)
        adversarial, _ = _adversarial_run(config, data, CUDA, iterations=12)
        results[graphs] = task_history, adversarial
        if graphs == "on":
            assert len(captures) == 4  # task: (attached, lr), (detached, lr), (detached, lr / 10); VAE/D: one
    (task_on, adv_on), (task_off, adv_off) = results["on"], results["off"]
    assert task_on == pytest.approx(task_off, rel=2e-2)
    for name in adv_on:
        assert adv_on[name] == pytest.approx(adv_off[name], rel=2e-2, abs=1e-3), name
