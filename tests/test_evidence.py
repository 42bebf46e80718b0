"""The evidence the notebooks open on: finished runs only, a computed banner, and the shipped sweep itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tavaal_nb.analysis.evidence import SHIPPED_SWEEP, load_evidence, shipped_evidence, shipped_results_dir
from tavaal_nb.results import Results
from tavaal_nb.strategies.vaal import DISCRIMINATOR_SCORES
from tavaal_nb.analysis.stats import compare_paired

REPOSITORY = Path(__file__).resolve().parents[1]
CONFIG = {"preset": "cpu", "initial": 200, "budget": 200, "cycles": 3, "epochs": 12, "subset": 1500, "trials": 1}


def write_run(folder: Path, dataset: str, method: str, trial: int, accuracies: list[float], finished: bool = True,
              scores: list[float] | None = None) -> None:
    cycles = [{"cycle": k, "labeled_size": 200 * (k + 1), "test_accuracy": acc, "selected_class_entropy": 1.0 + k,
               "selected_indices": list(range(200 * (k + 1), 200 * (k + 2))) if k < len(accuracies) - 1 else [],
               "strategy_data": {DISCRIMINATOR_SCORES: scores} if k < len(accuracies) - 1 and scores else {}}
              for k, acc in enumerate(accuracies)]
    result = Results.new({**CONFIG, "dataset": dataset, "methods": [method], "first_trial": trial},
                         {"name": dataset, "class_counts": [10, 10]})
    result.runs.append({"method": method, "trial": trial, "finished": finished, "initial_indices": list(range(200)),
                        "cycles": cycles})
    result.save(folder / dataset / method / f"trial-{trial}" / "results.json")


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    for trial, (tavaal, random) in enumerate([(70.0, 69.0), (74.0, 71.0)]):
        write_run(tmp_path, "toy", "tavaal", trial, [60.0, 65.0, tavaal], scores=[0.2, 0.4, 0.6])
        write_run(tmp_path, "toy", "random", trial, [60.0, 64.0, random])
    write_run(tmp_path, "toy", "tavaal", 2, [60.0], finished=False)  # a trial still being computed
    write_run(tmp_path, "toy-imb", "random", 0, [40.0, 45.0, 50.0])
    return tmp_path


def test_unfinished_runs_are_left_out_and_the_banner_counts_the_finished_trials(sweep):
    evidence = load_evidence(sweep)
    assert list(evidence.pools) == ["toy", "toy-imb"]
    assert evidence.trials("toy") == {"random": 2, "tavaal": 2} and evidence.trials("toy-imb") == {"random": 1}
    banner = evidence.banner()
    assert banner.startswith("cpu preset, toy and toy-imb, 1 to 2 trials per method: not the paper's setting")
    assert "200 to 600 labeled images, 12 epochs, 1,500 candidates per query" in banner
    assert evidence.trial_table().splitlines()[2].split() == ["toy-imb", "1", "-"]
    assert evidence.pools_with(["tavaal"]) == ["toy"]
    with pytest.raises(ValueError, match="valid: toy, toy-imb"):
        evidence.trials("cifar10")


def test_comparisons_per_pool_are_computed_from_the_paired_trials(sweep):
    comparisons = load_evidence(sweep).comparisons("tavaal", "random")
    # differences at 600 labeled: 1 and 3 -> mean 2, s = sqrt(2), t(0.975, 1) = 12.706 -> half width 12.706
    assert comparisons["toy"].startswith("At 600 labeled, tavaal minus random: +2.0 points, "
                                         "95 % interval [-10.7, +14.7] over 2 trials")
    assert comparisons["toy-imb"] == "no finished run of tavaal in this pool yet: nothing to compare."


def test_entropy_and_discriminator_summaries(sweep):
    evidence = load_evidence(sweep)
    assert evidence.selection_entropy("toy-imb") == {"random": pytest.approx(2.0)}  # mean of 1, 2, 3
    cycle, sd = evidence.discriminator_spread("toy")["tavaal"]
    assert cycle == 1 and sd == pytest.approx(0.2)  # sample sd of 0.2, 0.4, 0.6


def test_no_checkout_or_no_finished_run_says_so(tmp_path, capsys):
    assert shipped_results_dir(tmp_path) is None
    assert shipped_evidence(tmp_path) is None
    assert "does not run inside a checkout" in capsys.readouterr().out
    write_run(tmp_path / "sweep", "toy", "random", 0, [50.0], finished=False)
    with pytest.raises(ValueError, match="no finished run"):
        load_evidence(tmp_path / "sweep")


def test_the_shipped_sweep_loads_with_paired_trials_for_every_method():
    folder = REPOSITORY / SHIPPED_SWEEP
    if not folder.is_dir():
        pytest.skip(f"no shipped results in {folder}")
    assert shipped_results_dir(REPOSITORY / "notebooks") == folder  # as the notebooks find it
    evidence = load_evidence(folder)
    planned = json.loads((folder / "sweep.json").read_text())["spec"]
    assert evidence.presets() == [planned["preset"]]
    assert set(evidence.pools) <= set(planned["datasets"])
    found = {method for pool in evidence.pools for method in evidence.trials(pool)}
    assert found == set(planned["methods"])
    for pool, members in evidence.pools.items():
        assert "random" in evidence.trials(pool)
        for method in evidence.trials(pool):
            rows = compare_paired(members, method, "random")
            assert rows and all(row.trials >= 1 for row in rows), (pool, method)
            config = members[0].config
            assert rows[-1].labeled_size == config["initial"] + config["budget"] * (config["cycles"] - 1)
