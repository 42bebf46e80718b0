"""tavaal_nb.classroom.computations (the course's measurements), losses.loss_prediction_mse, and the loss terms
that train_adversarial reports: hand-made cases and ci-sized runs on the synthetic set."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import ci_config, entropy_by_hand

from tavaal_nb import run_experiment
from tavaal_nb.analysis.model_figures import loss_prediction_figure, vae_history_figure
from tavaal_nb.analysis.paper import PAPER_HEADLINES, compare_with_paper, find_results, format_comparison
from tavaal_nb.callbacks import InterruptAfter, SelectionRecorder
from tavaal_nb.classroom.computations import (
    compare_loss_predictors,
    decode_with_r,
    predicted_and_true_losses,
    random_selection_entropies,
    ranking_objectives,
    reconstruct,
    to_uint8,
    top_fraction_overlap,
    train_task_with_ranker,
)
from tavaal_nb.data import ActivePool
from tavaal_nb.experiment_data import make_augmenter, prepare_data
from tavaal_nb.losses import bce_ranking_loss, loss_prediction_mse, margin_ranking_loss
from tavaal_nb.models import ConditionalVAE, Discriminator
from tavaal_nb.results import Results, load_results
from tavaal_nb.strategies.vaal import train_adversarial


@pytest.fixture(scope="module")
def ci_data():
    config = ci_config(dataset="synthetic-grey")
    data = prepare_data(config)
    labeled = ActivePool.random(data.train_size, config.initial, torch.Generator().manual_seed(0)).labeled
    return config, data, labeled


# ------------------------------------------------------------------------------ losses
def test_loss_prediction_mse_by_hand_and_its_scale():
    pred, true = torch.tensor([2.0, 0.5, 1.0, 0.0]), torch.tensor([0.9, 0.1, 0.3, 0.2])
    by_hand = ((2.0 - 0.9) ** 2 + 0.4 ** 2 + 0.7 ** 2 + 0.2 ** 2) / 4
    assert loss_prediction_mse(pred, true).item() == pytest.approx(by_hand)
    # targets x10 / predictions +3: MSE moves, the ranking losses do not
    assert loss_prediction_mse(pred, 10 * true).item() > 10 * by_hand
    for loss in (margin_ranking_loss, bce_ranking_loss):
        assert loss(pred, 10 * true).item() == pytest.approx(loss(pred, true).item())
        assert loss(pred + 3, true).item() == pytest.approx(loss(pred, true).item())
    leaf = pred.clone().requires_grad_(True)
    target = true.clone().requires_grad_(True)
    loss_prediction_mse(leaf, target).backward()
    assert target.grad is None  # targets are detached
    with pytest.raises(ValueError, match="same length"):
        loss_prediction_mse(pred, true[:3])


def test_ranking_objectives_names():
    objectives = ranking_objectives(margin=0.5)
    assert list(objectives) == ["MSE", "MSE x 0.1", "eq. 1 (margin)", "eq. 4 (BCE)"]
    pred, true = torch.tensor([0.2, 0.0]), torch.tensor([1.0, 0.0])
    assert objectives["eq. 1 (margin)"](pred, true).item() == pytest.approx(0.3)  # max(0, -0.2 + 0.5)
    assert objectives["MSE x 0.1"](pred, true).item() == pytest.approx(0.1 * loss_prediction_mse(pred, true).item())


# ------------------------------------------------------------------------------ train_adversarial terms
def test_train_adversarial_reports_the_terms_of_eq_6_and_7(ci_data):
    config, data, labeled = ci_data
    augmenter = make_augmenter(config, data)
    torch.manual_seed(0)
    vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width)
    disc = Discriminator(config.z_dim, 1, config.disc_hidden, config.disc_depth)
    images = data.train_images
    history = train_adversarial(vae, disc, images[:20], images[20:80], torch.randn(20), torch.randn(60), config,
                                augmenter, 7, torch.Generator().manual_seed(0), progress=False, log_every=3)
    assert set(history) == {"vae", "discriminator", "reconstruction", "kl", "adversarial"}
    assert all(len(values) == 3 for values in history.values())  # blocks of 3, 3, 1
    for k in range(3):
        total = history["reconstruction"][k] + config.kl_weight * history["kl"][k] \
            + config.adversarial_weight * history["adversarial"][k]
        assert history["vae"][k] == pytest.approx(total, rel=1e-5)
        assert history["kl"][k] >= 0 and history["reconstruction"][k] > 0
    with pytest.raises(ValueError, match="log_every"):
        train_adversarial(vae, disc, images[:20], images[20:80], None, None, config, augmenter, 1,
                          torch.Generator().manual_seed(0), progress=False, log_every=0)


# ------------------------------------------------------------------------------ callbacks
def test_selection_recorder_sees_eq_9(tmp_path):
    config = ci_config(methods=("vaal", "tavaal"), cycles=2, epochs=1, milestones=(1,))  # eq. 9 after any training
    recorder = SelectionRecorder()
    results = run_experiment(config, callbacks=[recorder], progress=False)
    assert set(recorder.selections) == {("vaal", 0, 0), ("tavaal", 0, 0)}
    assert set(recorder.records) == {(m, 0, c) for m in config.methods for c in range(2)}
    for method in config.methods:
        selection = recorder.selections[(method, 0, 0)]
        chosen = torch.isin(selection.candidates, selection.indices)
        d = selection.strategy_data["discriminator_scores"]
        assert int(chosen.sum()) == config.budget
        assert d[chosen].max() <= d[~chosen].min()
        assert results.run(method, 0)["cycles"][0]["selected_indices"] == selection.indices.tolist()


@pytest.mark.slow
def test_interrupt_after_then_resume_gives_the_uninterrupted_records(tmp_path):
    config = ci_config(methods=("random",))
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "cut", callbacks=[InterruptAfter(1)], progress=False)
    partial = load_results(tmp_path / "cut")[0]
    assert len(partial.run("random", 0)["cycles"]) == 1 and not partial.is_finished()
    resumed = run_experiment(config, tmp_path / "cut", resume=True, progress=False)
    whole = run_experiment(config, tmp_path / "whole", progress=False)
    strip = lambda run: [{k: v for k, v in r.items() if k != "timings_s"} for r in run["cycles"]]  # noqa: E731
    assert strip(resumed.run("random", 0)) == strip(whole.run("random", 0))
    with pytest.raises(ValueError):
        InterruptAfter(0)


# ------------------------------------------------------------------------------ loss predictors
def test_loss_predictors_on_held_out_images(ci_data):
    config, data, labeled = ci_data
    task, history = train_task_with_ranker(config, data, labeled, bce_ranking_loss, seed=0)
    assert len(history) == config.epochs and task.ranker is not None
    pred, true = predicted_and_true_losses(task, data.test_images, data.test_labels, make_augmenter(config, data))
    assert pred.shape == true.shape == (data.test_labels.numel(),) and (true >= 0).all()
    plain, _ = train_task_with_ranker(config, data, labeled, None, seed=0)
    with pytest.raises(ValueError, match="no Ranker"):
        predicted_and_true_losses(plain, data.test_images, data.test_labels, make_augmenter(config, data))


def test_compare_loss_predictors_reports_divergence(ci_data):
    config, data, labeled = ci_data
    objectives = {"eq. 4": bce_ranking_loss, "broken": lambda p, t: p.sum() * float("nan")}
    out = compare_loss_predictors(config, data, labeled, data.test_images, data.test_labels, objectives, seed=0)
    assert out["eq. 4"]["diverged"] is None and out["eq. 4"]["predicted"].numel() == data.test_labels.numel()
    assert out["broken"]["predicted"] is None and "NaN" in out["broken"]["diverged"]
    # same seed: same initialisation and batches, so the same objective gives the same numbers
    again = compare_loss_predictors(config, data, labeled, data.test_images, data.test_labels, {"eq. 4": bce_ranking_loss})
    assert torch.equal(again["eq. 4"]["predicted"], out["eq. 4"]["predicted"])
    fig = loss_prediction_figure({"eq. 4": (out["eq. 4"]["predicted"], out["eq. 4"]["true"])})
    assert len(fig.data) == 1 and "Spearman" in fig.layout.annotations[0].text


def test_top_fraction_overlap_by_hand():
    true = torch.arange(10.0)
    assert top_fraction_overlap(true, true, 0.2) == 1.0
    assert top_fraction_overlap(-true, true, 0.2) == 0.0
    assert top_fraction_overlap(torch.tensor([9.0, 8, 0, 0, 0, 0, 0, 0, 0, 0]), true, 0.2) == 0.0
    assert top_fraction_overlap(torch.tensor([0.0, 0, 0, 0, 0, 0, 0, 0, 5, 9]), true, 0.2) == 1.0
    assert top_fraction_overlap(torch.tensor([0.0, 0, 0, 0, 0, 0, 0, 0, 9, 0, ]), true, 0.2) == 0.5
    with pytest.raises(ValueError):
        top_fraction_overlap(true, true, 0.0)


# ------------------------------------------------------------------------------ VAE views
def test_to_uint8_inverts_the_normalisation(ci_data):
    config, data, _ = ci_data
    augmenter = make_augmenter(config, data)
    images = data.train_images[:5]
    assert torch.equal(to_uint8(augmenter(images), augmenter), images)


def test_reconstruct_and_decode_with_r_agree(ci_data):
    config, data, _ = ci_data
    augmenter = make_augmenter(config, data)
    torch.manual_seed(0)
    vae = ConditionalVAE(data.channels, data.image_size, config.z_dim, 1, config.vae_width)
    images, r = data.train_images[:4], torch.tensor([-1.0, 0.0, 0.5, 2.0])
    recons = reconstruct(vae, images, r, augmenter)
    assert recons.shape == images.shape and recons.dtype == torch.uint8
    sweep = decode_with_r(vae, images, [-1.0, 2.0], augmenter)
    assert sweep.shape == (2, *images.shape)
    assert (sweep[0, 0].int() - recons[0].int()).abs().max() <= 1
    assert (sweep[1, 3].int() - recons[3].int()).abs().max() <= 1
    plain = ConditionalVAE(data.channels, data.image_size, config.z_dim, 0, config.vae_width)
    assert reconstruct(plain, images, None, augmenter).shape == images.shape
    with pytest.raises(ValueError, match="r_dim=1"):
        decode_with_r(plain, images, [0.0], augmenter)


def test_vae_history_figure():
    history = {"vae": [3.0, 2.0], "discriminator": [1.4, 1.3], "reconstruction": [1.0, 0.5], "kl": [0.1, 0.2],
               "adversarial": [1.9, 1.3]}
    fig = vae_history_figure(history, log_every=10, iterations=15)
    assert [trace.x for trace in fig.data][0] == (10, 15)
    assert len(fig.data) == 4  # reconstruction, KL, adversarial, discriminator


# ------------------------------------------------------------------------------ imbalance
def test_random_selection_entropies():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    whole = random_selection_entropies(labels, size=100, draws=3)
    assert whole == pytest.approx([entropy_by_hand([50, 30, 20])] * 3)
    parts = random_selection_entropies(labels, size=10, draws=5, seed=1)
    assert len(parts) == 5 and all(0 <= h <= math.log(3) + 1e-12 for h in parts)
    assert parts == random_selection_entropies(labels, size=10, draws=5, seed=1)
    with pytest.raises(ValueError):
        random_selection_entropies(labels, size=101)


# ------------------------------------------------------------------------------ the paper's numbers
def _fake_results(dataset: str, accuracies: dict[int, list[float]]) -> Results:
    results = Results.new({"methods": ["tavaal"], "trials": 2}, {"name": dataset})
    for trial in range(2):
        cycles = [{"cycle": k, "labeled_size": size, "test_accuracy": values[trial], "selected_indices": []}
                  for k, (size, values) in enumerate(sorted(accuracies.items()))]
        results.runs.append({"method": "tavaal", "trial": trial, "initial_indices": [0], "cycles": cycles,
                             "finished": True})  # every field a results file must have (results.check_runs)
    return results


def test_compare_with_paper():
    assert PAPER_HEADLINES[0].value == 90.32 and PAPER_HEADLINES[1].relation == ">"
    ours = _fake_results("cifar10", {4000: [81.0, 83.0], 10_000: [90.0, 91.0]})
    rows = compare_with_paper([ours])
    first, second, third = rows
    assert first["ours_mean"] == pytest.approx(90.5) and first["difference"] == pytest.approx(90.5 - 90.32)
    assert first["holds"] is None and first["trials"] == 2
    assert second["holds"] is True and second["ours_std"] == pytest.approx(math.sqrt(2))
    assert third["ours_mean"] is None and third["comparable"] is False
    table = format_comparison(rows)
    assert "not run" in table and "holds" in table and "over 80.00" in table
    low = compare_with_paper([_fake_results("cifar10", {4000: [70.0, 72.0]})])
    assert low[1]["holds"] is False


def test_compare_with_paper_pools_by_the_one_rule():
    a, b = _fake_results("cifar10", {10_000: [90.0, 91.0]}), _fake_results("cifar10", {10_000: [92.0, 93.0]})
    a.config["seed"], b.config["seed"] = 0, 1  # another seed: the same experiment, pooled
    rows = compare_with_paper([a, b], PAPER_HEADLINES[:1])
    assert len(rows) == 1 and rows[0]["trials"] == 4 and rows[0]["ours_mean"] == pytest.approx(91.5)
    b.config["epochs"] = 20  # other settings: another experiment, its own row
    rows = compare_with_paper([a, b], PAPER_HEADLINES[:1])
    assert [row["ours_mean"] for row in rows] == [pytest.approx(90.5), pytest.approx(92.5)]
    assert rows[0]["experiment"] != rows[1]["experiment"] and "epochs=20" in rows[1]["experiment"]


def test_find_results_skips_other_json(tmp_path):
    assert find_results(tmp_path / "absent") == []
    (tmp_path / "a" / "b").mkdir(parents=True)
    ours = _fake_results("fashion-mnist", {200: [60.0, 61.0]})
    ours.save(tmp_path / "a" / "b" / "tavaal.json")
    (tmp_path / "a" / "sweep.json").write_text(json.dumps({"format": "tavaal-nb/sweep"}))
    (tmp_path / "notes.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{")
    found = find_results(tmp_path)
    assert [r.path.name for r in found] == ["tavaal.json"]
    assert found[0].dataset["name"] == "fashion-mnist"


def test_latent_classes_figure_draws_one_trace_per_class():
    from tavaal_nb.analysis.model_figures import latent_classes_figure

    codes = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    fig = latent_classes_figure(codes, torch.tensor([1, 0, 1]), ["shirt", "coat"])
    assert [trace.name for trace in fig.data] == ["shirt (1)", "coat (2)"]
    assert list(fig.data[1].x) == [0.0, 4.0] and list(fig.data[1].y) == [1.0, 5.0]
    with pytest.raises(ValueError, match=r"shape \(N, 2\) and N labels, got codes \(3, 3\)"):
        latent_classes_figure(torch.zeros(3, 3), torch.zeros(3))
