"""The full-pool upper bound (command line, file, dashed line) and Fig. 4's plain curves in the
learning-curves figure, the widget and the report; num_vae_steps in the adversarial phase."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import ci_config
from torch.optim.optimizer import register_optimizer_step_post_hook

from tavaal_nb.analysis.plots import learning_curves_figure
from tavaal_nb.analysis.report import write_report
from tavaal_nb.classroom.widgets import LearningCurves
from tavaal_nb.cli import main
from tavaal_nb.experiment_data import make_augmenter, prepare_data
from tavaal_nb.models import ConditionalVAE, Discriminator
from tavaal_nb.results import Results
from tavaal_nb.strategies.vaal import train_adversarial
from tavaal_nb.upper_bound import UPPER_BOUND_NAME, UpperBound, find_upper_bound, read_upper_bound, write_upper_bound


# ------------------------------------------------------------------------------ num_vae_steps
@pytest.mark.parametrize("vae_steps", [1, 2, 3])
def test_num_vae_steps_takes_that_many_vae_steps_per_discriminator_step(vae_steps):
    config = ci_config(num_vae_steps=vae_steps)
    data = prepare_data(config)
    torch.manual_seed(0)
    vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 0, config.vae_width)
    disc = Discriminator(config.z_dim, 0, config.disc_hidden, config.disc_depth)
    vae_params, disc_params = set(map(id, vae.parameters())), set(map(id, disc.parameters()))
    steps = {"vae": 0, "discriminator": 0}
    order: list[str] = []

    def count(optimizer, _args, _kwargs):
        ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
        name = "vae" if ids == vae_params else "discriminator" if ids == disc_params else "other"
        steps[name] = steps.get(name, 0) + 1
        order.append(name)

    seen_batches: list[int] = []
    forward = vae.register_forward_hook(lambda _m, inputs, _out: seen_batches.append(inputs[0].shape[0]))
    handle = register_optimizer_step_post_hook(count)
    try:
        images = data.train_images
        train_adversarial(vae, disc, images[:20], images[20:80], None, None, config, make_augmenter(config, data),
                          3, torch.Generator().manual_seed(0), progress=False)
    finally:
        handle.remove()
        forward.remove()
    assert steps == {"vae": 3 * vae_steps, "discriminator": 3}
    assert order == (["vae"] * vae_steps + ["discriminator"]) * 3
    assert len(seen_batches) == 2 * 3 * vae_steps  # the labeled and the unlabeled batch of every VAE step


def test_num_vae_steps_must_be_positive():
    with pytest.raises(ValueError, match="num_vae_steps must be a positive integer"):
        ci_config(num_vae_steps=0)


# ------------------------------------------------------------------------------ upper bound
def _results(plain: bool = False) -> Results:
    """Two trials of tavaal and one of random at sizes 20 and 40, with worked-out numbers."""
    def run(method, trial, accuracies, plains):
        cycles = []
        for k, (size, accuracy) in enumerate(zip((20, 40), accuracies)):
            record = {"cycle": k, "labeled_size": size, "test_accuracy": accuracy,
                      "selected_indices": list(range(size, size + 20)) if k == 0 else []}
            if plain and plains is not None:
                record["plain_test_accuracy"] = plains[k]
            cycles.append(record)
        return {"method": method, "trial": trial, "initial_indices": list(range(20)), "cycles": cycles,
                "finished": True}

    results = Results.new(ci_config(methods=("tavaal", "random")).to_dict(), {"name": "synthetic", "class_counts": [40] * 10})
    results.data["runs"] = [run("tavaal", 0, (30.0, 50.0), (28.0, 44.0)), run("tavaal", 1, (40.0, 60.0), (32.0, 46.0)),
                            run("random", 0, (25.0, 35.0), None)]
    return results


def test_upper_bound_command_writes_the_file_and_refuses_a_second_one(tmp_path, capsys):
    args = ["upper-bound", "--dataset", "synthetic", "--preset", "ci", "--out", str(tmp_path), "--no-progress",
            "--epochs", "1", "--train-limit", "60", "--device", "cpu"]
    assert main(args) == 0
    bound = read_upper_bound(tmp_path)
    assert bound.dataset == "synthetic" and bound.train_size == 60 and len(bound.accuracies) == 1
    assert 0 <= bound.test_accuracy <= 100
    assert f"{bound.test_accuracy:.2f}%" in capsys.readouterr().out
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    backups = [p for p in tmp_path.iterdir() if p.name.startswith(UPPER_BOUND_NAME + ".replaced-")]
    assert len(backups) == 1
    assert json.loads(backups[0].read_text())["test_accuracy"] == bound.test_accuracy


def test_figure_draws_the_upper_bound_at_the_stored_accuracy(tmp_path):
    bound = UpperBound("synthetic", "ci", 400, [70.0, 80.0], [1, 2])
    write_upper_bound(bound, tmp_path / UPPER_BOUND_NAME)
    stored = read_upper_bound(tmp_path)
    fig = learning_curves_figure([_results()], upper_bound=stored)
    lines = [shape for shape in fig.layout.shapes if shape.type == "line"]
    assert len(lines) == 1 and lines[0].y0 == lines[0].y1 == 75.0  # the mean of 70 and 80
    assert "full pool (400 images)" in [a.text for a in fig.layout.annotations]
    assert not learning_curves_figure([_results()]).layout.shapes


def test_widget_and_report_find_the_upper_bound_beside_the_results(tmp_path):
    results = _results()
    (tmp_path / "tavaal").mkdir()
    results.save(tmp_path / "tavaal")
    loaded = Results.load(tmp_path / "tavaal")
    assert find_upper_bound([loaded]) is None
    write_upper_bound(UpperBound("synthetic", "ci", 400, [66.0], [1]), tmp_path / UPPER_BOUND_NAME)
    write_upper_bound(UpperBound("cifar10", "ci", 400, [99.0], [1]), tmp_path / "tavaal" / UPPER_BOUND_NAME)
    assert find_upper_bound([loaded]).test_accuracy == 66.0  # the other dataset's bound is passed over
    view = LearningCurves(tmp_path / "tavaal", static=True)
    assert [shape.y0 for shape in view._build().layout.shapes] == [66.0]
    page = write_report([tmp_path / "tavaal"], tmp_path / "report.html").read_text()
    assert "full pool (400 images)" in page


# ------------------------------------------------------------------------------ Fig. 4: plain curves
def test_plain_curves_are_dashed_means_of_plain_test_accuracy():
    fig = learning_curves_figure([_results(plain=True)])
    names = [trace.name for trace in fig.data]
    assert "tavaal (plain)" in names and "random (plain)" not in names  # random recorded none
    plain = fig.data[names.index("tavaal (plain)")]
    assert list(plain.x) == [20, 40] and list(plain.y) == [30.0, 45.0]  # (28 + 32) / 2, (44 + 46) / 2
    assert plain.line.dash == "dash"
    joint = fig.data[names.index("tavaal")]
    assert list(joint.y) == [35.0, 55.0]
    assert "tavaal (plain)" not in [t.name for t in learning_curves_figure([_results(plain=True)], plain=False).data]
    assert "tavaal (plain)" not in [t.name for t in learning_curves_figure([_results(plain=False)]).data]


def test_learning_curves_widget_toggles_the_plain_curves():
    view = LearningCurves(_results(plain=True), static=True)
    assert "tavaal (plain)" in [t.name for t in view._build().data]
    view.plain_toggle.value = False
    assert "tavaal (plain)" not in [t.name for t in view._build().data]

