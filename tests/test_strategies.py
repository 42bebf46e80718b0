"""The one strategy contract and the plug-in registry: select_by_scores, ranker objectives,
register_strategy / load_plugin, and a plug-in run end to end through run_experiment."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from conftest import ALL_METHODS, CI_BUDGET, CI_CYCLES, ci_config

from tavaal_nb import run_experiment
from tavaal_nb.config import make_config
from tavaal_nb.errors import NeverQueriedWarning
from tavaal_nb.losses import bce_ranking_loss, margin_ranking_loss, ranker_objective_loss
from tavaal_nb.preflight import check_names
from tavaal_nb.strategies import (
    METHODS,
    QueryContext,
    Selection,
    Strategy,
    get_strategy,
    load_plugin,
    register_strategy,
    select_by_scores,
    strategy_names,
    unregister_strategy,
)
from tavaal_nb.strategies.scores import entropy_scores, margin_scores

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "least_confidence.py"


class FakeContext:
    """Just what select_by_scores reads: the candidates and the budget."""

    def __init__(self, candidates, budget):
        self.candidates = torch.tensor(candidates)
        self.budget = budget


@pytest.fixture
def registry_guard():
    """Leave the registry as it was: remove whatever a test registered."""
    before = strategy_names()
    yield
    for name in strategy_names():
        if name not in before:
            unregister_strategy(name)


# ----------------------------------------------------------------------------- select_by_scores


def test_select_by_scores_takes_either_end_with_stable_ties():
    context = FakeContext([10, 11, 12, 13, 14], budget=3)
    scores = torch.tensor([0.5, 0.1, 0.5, 0.1, 0.9])
    high = select_by_scores(context, scores)
    low = select_by_scores(context, scores, "lowest", extras={"note": 1})
    assert high.indices.tolist() == [14, 10, 12]  # 0.9, then the two 0.5 in position order
    assert low.indices.tolist() == [11, 13, 10]
    assert low.extras == {"note": 1} and high.extras == {} and high.strategy_data == {}
    assert high.candidates.tolist() == [10, 11, 12, 13, 14] and high.scores.dtype == torch.float32


def test_select_by_scores_budget_over_the_pool_takes_everything_once():
    selection = select_by_scores(FakeContext([3, 1, 2], budget=10), torch.tensor([1, 3, 2], dtype=torch.float64))
    assert selection.indices.tolist() == [1, 2, 3]
    assert selection.scores.dtype == torch.float32


def test_select_by_scores_refuses_bad_input():
    context = FakeContext([0, 1, 2], budget=1)
    with pytest.raises(ValueError, match="prefer must be one of highest, lowest"):
        select_by_scores(context, torch.zeros(3), "smallest")
    with pytest.raises(ValueError, match=r"one score per candidate \(3\), got 2"):
        select_by_scores(context, torch.zeros(2))


# ----------------------------------------------------------------------------- Ranker objectives


def test_ranker_objective_loss_maps_each_objective_to_its_equation():
    pred, target = torch.tensor([0.2, -0.1, 0.4, 0.3]), torch.tensor([1.0, 2.0, 0.5, 3.0])
    assert ranker_objective_loss(None) is None
    assert ranker_objective_loss("bce") is bce_ranking_loss
    eq1 = ranker_objective_loss("margin", margin=0.5)
    assert eq1(pred, target).item() == pytest.approx(margin_ranking_loss(pred, target, margin=0.5).item())
    # by hand, pairs (0, 3) and (1, 2): I = -1 and +1; max(0, 0.5 + (0.2 - 0.3)) = 0.4, max(0, 0.5 - (-0.5)) = 1.0
    assert eq1(pred, target).item() == pytest.approx(0.7)
    with pytest.raises(ValueError, match="unknown Ranker objective 'mse'"):
        ranker_objective_loss("mse")


def test_builtins_follow_the_one_contract():
    for name in ALL_METHODS:
        strategy = get_strategy(name)
        assert isinstance(strategy, Strategy) and strategy.name == name and strategy.help
        assert type(strategy).select is not Strategy.select  # each implements the one method
        for old in ("score", "prefer", "rank_loss", "ranking_loss", "uses_rank"):
            assert not hasattr(strategy, old), (name, old)


# ----------------------------------------------------------------------------- the registry


def test_register_a_scoring_function(registry_guard):
    def smallest_index_first(context):
        """label the earliest candidates"""
        return -context.candidates.float()

    strategy = register_strategy(smallest_index_first)
    assert strategy.name == "smallest-index-first" and strategy.help == "label the earliest candidates"
    assert get_strategy("smallest-index-first") is strategy and "smallest-index-first" in METHODS
    assert strategy_names()[: len(ALL_METHODS)] == ALL_METHODS and strategy_names()[-1] == "smallest-index-first"
    assert not strategy.trains_ranker
    assert strategy.select(FakeContext([7, 5, 9, 6], budget=2)).indices.tolist() == [5, 6]


def test_register_as_a_decorator_with_a_ranker(registry_guard):
    @register_strategy(name="top-ranker", prefer="lowest", ranker_objective="margin", help="lowest predicted loss")
    def anything(context):
        return context.candidates.float()

    assert isinstance(anything, Strategy) and anything.name == "top-ranker" and anything.help == "lowest predicted loss"
    assert anything.trains_ranker and anything.ranker_objective == "margin"
    assert anything.select(FakeContext([4, 2, 8], budget=1)).indices.tolist() == [2]


def test_register_a_class_and_rename_it(registry_guard):
    class FirstCandidates(Strategy):
        name = "first"
        help = "the first candidates"

        def select(self, context: QueryContext) -> Selection:
            return select_by_scores(context, -torch.arange(context.candidates.numel()).float())

    first = register_strategy(FirstCandidates)
    renamed = register_strategy(FirstCandidates, "first-again", ranker_objective="bce")
    assert first.name == "first" and not first.trains_ranker
    assert renamed.name == "first-again" and renamed.ranker_objective == "bce" and FirstCandidates.name == "first"
    assert renamed.select(FakeContext([9, 8, 7], budget=2)).indices.tolist() == [9, 8]


def test_registry_refuses_bad_registrations(registry_guard):
    with pytest.raises(ValueError, match="'random' is already registered; pass replace=True"):
        register_strategy(lambda context: context.candidates.float(), "random")
    with pytest.raises(ValueError, match="ranker_objective must be None or one of margin, bce"):
        register_strategy(lambda context: context.candidates.float(), "x", ranker_objective="eq4")
    with pytest.raises(ValueError, match="prefer must be one of highest, lowest"):
        register_strategy(lambda context: context.candidates.float(), "y", prefer="low")
    with pytest.raises(ValueError, match="non-empty name"):
        register_strategy(Strategy)  # no name
    with pytest.raises(TypeError, match="Strategy subclass or instance, or a scoring function"):
        register_strategy(42, "z")
    with pytest.raises(ValueError, match=r"unknown method 'nope'; valid: random, lloss"):
        get_strategy("nope")
    assert strategy_names() == ALL_METHODS


def test_replace_and_unregister(registry_guard):
    original = get_strategy("entropy")
    try:
        replacement = register_strategy(lambda context: context.candidates.float(), "entropy", replace=True)
        assert get_strategy("entropy") is replacement
    finally:
        register_strategy(original, replace=True)
    assert get_strategy("entropy") is original
    register_strategy(lambda context: context.candidates.float(), "temporary")
    unregister_strategy("temporary")
    assert "temporary" not in strategy_names()
    with pytest.raises(ValueError, match="unknown method 'temporary'"):
        unregister_strategy("temporary")


def test_config_accepts_a_registered_method_and_names_it_when_unknown(registry_guard):
    config = make_config("ci", dataset="synthetic", methods=("my-method",))
    with pytest.raises(ValueError, match="method 'my-method' is unknown"):
        check_names(config)
    register_strategy(lambda context: context.candidates.float(), "my-method")
    check_names(config)  # a registered name passes the check a run makes before it writes anything


# ----------------------------------------------------------------------------- plug-ins


def test_load_plugin_from_a_module_attribute(registry_guard, tmp_path, monkeypatch):
    (tmp_path / "my_plugin.py").write_text(
        "import torch\n"
        "def last_first(context):\n"
        "    return context.candidates.float()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_plugin("my_plugin:last_first") == ["last-first"]
    assert load_plugin("my_plugin:last_first") == []  # already there: nothing added, nothing refused
    with pytest.raises(ValueError, match="has no attribute 'missing'"):
        load_plugin("my_plugin:missing")
    with pytest.raises(ValueError, match="cannot import plugin module 'no_such_plugin'"):
        load_plugin("no_such_plugin")
    with pytest.raises(ValueError, match="does not exist"):
        load_plugin(str(tmp_path / "absent.py"))
    sys.modules.pop("my_plugin", None)


@pytest.mark.slow
def test_the_readme_example_runs_end_to_end(registry_guard, tmp_path):
    """docs/examples/least_confidence.py, loaded as the CLI's --plugin would, run at the ci preset."""
    assert load_plugin(str(EXAMPLE)) == ["least-confidence"]
    strategy = get_strategy("least-confidence")
    assert strategy.help.startswith("lowest top-class probability")
    out = tmp_path / "least-confidence-run"
    results = run_experiment(ci_config(methods=("least-confidence", "random")), out, progress=False)
    stored = json.loads((out / "results.json").read_text())
    runs = {run["method"]: run for run in stored["runs"]}
    assert set(runs) == {"least-confidence", "random"} and all(run["finished"] for run in runs.values())
    plugged = runs["least-confidence"]
    assert plugged["initial_indices"] == runs["random"]["initial_indices"]  # the paired comparison
    assert len(plugged["cycles"]) == CI_CYCLES
    for record in plugged["cycles"][:-1]:
        chosen = record["selected_indices"]
        assert len(chosen) == len(set(chosen)) == CI_BUDGET
    assert len(results.runs) == 2


