"""Selection semantics: who wins, how ties break, and that the pools stay a partition."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from conftest import ALL_METHODS, CI_BUDGET, CI_CYCLES, CI_INITIAL, CI_TRAIN_LIMIT, D_METHODS, ci_config

from tavaal_nb.data import load_dataset
from tavaal_nb.experiment_data import make_augmenter
from tavaal_nb.strategies import (
    METHODS,
    TAVAAL,
    VAAL,
    EntropySampling,
    MarginSampling,
    QueryContext,
    RandomSampling,
    get_strategy,
    highest,
    k_center_greedy,
    lowest,
)
from tavaal_nb.training import build_task_model, infer

# ----------------------------------------------------------------------------- tie-breaking


def test_lowest_and_highest_break_ties_by_position():
    scores = torch.tensor([0.5, 0.1, 0.5, 0.1, 0.9])
    assert lowest(scores, 3).tolist() == [1, 3, 0]
    assert highest(scores, 3).tolist() == [4, 0, 2]
    flat = torch.zeros(6)
    assert lowest(flat, 4).tolist() == [0, 1, 2, 3]
    assert highest(flat, 4).tolist() == [0, 1, 2, 3]


# ----------------------------------------------------------------------------- k-center greedy


def test_k_center_greedy_hand_made_points():
    labeled = torch.tensor([[0.0, 0.0]])
    candidates = torch.tensor([[1.0, 0.0], [10.0, 0.0], [0.0, 3.0], [9.0, 0.0], [5.0, 5.0]])
    # distance to (0,0): [1, 10, 3, 9, sqrt 50 = 7.07]           -> pick 1 (10, 0)
    # min with distance to (10,0): [1, -, 3, 1, 7.07]             -> pick 4 (5, 5)
    # min with distance to (5,5):  [1, -, 3 (vs 5.39), 1, -]      -> pick 2 (0, 3)
    positions, initial = k_center_greedy(labeled, candidates, 3)
    assert positions.tolist() == [1, 4, 2]
    assert initial.tolist() == pytest.approx([1.0, 10.0, 3.0, 9.0, math.sqrt(50.0)], rel=1e-6)
    # asking for more than there are gives each candidate once
    positions, _ = k_center_greedy(labeled, candidates, 10)
    assert sorted(positions.tolist()) == [0, 1, 2, 3, 4]


def test_k_center_greedy_with_two_labeled_points():
    labeled = torch.tensor([[0.0], [10.0]])
    candidates = torch.tensor([[1.0], [4.0], [6.0], [12.0], [5.0]])
    # nearest labeled: [1, 4, 4, 2, 5] -> pick 4 (5.0); then [1, 1, 1, 2, -] -> pick 3 (12.0)
    positions, initial = k_center_greedy(labeled, candidates, 2)
    assert positions.tolist() == [4, 3]
    assert initial.tolist() == pytest.approx([1.0, 4.0, 4.0, 2.0, 5.0])


def test_k_center_greedy_never_picks_twice_when_everything_is_covered():
    # every candidate sits on a labeled point: all distances are 0, yet k picks must be k different ones
    labeled = torch.tensor([[1.0, 1.0]])
    candidates = torch.tensor([[1.0, 1.0]] * 4)
    positions, initial = k_center_greedy(labeled, candidates, 3)
    assert initial.tolist() == [0.0] * 4
    assert sorted(positions.tolist()) == [0, 1, 2]


# ----------------------------------------------------------------------------- strategies on a tiny context


@pytest.fixture(scope="module")
def tiny_context():
    """60 synthetic images: 20 labeled, 40 candidates, budget 5, an untrained task model with a Ranker."""
    config = ci_config(vae_iterations=3)
    data = load_dataset("synthetic", seed=0, train_limit=60, test_limit=10)
    torch.manual_seed(0)
    task = build_task_model(config, data, with_ranker=True, device=torch.device("cpu")).eval()

    def make(seed: int = 0, budget: int = 5) -> QueryContext:
        return QueryContext(
            config=config, data=data, augmenter=make_augmenter(config, data), task=task,
            labeled=torch.arange(20), candidates=torch.arange(20, 60), budget=budget,
            generator=torch.Generator().manual_seed(seed), device_generator=torch.Generator().manual_seed(seed),
            progress=False,
        )

    return make


@pytest.mark.parametrize("strategy", [VAAL(), TAVAAL()], ids=["vaal", "tavaal"])
def test_lowest_discriminator_score_wins(tiny_context, strategy):
    selection = strategy.select(tiny_context())
    scores = selection.strategy_data["discriminator_scores"].tolist()
    candidates = selection.candidates.tolist()
    assert candidates == list(range(20, 60)) and len(scores) == 40
    assert all(0.0 < s < 1.0 for s in scores)
    chosen = selection.indices.tolist()
    assert len(chosen) == len(set(chosen)) == 5
    # recompute eq. 9 with plain Python: the 5 candidates with the lowest D(mu, r)
    order = sorted(range(40), key=lambda k: (scores[k], k))
    assert set(chosen) == {candidates[k] for k in order[:5]}
    chosen_scores = [scores[candidates.index(i)] for i in chosen]
    others = [s for k, s in enumerate(scores) if candidates[k] not in chosen]
    assert max(chosen_scores) <= min(others)
    if strategy.trains_ranker:
        assert selection.extras["r_candidates"].shape == (40,)
    else:
        assert "r_candidates" not in selection.extras


def test_entropy_picks_the_highest_predictive_entropy(tiny_context):
    context = tiny_context()
    selection = EntropySampling().select(context)
    scores = selection.scores.tolist()
    # the score is -sum p log p of the softmax of the task model's logits, recomputed with math
    logits = infer(context.task, context.data.train_images[context.candidates], context.augmenter, 64)["logits"]
    for row, score in zip(logits.tolist(), scores):
        top = max(row)
        weights = [math.exp(v - top) for v in row]
        probabilities = [w / sum(weights) for w in weights]
        assert score == pytest.approx(-sum(p * math.log(p) for p in probabilities if p > 0), abs=1e-4)
    order = sorted(range(40), key=lambda k: (-scores[k], k))
    assert selection.indices.tolist() == [20 + k for k in order[:5]]
    assert all(0.0 <= s <= math.log(10) + 1e-5 for s in scores)  # entropy of 10 classes is at most ln 10


def test_margin_picks_the_smallest_gap_between_the_two_most_probable_classes(tiny_context):
    context = tiny_context()
    selection = MarginSampling().select(context)
    scores = selection.scores.tolist()
    # the score is p_(1) - p_(2) of the softmax of the task model's logits, recomputed with math
    logits = infer(context.task, context.data.train_images[context.candidates], context.augmenter, 64)["logits"]
    for row, score in zip(logits.tolist(), scores):
        top = max(row)
        weights = [math.exp(v - top) for v in row]
        first, second = sorted((w / sum(weights) for w in weights), reverse=True)[:2]
        assert score == pytest.approx(first - second, abs=1e-5)
    order = sorted(range(40), key=lambda k: (scores[k], k))
    assert selection.indices.tolist() == [20 + k for k in order[:5]]
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_the_context_infers_on_the_pool_images_it_is_given(tiny_context):
    context = tiny_context()
    picked = torch.tensor([41, 20, 33])
    mine = context.infer(picked)
    direct = infer(context.task, context.data.train_images[picked], context.augmenter, 64)
    assert set(mine) == {"logits", "embedding", "rank"} == set(direct)
    for key in mine:
        assert mine[key].shape[0] == 3 and torch.allclose(mine[key], direct[key], atol=1e-5)


def test_random_is_seeded_and_never_repeats(tiny_context):
    a = RandomSampling().select(tiny_context(seed=3, budget=40)).indices.tolist()
    assert sorted(a) == list(range(20, 60))  # the whole candidate set, each once
    b = RandomSampling().select(tiny_context(seed=3)).indices.tolist()
    c = RandomSampling().select(tiny_context(seed=3)).indices.tolist()
    d = RandomSampling().select(tiny_context(seed=4)).indices.tolist()
    assert b == c and b != d


@pytest.mark.parametrize("name", ALL_METHODS)
def test_every_method_returns_distinct_candidates(tiny_context, name):
    selection = get_strategy(name).select(tiny_context(budget=7))
    chosen = selection.indices.tolist()
    assert len(chosen) == len(set(chosen)) == 7
    assert set(chosen) <= set(range(20, 60))
    assert ("discriminator_scores" in selection.strategy_data) == (name in D_METHODS)


def test_method_names_are_the_documented_ones():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("### Methods", 1)[1].split("\n\n", 1)[0]
    documented = re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.MULTILINE)
    assert documented == list(ALL_METHODS) == list(METHODS)
    with pytest.raises(ValueError) as info:
        get_strategy("bald")
    assert all(name in str(info.value) for name in ALL_METHODS)


def test_only_ranker_methods_train_a_ranker():
    with_ranker = {name for name, strategy in METHODS.items() if strategy.trains_ranker}
    assert with_ranker == {"lloss", "lloss-v2", "tavaal", "vaal-lloss"}
    assert METHODS["lloss"].ranker_objective == "margin" and METHODS["lloss-v2"].ranker_objective == "bce"
    assert METHODS["tavaal"].ranker_objective == "bce"
    assert METHODS["vaal-lloss"].ranker_objective == "margin"


# ----------------------------------------------------------------------------- a whole run


def test_pools_stay_a_partition_over_a_whole_run(synthetic_run):
    results, _ = synthetic_run
    size = results.dataset["train_size"]
    assert size == CI_TRAIN_LIMIT
    initials = {run["trial"]: run["initial_indices"] for run in results.runs}
    for run in results.runs:
        labeled = list(run["initial_indices"])
        assert labeled == initials[run["trial"]]
        assert len(labeled) == CI_INITIAL
        for record in run["cycles"]:
            assert record["labeled_size"] == len(labeled)
            chosen = record["selected_indices"]
            assert set(chosen).isdisjoint(labeled), f"{run['method']} relabeled an index"
            labeled += chosen
        assert len(labeled) == len(set(labeled)) == CI_INITIAL + CI_BUDGET * (CI_CYCLES - 1)
        assert all(0 <= i < size for i in labeled)
        unlabeled = set(range(size)) - set(labeled)
        assert len(unlabeled) + len(labeled) == size and unlabeled.isdisjoint(labeled)
