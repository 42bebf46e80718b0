"""End to end: every method on the synthetic set, and on the real Fashion-MNIST (ci preset)."""

from __future__ import annotations

import json

import pytest
from conftest import (
    ALL_METHODS,
    CI_BUDGET,
    CI_CYCLES,
    CI_INITIAL,
    CI_SUBSET,
    CI_TEST_LIMIT,
    CI_TRAIN_LIMIT,
    D_METHODS,
    ci_config,
    counts_by_hand,
    entropy_by_hand,
)

from tavaal_nb import run_experiment
from tavaal_nb.data import IMBALANCE_PROFILES, load_dataset

RECORD_KEYS = {
    "cycle", "labeled_size", "test_accuracy", "labeled_class_counts", "selected_indices",
    "selected_class_counts", "selected_class_entropy", "candidate_count", "candidate_scores", "strategy_data",
    "timings_s",
}


def check_records(results, labels, methods=ALL_METHODS):
    """The per-cycle records of a finished ci run, checked against the labels and by-hand sums."""
    assert results.methods == list(methods)
    assert results.is_finished() and results.data["status"] == "finished"
    for run in results.runs:
        method = run["method"]
        labeled = list(run["initial_indices"])
        cycles = run["cycles"]
        assert [r["cycle"] for r in cycles] == list(range(CI_CYCLES))
        for record in cycles:
            assert RECORD_KEYS <= set(record), f"{method}: missing {RECORD_KEYS - set(record)}"
            assert record["labeled_size"] == CI_INITIAL + CI_BUDGET * record["cycle"] == len(labeled)
            assert record["labeled_class_counts"] == counts_by_hand(labels, labeled)
            assert 0.0 <= record["test_accuracy"] <= 100.0
            # 100 test images: the accuracy in percent is a whole number
            assert record["test_accuracy"] * CI_TEST_LIMIT / 100 == pytest.approx(round(record["test_accuracy"]))
            assert {"train", "evaluate", "total"} <= set(record["timings_s"])
            chosen = record["selected_indices"]
            last = record["cycle"] == CI_CYCLES - 1
            if last:  # the last cycle makes no query
                assert chosen == [] and record["selected_class_entropy"] is None
                assert record["candidate_scores"] is None and record["strategy_data"] == {}
                continue
            assert len(chosen) == len(set(chosen)) == CI_BUDGET
            counts = record["selected_class_counts"]
            assert counts == counts_by_hand(labels, chosen) and sum(counts) == CI_BUDGET
            assert record["selected_class_entropy"] == pytest.approx(entropy_by_hand(counts), abs=1e-12)
            # every strategy's scores are kept, one per candidate
            assert len(record["candidate_scores"]) == record["candidate_count"] == CI_SUBSET
            vaal = record["strategy_data"]
            if method in D_METHODS:
                scores = vaal["discriminator_scores"]
                assert scores == record["candidate_scores"]  # D(mu, r) is what the VAAL family selects by (eq. 9)
                assert all(0.0 < s < 1.0 for s in scores)
                # the budget lowest scores were taken: exactly the chosen ones are at or below the threshold
                threshold = vaal["selection_threshold"]
                assert sum(s < threshold for s in scores) < CI_BUDGET <= sum(s <= threshold for s in scores)
                assert len(vaal["vae_loss"]) >= 1 and len(vaal["discriminator_loss"]) >= 1
            else:
                assert vaal == {}
            labeled += chosen
        assert len(labeled) == len(set(labeled))


def test_every_method_on_synthetic(synthetic_run, synthetic_labels):
    results, out = synthetic_run
    assert results.dataset["name"] == "synthetic" and results.dataset["train_size"] == CI_TRAIN_LIMIT
    check_records(results, synthetic_labels)
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["runs"] == json.loads(json.dumps(results.runs))


def test_train_loss_has_one_value_per_epoch(synthetic_run):
    results, _ = synthetic_run
    for run in results.runs:
        for record in run["cycles"]:
            assert len(record["train_loss"]) == 2  # ci: 2 epochs
            assert all(v > 0 for v in record["train_loss"])


# ----------------------------------------------------------------------------- real Fashion-MNIST


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fashion")
    results = run_experiment(ci_config(dataset="fashion-mnist", methods=ALL_METHODS), out, progress=False)
    return results, out


@pytest.mark.fashion
@pytest.mark.slow
def test_every_method_on_real_fashion_mnist(fashion_run):
    results, _ = fashion_run
    data = load_dataset("fashion-mnist", seed=0, train_limit=CI_TRAIN_LIMIT, test_limit=CI_TEST_LIMIT)
    assert data.train_images.shape == (CI_TRAIN_LIMIT, 1, 28, 28)
    assert results.dataset["name"] == "fashion-mnist" and results.dataset["image_shape"] == [1, 28, 28]
    assert results.dataset["class_names"][0] == "T-shirt/top" and results.dataset["class_names"][9] == "Ankle boot"
    check_records(results, data.train_labels.tolist())
    # real images are learnable: some method beats chance (10%) by the last cycle
    assert max(run["cycles"][-1]["test_accuracy"] for run in results.runs) > 10.0


@pytest.mark.fashion
def test_real_fashion_mnist_files():
    data = load_dataset("fashion-mnist", download=False)
    assert data.train_images.shape == (60_000, 1, 28, 28) and data.test_images.shape == (10_000, 1, 28, 28)
    assert data.class_counts() == [6000] * 10


@pytest.mark.fashion
def test_imbalanced_fashion_mnist_has_the_profile_counts():
    data = load_dataset("fashion-mnist-imb-1.65", download=False, seed=2)
    assert data.class_counts() == list(IMBALANCE_PROFILES["entropy-1.65"])
    assert data.test_images.shape[0] == 10_000  # the test set stays balanced
    assert data.class_names[0] == "T-shirt/top"
