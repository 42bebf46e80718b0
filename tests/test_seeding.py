"""Common random numbers across methods (Config.seeding), the minimum-step schedule and the noise floor."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch
from conftest import ci_config

import tavaal_nb.loop as loop_module
import tavaal_nb.noise as noise_module
from tavaal_nb import run_experiment
from tavaal_nb.data.pool import ActivePool
from tavaal_nb.errors import ResultsMismatchError
from tavaal_nb.noise import measure_noise, noise_table, read_noise
from tavaal_nb.seeding import candidate_keys, cycle_seeds

PLAIN_MODEL_METHODS = ("random", "entropy", "margin", "coreset", "badge", "vaal")


def old_cycle_seed(seed, dataset, method, trial, cycle) -> int:
    """The per-method cycle seed as the package computed it before 0.2, written out here."""
    digest = hashlib.sha256(repr((seed, dataset, method, trial, cycle)).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


class Weights:
    """Records each method's task-model weights at every evaluation (the trained model of each cycle)."""

    def __init__(self, monkeypatch):
        self.by_method: dict[tuple[str, int], dict[str, torch.Tensor]] = {}
        self.current: list[str] = []
        original = loop_module.evaluate

        def evaluate(task, *args, **kwargs):
            key = (self.current[-1], len([k for k in self.by_method if k[0] == self.current[-1]]))
            self.by_method[key] = {k: v.detach().clone() for k, v in task.backbone.state_dict().items()}
            return original(task, *args, **kwargs)

        monkeypatch.setattr(loop_module, "evaluate", evaluate)

    def on_run_start(self, method, trial, config):
        self.current.append(method)

    def on_epoch_end(self, *args):
        pass

    def on_cycle_end(self, *args):
        pass

    def on_run_end(self, *args):
        pass


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_methods_that_train_the_same_model_train_it_bit_for_bit_alike_at_cycle_0(monkeypatch):
    weights = Weights(monkeypatch)
    results = run_experiment(ci_config(methods=PLAIN_MODEL_METHODS, cycles=2), callbacks=[weights], progress=False)
    accuracies = {run["method"]: run["cycles"][0]["test_accuracy"] for run in results.runs}
    losses = {run["method"]: run["cycles"][0]["train_loss"] for run in results.runs}
    assert len(set(accuracies.values())) == 1, accuracies
    assert len({json.dumps(v) for v in losses.values()}) == 1, losses
    reference = weights.by_method[("random", 0)]
    for method in PLAIN_MODEL_METHODS[1:]:
        assert same_weights(weights.by_method[(method, 0)], reference), method
    # after a query the labeled sets differ, and so do the models (the picks are the strategies' own)
    picks = {run["method"]: tuple(run["cycles"][0]["selected_indices"]) for run in results.runs}
    assert len(set(picks.values())) > 1


def test_a_ranker_is_the_only_difference_between_a_ranker_method_and_the_plain_model(monkeypatch):
    # With the Ranker's loss weighted 0 its gradient adds exactly nothing to the backbone: TA-VAAL's and
    # Learning Loss's backbones then equal random's bit for bit (same init, batches and augmentation draws).
    weights = Weights(monkeypatch)
    run_experiment(ci_config(methods=("random", "tavaal", "lloss"), cycles=1, ranker_weight=0.0),
                   callbacks=[weights], progress=False)
    assert same_weights(weights.by_method[("tavaal", 0)], weights.by_method[("random", 0)])
    assert same_weights(weights.by_method[("lloss", 0)], weights.by_method[("random", 0)])
    # with the paper's weight the Ranker shapes the backbone, so the models differ
    weighted = Weights(monkeypatch)
    run_experiment(ci_config(methods=("random", "tavaal"), cycles=1), callbacks=[weighted], progress=False)
    assert not same_weights(weighted.by_method[("tavaal", 0)], weighted.by_method[("random", 0)])


