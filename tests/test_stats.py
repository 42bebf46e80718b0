"""Paired comparison statistics, checked on numbers worked out by hand or from textbook tables."""

from __future__ import annotations

import html
import itertools
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tavaal_nb.analysis.multiplicity import (
    comparison_family,
    family_header,
    holm_adjusted,
    interval_label,
    margin_reading,
    paired_t_p_value,
    simultaneous_confidence,
    simultaneous_interval,
    trials_for_half_width,
)
from tavaal_nb.analysis.plots import paired_difference_figure
from tavaal_nb.analysis.report import accuracy_table, comparison_table, write_report
from tavaal_nb.analysis.stats import (
    area_under_learning_curve,
    compare_paired,
    compare_per_trial,
    format_mean_spread,
    labels_to_reach,
    mean_confidence_interval,
    paired_differences,
    per_trial_accuracy,
    per_trial_aulc,
    per_trial_labels_to_reach,
    sign_test,
    summarize_comparison,
    trials_needed,
)
from tavaal_nb.classroom.widgets.paired import PairedComparisonView
from tavaal_nb.results import Results


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
    assert format_mean_spread([1.0, None, 3.0, float("nan")]) == "2.00 +- 1.41 (2 trials)"
    assert format_mean_spread([80.0], count=False) == "80.00" and format_mean_spread([], count=False) == "n/a"


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
    # the same gap in every trial (s_d = 0): the interval is the gap itself, clear even when corrected
    assert "tavaal ahead (the simultaneous interval lies above 0" in view.table.value
    view.method_b.value = "vaal"
    assert list(view.figure.data[-1].y) == pytest.approx([3.0, 1.0])
    with pytest.raises(ValueError, match="not in these results"):
        PairedComparisonView(results, method_a="badge", static=True)


def test_summarize_comparison_no_clear_difference_by_hand():
    # differences 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.302653 -> half width 4.302653 / sqrt(3) = 2.4841
    results = _results({"tavaal": [[70.0, 80.0], [75.0, 82.0], [72.0, 84.0]],
                        "random": [[71.0, 79.0], [74.0, 80.0], [73.0, 81.0]]})
    sentence = summarize_comparison(results, "tavaal", "random")
    assert sentence.startswith("At 200 labeled, tavaal minus random: +2.0 points, 95 % interval [-0.5, +4.5] "
                               "over 3 trials (sign test p = 0.25): no clear difference")  # 3 of 3 positive: 2/8
    assert f"about {trials_needed(2.0, 1.0)} paired trials" in sentence
    # at the first size the differences are -1, +1, -1: mean -1/3
    assert summarize_comparison(results, "tavaal", "random", at=100).startswith(
        "At 100 labeled, tavaal minus random: -0.3 points")


def test_summarize_comparison_names_the_method_ahead_and_says_one_trial():
    base = [60.0, 70.0, 80.0, 65.0, 75.0]
    ahead = _results({"a": [[b + d] for b, d in zip(base, [1, 2, 3, 2, 2])], "b": [[b] for b in base]})
    assert summarize_comparison(ahead, "a", "b").endswith("over 5 trials (sign test p = 0.06): a ahead.")
    assert summarize_comparison(ahead, "b", "a").endswith(": a ahead.")  # b - a: interval below 0
    single = _results({"tavaal": [[79.0, 80.5]], "random": [[80.0, 80.0]]})
    assert summarize_comparison(single, "tavaal", "random") == (
        "At 200 labeled, tavaal minus random: +0.5 points in 1 trial; one trial gives no interval, "
        "so it cannot tell the two methods apart.")
    with pytest.raises(ValueError, match="valid sizes: 100, 200"):
        summarize_comparison(single, "tavaal", "random", at=300)
    with pytest.raises(ValueError, match="no runs of method 'vaal'"):
        summarize_comparison(single, "vaal", "random")


def test_accuracy_table_says_one_trial_and_survives_null_accuracies():
    one = _results({"random": [[50.0, 60.0]], "tavaal": [[55.0, None]]})
    table = accuracy_table([one])
    assert "+-" not in table
    rows = {line.split()[0]: line for line in table.splitlines()}
    assert rows["random"].split() == ["random", "50.00", "60.00", "(1", "trial)"]
    assert rows["tavaal"].split() == ["tavaal", "55.00", "n/a", "(0-1", "trials)"]
    two = _results({"random": [[50.0, 60.0], [54.0, 61.0]]})
    assert accuracy_table([two]).splitlines()[1].split() == ["random", "52.00+-2.83", "60.50+-0.71", "(2", "trials)"]


