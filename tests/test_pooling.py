"""One rule for grouping, merging and pooling results (report, widgets, notebooks) and one palette."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from tavaal_nb.analysis.grouping import group_results, merge_results
from tavaal_nb.analysis.plots import PALETTE, class_entropy_figure, learning_curves_figure, method_color
from tavaal_nb.analysis.report import accuracy_table
from tavaal_nb.analysis.stats import learning_curve_stats
from tavaal_nb.results import Results
from tavaal_nb.strategies import BUILTIN_METHODS


def fake_results(accuracies: dict[str, list[list[float]]], epochs: int = 2, seed: int = 0,
                 dataset: str = "synthetic") -> Results:
    """Results of hand-made runs: per method, one list of per-cycle accuracies per trial (sizes 20, 40, ...)."""
    config = {"dataset": dataset, "methods": list(accuracies), "trials": max(len(t) for t in accuracies.values()),
              "first_trial": 0, "seed": seed, "epochs": epochs, "device": "cpu"}
    results = Results.new(config, {"name": dataset, "class_counts": [5, 5]})
    for method, trials in accuracies.items():
        for trial, values in enumerate(trials):
            cycles = [{"cycle": k, "labeled_size": 20 * (k + 1), "test_accuracy": value,
                       "selected_indices": [k], "selected_class_entropy": 0.5} for k, value in enumerate(values)]
            results.runs.append({"method": method, "trial": trial, "finished": True, "cycles": cycles})
    return results


def test_results_of_one_setting_form_one_group_whatever_the_methods_seed_or_device():
    a = fake_results({"random": [[50.0, 60.0]]}, seed=0)
    b = fake_results({"tavaal": [[55.0, 70.0]]}, seed=7)
    c = fake_results({"random": [[40.0, 45.0]]}, epochs=4)
    groups = group_results([a, b, c])
    assert list(groups) == ["synthetic (epochs=2)", "synthetic (epochs=4)"]
    assert groups["synthetic (epochs=2)"] == [a, b] and groups["synthetic (epochs=4)"] == [c]


def test_merge_renumbers_trials_per_method_and_stats_pool_every_trial():
    a = fake_results({"random": [[50.0, 60.0]]})
    b = fake_results({"random": [[54.0, 64.0]]})
    merged = merge_results([a, b])
    assert [(r["method"], r["trial"]) for r in merged.runs] == [("random", 0), ("random", 1)]
    assert merged.config["trials"] == 2
    stats = learning_curve_stats([a, b])["random"]
    assert stats["labeled_size"] == [20, 40] and stats["values"] == [[50.0, 54.0], [60.0, 64.0]]
    assert stats["mean"] == [52.0, 62.0]
    assert stats["std"] == [pytest.approx(2.8284271, rel=1e-6)] * 2  # sample std of (50, 54): sqrt(8)
    assert learning_curve_stats([merged]) == learning_curve_stats([a, b])


def test_merge_keeps_distinct_trial_numbers_so_a_sweeps_pairs_stay_paired():
    # a sweep's files: random has trials 0 and 2 finished, tavaal trial 2 only; trial 2 must stay trial 2
    random0, random2 = fake_results({"random": [[50.0]]}), fake_results({"random": [[52.0]]})
    tavaal2 = fake_results({"tavaal": [[57.0]]})
    random2.runs[0]["trial"] = tavaal2.runs[0]["trial"] = 2
    merged = merge_results([random0, random2, tavaal2])
    assert [(r["method"], r["trial"]) for r in merged.runs] == [("random", 0), ("random", 2), ("tavaal", 2)]
    assert merged.config["trials"] == 2


def test_the_report_groups_by_the_same_rule_as_the_widgets():
    a = fake_results({"random": [[50.0, 60.0]]})
    b = fake_results({"tavaal": [[55.0, 70.0]]})
    c = fake_results({"random": [[40.0, 45.0]]}, epochs=4)
    table = accuracy_table([a, b, c])
    blocks = table.split("\n\n")
    assert blocks[0].startswith("dataset synthetic (epochs=2) (2 runs)") and "tavaal" in blocks[0]
    assert blocks[1].startswith("dataset synthetic (epochs=4) (1 runs)") and "tavaal" not in blocks[1]
    assert "45.00" in blocks[1] and "45.00" not in blocks[0]
    # one group: a single table, no heading
    assert accuracy_table([a, b]).splitlines()[0].startswith("method")


def test_method_colours_come_from_the_palette():
    builtin = [method_color(name) for name in BUILTIN_METHODS]
    assert builtin == list(PALETTE[: len(BUILTIN_METHODS)]) and len(set(builtin)) == len(builtin)
    assert method_color("tavaal") == "#d62728" and method_color("random") == "#7f7f7f"
    other = method_color("my-margin")
    assert other in PALETTE[len(BUILTIN_METHODS):] and other == method_color("my-margin")
    figure = learning_curves_figure([fake_results({"my-margin": [[50.0, 60.0]]})])
    assert isinstance(figure, go.Figure)
    assert [t.line.color for t in figure.data if t.name == "my-margin"] == [other]
    bars = class_entropy_figure(fake_results({"my-margin": [[50.0, 60.0]]}))
    assert bars.data[0].marker.color == other