def test_per_method_seeding_is_the_old_scheme_and_trains_each_method_differently(monkeypatch):
    config = ci_config(methods=("random", "entropy"), seeding="per-method")
    for method in ("random", "entropy"):
        seeds = cycle_seeds(config, method, 3, 2)
        assert seeds.training == seeds.strategy == seeds.candidates == old_cycle_seed(0, "synthetic", method, 3, 2)
        assert not seeds.shared
    weights = Weights(monkeypatch)
    run_experiment(config.replace(cycles=1), callbacks=[weights], progress=False)
    assert not same_weights(weights.by_method[("random", 0)], weights.by_method[("entropy", 0)])


def test_shared_seeds_depend_on_the_method_only_through_the_strategy():
    config = ci_config()
    a, b = cycle_seeds(config, "random", 1, 2), cycle_seeds(config, "tavaal", 1, 2)
    assert a.shared and b.shared
    assert (a.training, a.candidates) == (b.training, b.candidates)
    assert a.strategy != b.strategy
    assert cycle_seeds(config, "random", 1, 3).training != a.training
    assert cycle_seeds(config, "random", 2, 2).training != a.training


@pytest.mark.slow
def test_an_old_file_resumes_with_the_seeding_and_schedule_it_was_made_with(tmp_path, capsys):
    config = ci_config(methods=("random",), seeding="per-method")
    whole = run_experiment(config, progress=False)
    out = tmp_path / "old"
    run_experiment(config, out, progress=False)
    stored = json.loads((out / "results.json").read_text())
    for field in ("seeding", "min_steps"):  # written before these fields existed
        del stored["config"][field]
    del stored["runs"][0]["cycles"][-1]  # stopped after its second cycle
    stored["runs"][0]["finished"] = False
    stored["status"] = "running"
    (out / "results.json").write_text(json.dumps(stored))
    # today's defaults (shared seeding, a minimum-step schedule) do not change what the old run continues with
    resumed = run_experiment(config.replace(seeding="shared", min_steps=50), out, resume=True, progress=False)
    said = capsys.readouterr().out
    assert "seeding: the file was written before this setting existed and continues as it was made ('per-method'" \
        in said and "min_steps:" in said
    assert resumed.config["seeding"] == "per-method" and resumed.config["min_steps"] == 0
    assert [c["test_accuracy"] for c in resumed.run("random", 0)["cycles"]] == \
        [c["test_accuracy"] for c in whole.run("random", 0)["cycles"]]
    assert [c["selected_indices"] for c in resumed.run("random", 0)["cycles"]] == \
        [c["selected_indices"] for c in whole.run("random", 0)["cycles"]]


def test_a_file_that_stores_its_seeding_is_compared_on_resume(tmp_path):
    out = tmp_path / "new"
    config = ci_config(methods=("random",), cycles=2, epochs=1, milestones=(1,))
    run_experiment(config, out, progress=False)
    with pytest.raises(ResultsMismatchError, match="seeding: results file has 'shared', this command has 'per-method'"):
        run_experiment(config.replace(seeding="per-method"), out, resume=True, progress=False)


def test_a_bad_seeding_or_min_steps_is_one_clear_error():
    with pytest.raises(ValueError, match=r"seeding must be one of \('shared', 'per-method'\).*got 'common'"):
        ci_config(seeding="common")
    with pytest.raises(ValueError, match="min_steps must be an integer in 0..2147483647 .0: off., got -1"):
        ci_config(min_steps=-1)


# ----------------------------------------------------------------------------- candidates


def test_candidates_by_keys_are_the_unlabeled_indices_with_the_smallest_keys():
    keys = torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4], dtype=torch.float64)
    pool = ActivePool(8, [1, 3])  # labeled: the two smallest keys but one
    # unlabeled by key: 5 (0.2), 7 (0.4), 2 (0.5), 4 (0.7), 6 (0.8), 0 (0.9)
    assert pool.candidates_by_keys(3, keys).tolist() == [2, 5, 7]
    assert pool.candidates_by_keys(10, keys).tolist() == [0, 2, 4, 5, 6, 7]
    with pytest.raises(ValueError, match="one key per pool index"):
        pool.candidates_by_keys(3, keys[:5])