def test_the_readme_shows_the_example_file_as_it_is():
    readme = (EXAMPLE.parents[2] / "README.md").read_text()
    section = readme.split("### Adding a strategy", 1)[1]
    shown = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = EXAMPLE.read_text().split('"""\n\n', 1)[1]  # the file without its module docstring
    assert shown == code


# ----------------------------------------------------------------------------- score functions


def test_entropy_scores_by_hand():
    probabilities = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25],
                                  [0.5, 0.25, 0.25, 0.0]])
    # 0 (0 ln 0 = 0), ln 2, ln 4, and 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2
    expected = [0.0, math.log(2), math.log(4), 1.5 * math.log(2)]
    assert entropy_scores(probabilities).tolist() == pytest.approx(expected, abs=1e-6)


def test_margin_scores_by_hand():
    probabilities = torch.tensor([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [0.0, 1.0, 0.0], [0.1, 0.3, 0.6]])
    # top-1 minus top-2: 0.7 - 0.2, 0.4 - 0.4, 1 - 0, 0.6 - 0.3
    assert margin_scores(probabilities).tolist() == pytest.approx([0.5, 0.0, 1.0, 0.3], abs=1e-6)


def test_score_functions_refuse_what_is_not_one_softmax_per_row():
    with pytest.raises(ValueError, match=r"\(N, C\) tensor with C >= 2 classes.*got shape \(3, 1\)"):
        margin_scores(torch.ones(3, 1))
    with pytest.raises(ValueError, match=r"got shape \(4,\)"):
        entropy_scores(torch.full((4,), 0.25))