def test_paired_difference_figure_lives_with_the_other_figure_builders():
    results = _results({"a": [[61.0], [72.0]], "b": [[60.0], [70.0]]})
    rows = compare_paired(results, "a", "b")
    fig = paired_difference_figure(rows, {0: [1.0], 1: [2.0]}, "a", "b")
    assert list(fig.data[-1].y) == pytest.approx([1.5])
    assert list(fig.data[-1].error_y.array) == pytest.approx([rows[0].high - 1.5])


def test_paired_view_says_why_when_a_method_is_missing_from_the_selected_experiment():
    results = _results({"tavaal": [[61.0]], "random": [[60.0]]})
    other = Results({"config": {"epochs": 9}, "dataset": {"name": "toy2"},
                     "runs": [{"method": "random", "trial": 0, "cycles": [{"labeled_size": 100, "test_accuracy": 1.0}]}]})
    view = PairedComparisonView([results, other], "tavaal", "random", static=True)
    view.group_selector.value = list(view.groups)[1]
    assert "no runs of method 'tavaal'" in html.unescape(view.table.value)  # the panel escapes quotes too


def test_area_under_learning_curve_by_hand():
    # trapezoids: 100 labels x (50 + 70) / 2 = 6,000 and 200 x (70 + 80) / 2 = 15,000; range 300 -> mean 70.0
    # (the plain mean of the three accuracies, 66.67, would weigh the short first step like the long second one)
    assert area_under_learning_curve([100, 200, 400], [50.0, 70.0, 80.0], normalise=False) == pytest.approx(21_000)
    assert area_under_learning_curve([100, 200, 400], [50.0, 70.0, 80.0]) == pytest.approx(70.0)
    assert area_under_learning_curve([200, 1000], [80.0, 80.0]) == pytest.approx(80.0)  # flat curve: its accuracy


def test_labels_to_reach_takes_the_first_measured_size_without_interpolating():
    sizes, accuracies = [100, 200, 400], [50.0, 72.0, 68.0]
    assert labels_to_reach(sizes, accuracies, 50.0) == 100     # reached exactly counts
    assert labels_to_reach(sizes, accuracies, 60.0) == 200     # not 100 + 100 * 10 / 22 = 145.5
    assert labels_to_reach(sizes, accuracies, 70.0) == 200     # the later dip to 68 does not undo it
    assert labels_to_reach(sizes, accuracies, 72.5) is None    # never reached


