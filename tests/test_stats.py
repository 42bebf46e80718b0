"""Paired comparison statistics, checked on numbers worked out by hand or from textbook tables."""

from __future__ import annotations

import math

import pytest

from tavaal_nb.results import Results
from tavaal_nb.widgets.paired import PairedComparisonView
from tavaal_nb.stats import (
    compare_paired, format_mean_spread, mean_confidence_interval, paired_differences, per_trial_accuracy,
    sign_test, trials_needed,
)


def test_mean_confidence_interval_by_hand():
    # 1..5: mean 3, s = sqrt(2.5) = 1.58114, se = 0.70711, t(0.975, 4) = 2.776445 -> half width 1.96324
    mean, low, high = mean_confidence_interval([1, 2, 3, 4, 5])
    assert mean == 3
    assert low == pytest.approx(3 - 1.963243, abs=1e-5)
    assert high == pytest.approx(3 + 1.963243, abs=1e-5)


def test_one_value_has_no_interval_and_says_one_trial():
    mean, low, high = mean_confidence_interval([80.0])
    assert mean == 80.0 and math.isnan(low) and math.isnan(high)
    assert format_mean_spread([80.0]) == "80.00 (1 trial)"
    assert format_mean_spread([1.0, 3.0]) == "2.00 +- 1.41 (2 trials)"
    assert format_mean_spread([None]) == "n/a (0 trials)"


def test_sign_test_exact_binomial():
    assert sign_test([1, 2, 3, 4, 5]) == pytest.approx(2 / 32)          # 5 of 5 positive
    assert sign_test([1, -1, 2, -2]) == pytest.approx(1.0)               # even split
    assert sign_test([1, 1, 1, 1, -1, 0]) == pytest.approx(2 * 6 / 32)   # zero dropped: 4 vs 1 of 5
    assert sign_test([0, 0]) == 1.0


def test_trials_needed_matches_power_tables():
    # paired t-test, two-sided alpha 0.05, power 0.8: d = 1 -> 10 pairs, d = 0.5 -> 34 pairs (G*Power tables)
    assert trials_needed(1.0, 1.0) == 10
    assert trials_needed(0.5, 1.0) == 34
    assert trials_needed(-0.5, 1.0) == 34
    with pytest.raises(ValueError, match="sd must be"):
        trials_needed(1.0, -1.0)


def test_paired_differences_need_equal_lengths():
    assert paired_differences([3, 4], [1, 1]) == [2.0, 3.0]
    with pytest.raises(ValueError, match="equally long"):
        paired_differences([1, 2], [1])


def _results(method_accuracies: dict[str, list[list[float]]]) -> Results:
    runs = []
    for method, trials in method_accuracies.items():
        for trial, accuracies in enumerate(trials):
            cycles = [{"labeled_size": 100 * (k + 1), "test_accuracy": acc} for k, acc in enumerate(accuracies)]
            runs.append({"method": method, "trial": trial, "cycles": cycles})
    return Results({"config": {}, "dataset": {"name": "toy"}, "runs": runs})


def test_compare_paired_sees_a_gap_smaller_than_the_spread():
    # the trials differ a lot (spread ~10 points) but a is 1 point ahead in every trial
    base = [60.0, 70.0, 80.0, 65.0, 75.0]
    results = _results({"a": [[b + 1.0] for b in base], "b": [[b] for b in base]})
    (row,) = compare_paired(results, "a", "b")
    assert row.trials == 5 and row.mean_difference == pytest.approx(1.0)
    assert row.low == pytest.approx(1.0) and row.high == pytest.approx(1.0)   # no spread in the differences
    assert row.sign_test_p == pytest.approx(2 / 32)
    assert row.verdict.startswith("a ahead")


def test_compare_paired_one_trial_and_errors():
    results = _results({"a": [[50.0, 60.0]], "b": [[49.0, 61.0]]})
    rows = compare_paired(results, "a", "b")
    assert [r.labeled_size for r in rows] == [100, 200]
    assert rows[0].verdict == "1 trial: no interval" and rows[0].trials_needed is None
    with pytest.raises(ValueError, match="no runs of method 'c'"):
        compare_paired(results, "a", "c")
    with pytest.raises(ValueError, match="more than one results file"):
        per_trial_accuracy([results, results], "a")


def test_paired_comparison_view_draws_the_mean_difference():
    base = [60.0, 70.0, 80.0]
    results = _results({"tavaal": [[b + 2.0, b + 1.0] for b in base], "random": [[b, b] for b in base],
                        "vaal": [[b - 1.0, b] for b in base]})
    view = PairedComparisonView(results, static=True)
    assert (view.method_a.value, view.method_b.value) == ("tavaal", "random")
    mean_trace = view.figure.data[-1]
    assert list(mean_trace.y) == pytest.approx([2.0, 1.0])
    assert "a ahead" in view.table.value
    view.method_b.value = "vaal"
    assert list(view.figure.data[-1].y) == pytest.approx([3.0, 1.0])
    with pytest.raises(ValueError, match="not in these results"):
        PairedComparisonView(results, method_a="badge", static=True)