def test_pools_that_share_keys_share_every_candidate_they_both_still_have():
    keys = candidate_keys(1000, 7)
    a = ActivePool(1000, list(range(0, 100)))
    b = ActivePool(1000, list(range(0, 90)) + list(range(500, 510)))  # ten labeled images differ
    ca, cb = set(a.candidates_by_keys(300, keys).tolist()), set(b.candidates_by_keys(300, keys).tolist())
    assert len(ca) == len(cb) == 300
    assert len(ca ^ cb) <= 2 * 10  # only where the pools differ
    assert candidate_keys(1000, 7).equal(keys) and not candidate_keys(1000, 8).equal(keys)


def test_shared_candidates_are_uniform_over_the_unlabeled_pool():
    # each unlabeled index is a candidate with probability subset / unlabeled: 40 / 80 here; over 400 seeds
    # a binomial count of 200 has sd 10, so every index lands in 130..270 (7 sd) unless the draw is biased
    pool = ActivePool(100, list(range(20)))
    counts = torch.zeros(100)
    for seed in range(400):
        counts[pool.candidates_by_keys(40, candidate_keys(100, seed))] += 1
    assert counts[:20].sum() == 0
    assert counts[20:].min() >= 130 and counts[20:].max() <= 270


def test_methods_of_a_cycle_score_the_same_candidates_when_their_pools_agree(monkeypatch):
    seen: dict[str, list[int]] = {}
    original = loop_module.query_strategy

    def spy(strategy, method, cycle, context):
        seen[method] = context.candidates.tolist()
        return original(strategy, method, cycle, context)

    monkeypatch.setattr(loop_module, "query_strategy", spy)
    run_experiment(ci_config(methods=("random", "entropy"), cycles=2, epochs=1, milestones=(1,)), progress=False)
    assert seen["random"] == seen["entropy"] and len(seen["random"]) == 100


# ----------------------------------------------------------------------------- minimum steps


@pytest.mark.parametrize("size,epochs,milestones,detach", [
    (200, 63, (52,), 37),   # 3 batches of 64 + 8: 4 steps an epoch; ceil(250 / 4) = 63; 10 * 63 / 12 = 52.5 -> 52
    (1000, 16, (13,), 9),   # 15 x 64 + 40: 16 steps; ceil(250 / 16) = 16; 13.33 -> 13; 9.33 -> 9
    (65, 250, (208,), 146),  # 64 + 1 (dropped): 1 step an epoch; 10 * 250 / 12 = 208.3; 7 * 250 / 12 = 145.8
    (4000, 12, (10,), 7),   # 63 steps an epoch: 12 epochs give 756 >= 250 steps: the configured schedule
])
def test_the_minimum_step_schedule_on_worked_numbers(size, epochs, milestones, detach):
    config = ci_config(epochs=12, milestones=(10,), ranker_detach_epoch=7, batch_size=64, min_steps=250)
    assert config.task_schedule(size) == (epochs, milestones, detach)
    assert config.replace(min_steps=0).task_schedule(size) == (12, (10,), 7)


def test_training_runs_the_stretched_schedule(monkeypatch):
    from tavaal_nb.data import load_dataset
    from tavaal_nb.experiment_data import make_augmenter
    from tavaal_nb.training import build_task_model, train_task_model

    # batch 16, 20 images: 2 steps an epoch; ceil(9 / 2) = 5 epochs instead of 2; milestone 1 * 5 / 2 = 2.5 -> 2
    config = ci_config(min_steps=9, milestones=(1,))
    data = load_dataset("synthetic", seed=0, train_limit=400, test_limit=100)
    assert config.task_schedule(20) == (5, (2,), 2)
    lrs = []
    original = torch.optim.lr_scheduler.MultiStepLR.step

    def step(self, *args, **kwargs):
        lrs.append(self.optimizer.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.lr_scheduler.MultiStepLR, "step", step)
    torch.manual_seed(0)
    task = build_task_model(config, data, False, torch.device("cpu"))
    history = train_task_model(task, data, torch.arange(20), config, make_augmenter(config, data),
                               torch.Generator().manual_seed(0), progress=False)
    assert len(history) == 5
    # the scheduler steps once when made, then after each epoch: the lr of epochs 0..4 is lrs[1:]
    assert lrs[1:] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.01])