# ----------------------------------------------------------------------------- one cycle: no query


@pytest.mark.parametrize("methods,cycles,warned", [
    (("scored-nothing", "random"), 1, True), (("random",), 1, False), (("scored-nothing",), 2, False),
])
def test_one_cycle_warns_that_select_is_never_called(registry_guard, methods, cycles, warned):
    register_strategy(lambda context: context.candidates.float(), "scored-nothing")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_names(make_config("ci", methods=methods, cycles=cycles))
    messages = [str(w.message) for w in caught if issubclass(w.category, NeverQueriedWarning)]
    if warned:
        assert len(messages) == 1
        assert "select() of 'scored-nothing' is never called" in messages[0] and "--cycles 2" in messages[0]
        assert "'random'" not in messages[0]
    else:
        assert messages == []


@pytest.mark.slow
def test_one_cycle_is_one_warning_line_on_the_command_line(tmp_path):
    command = [sys.executable, "-m", "tavaal_nb", "run", "--preset", "ci", "--dataset", "synthetic", "--method",
               "margin,random", "--cycles", "1", "--trials", "1", "--device", "cpu", "--no-progress",
               "--out", str(tmp_path / "one-cycle")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "never called" in line]
    assert lines == ["warning: cycles=1: the run trains once on the initial labeled set and makes no query, so "
                     "select() of 'margin' is never called; set cycles to 2 or more (--cycles 2) to run a query"]