def test_learning_curve_summaries_reject_bad_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        area_under_learning_curve([200, 100], [50.0, 60.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        labels_to_reach([100, 100], [50.0, 60.0], 55.0)
    with pytest.raises(ValueError, match="equally long, got 2 and 3"):
        area_under_learning_curve([100, 200], [50.0, 60.0, 70.0])
    with pytest.raises(ValueError, match=r"must lie in \[0, 100\], got 101"):
        labels_to_reach([100, 200], [50.0, 60.0], 101)
    with pytest.raises(ValueError, match=r"must lie in \[0, 100\], got -1"):
        labels_to_reach([100, 200], [50.0, 60.0], -1)
    with pytest.raises(ValueError, match=r"accuracies are percentages"):
        area_under_learning_curve([100, 200], [50.0, 160.0])
    with pytest.raises(ValueError, match="finite numbers"):
        area_under_learning_curve([100, 200], [50.0, None])
    with pytest.raises(ValueError, match="at least two sizes, got 1"):
        area_under_learning_curve([100], [50.0])


def test_per_trial_summaries_and_their_paired_comparison_by_hand():
    # a is 1, 2, 3 points above b in trials 0, 1, 2 at every size: AULC differences 1, 2, 3 -> mean 2,
    # s = 1, t(0.975, 2) = 4.302653 -> interval 2 +- 2.4841; 3 of 3 positive -> sign test p = 2/8
    results = _results({"a": [[61.0, 71.0], [72.0, 82.0], [63.0, 73.0]],
                        "b": [[60.0, 70.0], [70.0, 80.0], [60.0, 70.0]]})
    assert per_trial_aulc(results, "a") == pytest.approx({0: 66.0, 1: 77.0, 2: 68.0})
    assert per_trial_aulc(results, "b", normalise=False) == pytest.approx({0: 6_500.0, 1: 7_500.0, 2: 6_500.0})
    row = compare_per_trial(per_trial_aulc(results, "a"), per_trial_aulc(results, "b"))
    assert (row.trials, row.unpaired) == (3, 0)
    assert row.mean_difference == pytest.approx(2.0)
    assert (row.low, row.high) == pytest.approx((2.0 - 2.484138, 2.0 + 2.484138), abs=1e-5)
    assert row.sign_test_p == pytest.approx(0.25)
    assert row.verdict.startswith("no clear difference")
    # to 70 %: a reaches it at its second size in trials 0 and 2 (61 < 70 <= 71, 63 < 70 <= 73), at once in 1
    assert per_trial_labels_to_reach(results, "a", 70.0) == {0: 200, 1: 100, 2: 200}
    assert all(type(n) is int for n in per_trial_labels_to_reach(results, "a", 70.0).values())
    assert per_trial_labels_to_reach(results, "b", 75.0) == {0: None, 1: 200, 2: None}
    reach = compare_per_trial(per_trial_labels_to_reach(results, "a", 75.0),
                              per_trial_labels_to_reach(results, "b", 75.0))
    # a never reaches 75 in trials 0 and 2 either: only trial 1 pairs (a 200, b 200)
    assert (reach.trials, reach.unpaired, reach.mean_difference) == (1, 2, 0.0)
    assert reach.verdict == "1 trial: no interval"


def test_per_trial_summaries_name_the_method_and_trial_in_errors():
    results = _results({"a": [[50.0, None]], "b": [[50.0, 60.0]]})
    with pytest.raises(ValueError, match="a trial 0: accuracies must be finite"):
        per_trial_aulc(results, "a")
    with pytest.raises(ValueError, match="no runs of method 'c'"):
        per_trial_aulc(results, "c")
    with pytest.raises(ValueError, match="share no trial"):
        compare_per_trial({0: 1.0}, {1: 1.0})


# ---------------------------------------------------------------- many comparisons at once (issue 26, item 4)

def test_holm_adjusted_p_values_by_hand():
    # sorted 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to the running 0.06)
    assert holm_adjusted([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm_adjusted([0.02, float("nan"), 0.04])  # no test (NaN) is not counted: m = 2
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    assert holm_adjusted([0.5, 0.6]) == [1.0, 1.0]  # 2 x 0.5 = 1.0, capped at 1
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        holm_adjusted([0.2, 1.5])


def test_paired_t_p_value_matches_scipy_and_the_cauchy_by_hand():
    assert paired_t_p_value([1, 2, 3, 4, 6]) == pytest.approx(scipy_stats.ttest_1samp([1, 2, 3, 4, 6], 0).pvalue)
    # 2 values: t has 1 df (Cauchy); d = 1, 3: t = 2 / (sqrt(2) / sqrt(2)) = 2, p = 1 - 2 atan(2) / pi
    assert paired_t_p_value([1, 3]) == pytest.approx(1 - 2 * math.atan(2) / math.pi)
    assert paired_t_p_value([0, 0, 0]) == 1.0 and paired_t_p_value([2, 2]) == 0.0 and math.isnan(paired_t_p_value([1]))


def test_simultaneous_intervals_use_the_bonferroni_level():
    assert simultaneous_confidence(0.95, 6) == pytest.approx(1 - 0.05 / 6)
    # 1..5: mean 3, s / sqrt(n) = sqrt(2.5 / 5); over 15 comparisons t_{1 - 0.05 / 30, 4}
    mean, low, high = simultaneous_interval([1, 2, 3, 4, 5], 0.95, 15)
    half = scipy_stats.t.ppf(1 - 0.05 / 30, 4) * math.sqrt(0.5)
    assert (mean, low, high) == pytest.approx((3, 3 - half, 3 + half))
    assert half == pytest.approx(6.25407 * math.sqrt(0.5), abs=1e-4)
    assert simultaneous_interval([1, 2, 3, 4, 5]) == pytest.approx(mean_confidence_interval([1, 2, 3, 4, 5]))
    # 1 df by hand: over 4 comparisons t_{0.99375, 1} = tan(pi * 0.49375) = 50.92
    assert simultaneous_interval([1, 3], 0.95, 4)[2] == pytest.approx(2 + math.tan(math.pi * 0.49375))
    assert interval_label(0.95, 15) == "95 % simultaneous interval over 15 comparisons (Bonferroni)"
    assert interval_label(0.9, 1) == "90 % interval (1 comparison: no correction)"
    with pytest.raises(ValueError, match="comparisons must be a whole number >= 1, got 0"):
        simultaneous_confidence(0.95, 0)


def test_trials_for_half_width_iterates_n_because_t_depends_on_it():
    # sd 2, h 1 at 95 %: t_{0.975, 17} * 2 / sqrt(18) = 2.1098 * 0.4714 = 0.9946 <= 1, while
    # t_{0.975, 16} * 2 / sqrt(17) = 2.1199 * 0.4851 = 1.0283 > 1 (the normal approximation says 15.4)
    assert trials_for_half_width(2.0, 1.0) == 18
    for comparisons, expected in ((6, 32), (15, 40)):
        q = 1 - 0.05 / (2 * comparisons)
        assert scipy_stats.t.ppf(q, expected - 1) * 2 / math.sqrt(expected) <= 1.0
        assert scipy_stats.t.ppf(q, expected - 2) * 2 / math.sqrt(expected - 1) > 1.0
        assert trials_for_half_width(2.0, 1.0, comparisons=comparisons) == expected
    assert trials_for_half_width(0.0, 1.0) == 2
    assert trials_for_half_width(100.0, 0.01, limit=50) == 50
    with pytest.raises(ValueError, match="half_width must be a finite number > 0, got 0"):
        trials_for_half_width(2.0, 0.0)
    with pytest.raises(ValueError, match="sd must be a finite number >= 0"):
        trials_for_half_width(-1.0, 1.0)


def _curves(per_method: dict[str, list[list[float]]]) -> Results:
    """Results with one run per (method, trial), sizes 200, 400, ... (the shipped sweep's)."""
    runs = [{"method": method, "trial": trial,
             "cycles": [{"labeled_size": 200 * (k + 1), "test_accuracy": acc} for k, acc in enumerate(curve)]}
            for method, trials in per_method.items() for trial, curve in enumerate(trials)]
    return Results({"config": {}, "dataset": {"name": "toy"}, "runs": runs})


def test_the_issues_case_is_no_longer_clear_once_corrected():
    # core-set minus VAAL at 200 labels in the shipped balanced pool (5 trials): mean 13.768, s = 8.7418; the plain
    # 95 % interval [+2.9, +24.6] excludes 0; over the 6 comparisons of one pair (AULC + 5 sizes) t_{1 - 0.05/12, 4}
    # = 4.851 -> half width 18.96, over 15, t_{1 - 0.05/30, 4} = 6.254 -> 24.45: both contain 0
    coreset, vaal = [62.58, 61.86, 57.36, 57.6, 52.34], [39.26, 47.96, 43.86, 39.32, 52.5]
    diffs = paired_differences(coreset, vaal)
    plain = mean_confidence_interval(diffs)
    assert plain[1] > 0 and plain == pytest.approx((13.768, 2.9136, 24.6224), abs=1e-3)
    for comparisons, t in ((6, 4.851008), (15, 6.254071)):
        _, low, high = simultaneous_interval(diffs, 0.95, comparisons)
        half = t * 8.741814 / math.sqrt(5)
        assert (low, high) == pytest.approx((13.768 - half, 13.768 + half), abs=1e-3)
        assert low < 0 < high
    results = _curves({"coreset": [[c, 70.0] for c in coreset], "vaal": [[v, 70.0] for v in vaal]})
    assert compare_paired(results, "coreset", "vaal")[0].verdict.startswith("a ahead")  # uncorrected: "clear"
    aulc, first, last = comparison_family(results, [("coreset", "vaal")])
    assert (aulc.label, first.label, first.family_size) == ("AULC 200-400", "200 labeled", 3)
    assert not first.clear and first.verdict == "no clear difference (the simultaneous interval contains 0)"
    assert aulc.labeled_size is None and aulc.mean_difference == pytest.approx(13.768 / 2)


def test_identical_data_never_yields_a_clear_difference():
    # identical copies: every difference 0, every interval [0, 0], every p 1
    curves = [[40.0 + 5 * k + trial for k in range(5)] for trial in range(5)]
    copies = _curves({"a": curves, "b": [list(c) for c in curves], "c": [list(c) for c in curves]})
    rows = comparison_family(copies, list(itertools.combinations("abc", 2)))
    assert len(rows) == 3 * 6 and all(not row.clear and row.p_holm == 1.0 for row in rows)
    # pure permutation noise: in each trial 8 curves are drawn and dealt to the 8 methods in a random order, so no
    # method is better than another; 28 pairs x (AULC + 5 sizes) = 168 comparisons
    rng = np.random.default_rng(26)
    methods = [f"m{k}" for k in range(8)]
    dealt: dict[str, list[list[float]]] = {m: [] for m in methods}
    for _trial in range(5):
        level = rng.normal(0, 6)  # what a trial shares (its initial set)
        draws = [[float(np.clip(50 + 6 * k + level + rng.normal(0, 5), 0, 100)) for k in range(5)] for _ in methods]
        for method, index in zip(methods, rng.permutation(len(methods))):
            dealt[method].append(draws[index])
    noise = _curves(dealt)
    pairs = list(itertools.combinations(methods, 2))
    uncorrected = sum(row.low > 0 or row.high < 0 for a, b in pairs for row in compare_paired(noise, a, b))
    assert uncorrected >= 3  # the plain intervals call noise "clear" (the issue's complaint) ...
    rows = comparison_family(noise, pairs)
    assert len(rows) == 168 and {row.family_size for row in rows} == {168}
    assert not any(row.clear for row in rows)  # ... the corrected ones do not
    assert min(row.p_holm for row in rows) > 0.05


def test_a_difference_inside_the_noise_floor_is_no_difference():
    # a is 2 points ahead in every trial at both sizes (s_d = 0: the interval is [2, 2])
    results = _curves({"a": [[62.0, 72.0], [57.0, 67.0], [66.0, 76.0]],
                       "b": [[60.0, 70.0], [55.0, 65.0], [64.0, 74.0]]})
    plain = comparison_family(results, [("a", "b")])[0]
    assert plain.clear and plain.verdict == "a ahead (the simultaneous interval lies above 0; no noise floor given)"
    above = comparison_family(results, [("a", "b")], noise_floor=1.0)[0]
    assert above.verdict == "a ahead (the simultaneous interval lies above 0 and |+2.00| exceeds the noise floor 1.00)"
    inside = comparison_family(results, [("b", "a")], noise_floor=2.5)[0]
    assert not inside.clear and inside.reading == "within the noise"
    assert inside.verdict == ("no clear difference (the simultaneous interval lies below 0, but |-2.00| is within the "
                              "noise floor 2.50: a difference inside the noise counts as none); the whole interval "
                              "lies within +-2.50: equal within the noise")
    with pytest.raises(ValueError, match="noise_floor must be None or a finite number >= 0"):
        comparison_family(results, [("a", "b")], noise_floor=-1.0)
    with pytest.raises(ValueError, match="two different methods, got 'a' twice"):
        comparison_family(results, [("a", "a")])


def test_a_family_of_aulcs_alone_counts_one_comparison_per_pair_and_reads_against_a_margin():
    # a - b is +2 at both sizes in every trial (AULC differences 2, 2, 2: interval [2, 2]); a - c is 1, 3, 2 in the
    # three trials at both sizes (AULC differences 1, 3, 2: mean 2, s = 1). Two AULCs, no sizes: a family of 2, so
    # each interval is at 1 - 0.05/2, t_{1 - 0.05/4, 2} = 6.2053 (tables) -> a - c: 2 +- 6.2053 / sqrt(3) = 2 +- 3.5827
    a = [[62.0, 72.0], [57.0, 67.0], [66.0, 76.0]]
    results = _curves({"a": a, "b": [[x - 2 for x in curve] for curve in a],
                       "c": [[x - d for x in curve] for curve, d in zip(a, (1, 3, 2))]})
    assert len(comparison_family(results, [("a", "b"), ("a", "c")])) == 6  # AULC + 2 sizes per pair
    ab, ac = comparison_family(results, [("a", "b"), ("a", "c")], sizes=False)
    assert (ab.label, ab.labeled_size, ab.family_size, ac.family_size) == ("AULC 200-400", None, 2, 2)
    assert (ab.mean_difference, ab.low, ab.high) == pytest.approx((2.0, 2.0, 2.0))
    assert (ac.mean_difference, ac.low, ac.high) == pytest.approx((2.0, 2.0 - 3.5827, 2.0 + 3.5827), abs=1e-4)
    assert margin_reading(ab, 1.0) == "a ahead"
    assert margin_reading(ac, 1.0).startswith("not settled (the interval is neither clear of 0")
    assert margin_reading(ac, 6.0) == "equal within +-6 points (the whole interval lies inside +-6)"
    inside_floor, = comparison_family(results, [("a", "b")], noise_floor=2.5, sizes=False)  # +2 is within 2.5
    assert margin_reading(inside_floor, 1.0).startswith("not settled")
    assert margin_reading(inside_floor, 3.0).startswith("equal within +-3 points")
    one, = comparison_family(_curves({"a": [[60.0, 70.0]], "b": [[59.0, 69.0]]}), [("a", "b")], sizes=False)
    assert margin_reading(one, 1.0) == "no interval"
    with pytest.raises(ValueError, match="margin must be a finite number of points > 0, got 0"):
        margin_reading(ab, 0)
    with pytest.raises(ValueError, match="at=200 asks for one labeled size and sizes=False for none"):
        comparison_family(results, [("a", "b")], at=200, sizes=False)
    single = _curves({"a": [[60.0], [61.0]], "b": [[59.0], [58.0]]})
    with pytest.raises(ValueError, match="a and b share 1 labeled size: an AULC needs at least 2"):
        comparison_family(single, [("a", "b")], sizes=False)


def test_paired_view_says_how_many_comparisons_and_corrects_over_the_family_asked_for():
    base = [60.0, 70.0, 80.0]
    results = _results({"tavaal": [[b + 2.0, b + 1.0 + t] for t, b in enumerate(base)],
                        "random": [[b, b] for b in base], "vaal": [[b - 1.0, b] for b in base]})
    view = PairedComparisonView(results, static=True)
    assert [row.label for row in view.rows()] == ["AULC 100-200", "100 labeled", "200 labeled"]
    assert ("3 comparisons in one family; every interval a 95 % simultaneous interval over 3 comparisons"
            in html.unescape(view.table.value))
    assert "simultaneous interval over 3 comparisons (Bonferroni)" in view.figure.layout.title.text
    narrow = view.rows()[2].high - view.rows()[2].low
    view.family.value = "all pairs"  # 3 pairs x 3 comparisons
    assert "9 comparisons in one family" in html.unescape(view.table.value)
    assert "this table shows the 3 of tavaal minus random" in html.unescape(view.table.value)
    assert view.rows()[2].high - view.rows()[2].low > narrow
    assert len(view.table.value.split("<tr>")) == 1 + 1 + 3  # before the table, its head, its 3 rows
    view.noise_floor.value = 5.0
    assert "exceeds the noise floor 5.00" in html.unescape(view.table.value)
    with pytest.raises(ValueError, match="family must be one of 'pair', 'all pairs'"):
        PairedComparisonView(results, family="everything", static=True)


def test_report_shows_the_corrected_comparisons_and_how_many(tmp_path):
    results = _results({"random": [[50.0, 60.0], [54.0, 61.0], [52.0, 63.0]],
                        "tavaal": [[51.0, 62.0], [55.0, 64.0], [52.0, 64.0]],
                        "vaal": [[50.0, 59.0], [53.0, 62.0], [51.0, 62.0]]})
    table = comparison_table([results])
    lines = table.splitlines()
    assert lines[0] == "toy: each method minus random, the AULC first (primary), then each labeled size"
    assert lines[1].startswith("6 comparisons in one family; every interval a 95 % simultaneous interval over 6 "
                               "comparisons (Bonferroni), p values Holm-adjusted over the same 6")
    assert [line.split()[0] for line in lines[3:]] == ["tavaal", "AULC", "100", "200", "vaal", "AULC", "100", "200"]
    # tavaal - random at 200 labeled: differences 2, 3, 1 -> mean 2, s = 1, t_{1 - 0.05/12, 2} * 1 / sqrt(3)
    half = scipy_stats.t.ppf(1 - 0.05 / 12, 2) / math.sqrt(3)
    assert f"[{2 - half:+.2f}, {2 + half:+.2f}]" in lines[6]
    assert comparison_table([_results({"random": [[50.0]]})]) == "toy: one method (random): nothing to compare"
    results.data["dataset"]["class_counts"] = [10, 10]  # what the report's entropy figure needs
    page = write_report([results], tmp_path / "report.html").read_text()
    assert "6 comparisons in one family" in page and "Holm-adjusted" in page


def test_one_trial_gives_no_interval_and_the_family_says_so():
    rows = comparison_family(_results({"a": [[50.0, 60.0]], "b": [[49.0, 61.0]]}), [("a", "b")])
    assert [row.verdict for row in rows] == ["1 trial: no interval"] * 3 and not any(row.clear for row in rows)
    assert family_header(rows) == ("3 comparisons, each with fewer than 2 paired trials: no interval, no test, "
                                   "nothing to correct")