# ----------------------------------------------------------------------------- the noise floor


@pytest.mark.slow
def test_the_noise_floor_trains_replicates_on_one_nested_labeled_set_per_size(tmp_path):
    config = ci_config()
    sets = []
    original = noise_module.train_task_model

    def spy(task, data, labeled, *args, **kwargs):
        sets.append(labeled.tolist())
        return original(task, data, labeled, *args, **kwargs)

    noise_module.train_task_model = spy
    try:
        noise = measure_noise(config, replicates=3, path=tmp_path / "noise.json", progress=False)
    finally:
        noise_module.train_task_model = original
    assert [level.size for level in noise.levels] == [20, 40, 60]
    assert len(sets) == 9
    assert sets[0] == sets[1] == sets[2] and len(sets[0]) == 20
    assert sets[3][:20] == sets[0] and len(sets[3]) == 40 and sets[6][:40] == sets[3]
    for level in noise.levels:
        assert len(level.accuracies) == 3 and len(set(level.seeds)) == 3
        mean = sum(level.accuracies) / 3
        sd = math.sqrt(sum((a - mean) ** 2 for a in level.accuracies) / 2)
        assert level.mean == pytest.approx(mean) and level.std == pytest.approx(sd)
        assert level.spread == pytest.approx(max(level.accuracies) - min(level.accuracies))
    stored = read_noise(tmp_path)
    assert [lv.accuracies for lv in stored.levels] == [lv.accuracies for lv in noise.levels]
    assert "sd" in noise_table(stored) and f"{noise.levels[0].mean:.2f}" in noise_table(stored)


@pytest.mark.slow
def test_the_noise_floor_is_reproducible_and_resumes_where_it_stopped(tmp_path, monkeypatch):
    config = ci_config()
    whole = measure_noise(config, replicates=3, sizes=[20, 40], progress=False)
    calls = []
    original = noise_module.evaluate

    def stop_after_three(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(noise_module, "evaluate", stop_after_three)
    with pytest.raises(KeyboardInterrupt):
        measure_noise(config, replicates=3, sizes=[20, 40], path=tmp_path / "noise.json", progress=False)
    assert [len(lv.accuracies) for lv in read_noise(tmp_path).levels] == [3, 0]
    monkeypatch.setattr(noise_module, "evaluate", original)
    with pytest.raises(FileExistsError, match="--resume"):
        measure_noise(config, replicates=3, sizes=[20, 40], path=tmp_path / "noise.json", progress=False)
    with pytest.raises(ValueError, match="epochs: results file has 2, this command has 3"):
        measure_noise(config.replace(epochs=3), replicates=3, sizes=[20, 40], path=tmp_path / "noise.json",
                      resume=True, progress=False)
    resumed = measure_noise(config, replicates=3, sizes=[20, 40], path=tmp_path / "noise.json", resume=True,
                            progress=False)
    assert [lv.accuracies for lv in resumed.levels] == [lv.accuracies for lv in whole.levels]


def test_the_noise_command_prints_the_table(tmp_path, capsys):
    from tavaal_nb.cli import main

    code = main(["noise", "--preset", "ci", "--dataset", "synthetic", "--device", "cpu", "--replicates", "2",
                 "--sizes", "20", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "noise floor: random on synthetic, preset ci, 2 replicate" in out
    assert (tmp_path / "noise.json").is_file()
    assert main(["noise", "--preset", "ci", "--dataset", "synthetic", "--replicates", "1", "--out",
                 str(tmp_path / "x"), "--no-progress"]) != 0
    assert "replicates must be an integer from 2" in capsys.readouterr().err
