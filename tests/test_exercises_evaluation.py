"""The evaluation checkers of notebooks 06-07 (the paired t interval, the area under a learning curve) accept
correct answers written here in several ways, and reject the package's own functions handed in and the usual
wrong variants, each with a message naming the case and, where one explains it, the mistake."""

from __future__ import annotations

import functools
import math
import statistics

import numpy as np
import pytest
from conftest import rejects
from scipy import integrate
from scipy import stats as scipy_stats

from tavaal_nb.analysis import stats
from tavaal_nb.analysis.stats import area_under_learning_curve, mean_confidence_interval, paired_differences
from tavaal_nb.classroom.exercises import ExerciseFailed, NotImplementedYet, check_aulc, check_paired_interval
from tavaal_nb.classroom.exercises.harness import handed_in_reference


# ----------------------------------------------------------------------------- the paired interval: right answers
def paired_numpy(a, b, confidence=0.95):
    if len(a) != len(b):
        raise ValueError("a and b must be equally long")
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2:
        return float(d.mean()), math.nan, math.nan
    half = scipy_stats.t.ppf((1 + confidence) / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def paired_statistics_module(a, b, confidence=0.95):
    if len(a) != len(b):
        raise ValueError("unequal")
    d = [x - y for x, y in zip(a, b)]
    mean = statistics.fmean(d)
    half = scipy_stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * statistics.stdev(d) / len(d) ** 0.5  # raises for 1
    return (mean, mean - half, mean + half)


def paired_scipy_interval(a, b, confidence=0.95):
    if len(a) != len(b):
        raise ValueError("unequal")
    d = np.subtract(a, b)
    if len(d) < 2:
        raise ValueError("one trial has no interval")
    if d.std() == 0:  # t.interval needs a positive scale
        return d.mean(), d.mean(), d.mean()
    low, high = scipy_stats.t.interval(confidence, len(d) - 1, loc=d.mean(), scale=scipy_stats.sem(d))
    return [d.mean(), low, high]


@pytest.mark.parametrize("fn", [paired_numpy, paired_statistics_module, paired_scipy_interval])
def test_correct_paired_intervals_pass(fn):
    assert check_paired_interval(fn) == 8


# ----------------------------------------------------------------------------- the paired interval: wrong answers
def paired_population_sd(a, b, confidence=0.95):
    d = np.subtract(a, b)
    half = scipy_stats.t.ppf((1 + confidence) / 2, len(d) - 1) * d.std() / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def paired_z(a, b, confidence=0.95):
    d = np.subtract(a, b)
    half = scipy_stats.norm.ppf((1 + confidence) / 2) * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def unpaired(a, b, confidence=0.95):
    if len(a) != len(b):
        raise ValueError("unequal")
    n = len(a)
    mean = np.mean(a) - np.mean(b)
    half = scipy_stats.t.ppf((1 + confidence) / 2, n - 1) * math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / n)
    return mean, mean - half, mean + half


def b_minus_a(a, b, confidence=0.95):
    return paired_numpy(b, a, confidence)


def one_sided(a, b, confidence=0.95):
    d = np.subtract(a, b)
    half = scipy_stats.t.ppf(confidence, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def always_95(a, b, confidence=0.95):
    return paired_numpy(a, b, 0.95)


def sd_not_standard_error(a, b, confidence=0.95):
    d = np.subtract(a, b)
    half = scipy_stats.t.ppf((1 + confidence) / 2, len(d) - 1) * d.std(ddof=1)
    return d.mean(), d.mean() - half, d.mean() + half


def mean_of_a(a, b, confidence=0.95):
    mean, low, high = paired_numpy(a, b, confidence)
    return np.mean(a), np.mean(a) - (high - low) / 2, np.mean(a) + (high - low) / 2


def paired_ignores_unequal_lengths(a, b, confidence=0.95):
    n = min(len(a), len(b))
    return paired_numpy(a[:n], b[:n], confidence)


def paired_one_trial_zero_width(a, b, confidence=0.95):
    d = np.subtract(a, b)
    if len(d) == 1:
        return d[0], d[0], d[0]
    return paired_numpy(a, b, confidence)


def paired_sorts_its_input(a, b, confidence=0.95):
    a.sort()
    b.sort()
    return paired_numpy(a, b, confidence)


@pytest.mark.parametrize("fn, fragments", [
    (paired_population_sd, ["'five trials", "population standard deviation"]),
    (paired_z, ["'five trials", "normal quantile"]),
    (unpaired, ["'five trials", "independent samples"]),
    (b_minus_a, ["'five trials", "sign is flipped"]),
    (one_sided, ["'five trials", "one-sided quantile"]),
    (always_95, ["'four trials at 90 %'", "confidence argument"]),
    (sd_not_standard_error, ["'five trials", "standard error"]),
    (mean_of_a, ["'five trials", "one method's mean accuracy"]),
    (paired_ignores_unequal_lengths, ["'lists of unequal length'", "should raise ValueError"]),
    (paired_one_trial_zero_width, ["'one trial: no interval'", "no spread"]),
    (paired_sorts_its_input, ["changed the lists"]),
])
def test_wrong_paired_intervals_are_named(fn, fragments):
    rejects(check_paired_interval, fn, *fragments)


@pytest.mark.parametrize("fn", [
    mean_confidence_interval,
    paired_differences,
    functools.partial(mean_confidence_interval, confidence=0.95),
    stats.compare_per_trial,
])
def test_handing_in_the_package_is_refused(fn):
    rejects(check_paired_interval, fn, "the function handed in is the package's tavaal_nb.analysis.stats.")


def test_an_alias_and_a_wrapper_of_the_package_are_refused():
    my_interval = mean_confidence_interval
    rejects(check_paired_interval, my_interval, "stats.mean_confidence_interval")

    @functools.wraps(mean_confidence_interval)
    def wrapped(*args, **kwargs):
        return mean_confidence_interval(*args, **kwargs)

    rejects(check_paired_interval, wrapped, "stats.mean_confidence_interval")


def test_calling_the_package_is_refused():
    def delegates(a, b, confidence=0.95):
        return mean_confidence_interval(paired_differences(a, b), confidence)

    def through_the_module(a, b, confidence=0.95):
        return stats.mean_confidence_interval([x - y for x, y in zip(a, b)], confidence)

    rejects(check_paired_interval, delegates, "your answer calls the package's")
    rejects(check_paired_interval, through_the_module, "your answer calls the package's tavaal_nb.analysis.stats.mean_confidence_interval")


def test_an_unwritten_answer_is_not_implemented_yet():
    def my_paired_interval(a, b, confidence=0.95):
        raise NotImplementedError()

    with pytest.raises(NotImplementedYet, match="write my_paired_interval in the cell above"):
        check_paired_interval(my_paired_interval)


def test_handed_in_reference_sees_through_partial_and_bound_methods():
    class Holder:
        def method(self, sizes, accuracies):
            return 0.0

    references = [(stats, "area_under_learning_curve"), (Holder, "method")]
    assert handed_in_reference(functools.partial(functools.partial(area_under_learning_curve), normalise=True),
                               references) == "tavaal_nb.analysis.stats.area_under_learning_curve"
    assert handed_in_reference(Holder().method, references) == "Holder.method"
    assert handed_in_reference(lambda s, a: 0.0, references) is None


# ----------------------------------------------------------------------------- the AULC: right answers
def aulc_loop(sizes, accuracies):
    if len(sizes) != len(accuracies) or len(sizes) < 2:
        raise ValueError("need two equally long lists of at least two points")
    area = 0.0
    for i in range(len(sizes) - 1):
        area += (sizes[i + 1] - sizes[i]) * (accuracies[i] + accuracies[i + 1]) / 2
    return area / (sizes[-1] - sizes[0])


def aulc_numpy(sizes, accuracies):
    if len(sizes) != len(accuracies) or len(sizes) < 2:
        raise ValueError("bad curve")
    return np.trapezoid(accuracies, sizes) / (sizes[-1] - sizes[0])


def aulc_scipy(sizes, accuracies):
    x, y = np.asarray(sizes, dtype=float), np.asarray(accuracies, dtype=float)
    if x.shape != y.shape or x.size < 2:
        raise ValueError("bad curve")
    return float(integrate.trapezoid(y, x) / np.ptp(x))


@pytest.mark.parametrize("fn", [aulc_loop, aulc_numpy, aulc_scipy])
def test_correct_aulcs_pass(fn):
    assert check_aulc(fn) == 7


# ----------------------------------------------------------------------------- the AULC: wrong answers
def checked(fn):
    """``fn`` with the input checks the exercise asks for, so that the value is what fails."""
    def wrong(sizes, accuracies):
        if len(sizes) != len(accuracies) or len(sizes) < 2:
            raise ValueError("bad curve")
        return fn(np.asarray(sizes, dtype=float), np.asarray(accuracies, dtype=float))
    return wrong


@pytest.mark.parametrize("fn, fragments", [
    (checked(lambda n, a: np.trapezoid(a) / (len(a) - 1)), ["'sizes that double", "cycles' indices"]),
    (checked(lambda n, a: np.trapezoid(a, n)), ["'five cycles", "not normalised"]),
    (checked(lambda n, a: np.trapezoid(a, n) / n[-1]), ["'five cycles", "divided by the last size"]),
    (checked(lambda n, a: a.mean()), ["'five cycles", "plain mean of the accuracies"]),
    (checked(lambda n, a: np.sum(np.diff(n) * a[:-1]) / np.ptp(n)), ["'five cycles", "left Riemann sum"]),
    (checked(lambda n, a: np.trapezoid(n, a) / (a[-1] - a[0])), ["'five cycles", "takes (y, x)"]),
    (checked(lambda n, a: -np.trapezoid(a, n) / np.ptp(n)), ["'five cycles", "sign flipped"]),
    (checked(lambda n, a: np.trapezoid(a / 100, n) / np.ptp(n)), ["'five cycles", "a fraction"]),
    (checked(lambda n, a: np.trapezoid(np.r_[a[0], a], np.r_[0, n]) / n[-1]), ["'five cycles", "from 0 labels"]),
    (lambda n, a: aulc_loop(n, a) if len(n) > 1 else float(a[0]), ["'one point has no area'", "should raise ValueError"]),
])
def test_wrong_aulcs_are_named(fn, fragments):
    rejects(check_aulc, fn, *fragments)


@pytest.mark.parametrize("fn", [area_under_learning_curve, functools.partial(area_under_learning_curve, normalise=True),
                                stats.per_trial_aulc])
def test_handing_in_the_package_aulc_is_refused(fn):
    rejects(check_aulc, fn, "the function handed in is the package's tavaal_nb.analysis.stats.")


def test_calling_the_package_aulc_is_refused():
    my_aulc = area_under_learning_curve
    rejects(check_aulc, my_aulc, "stats.area_under_learning_curve")
    rejects(check_aulc, lambda sizes, accuracies: stats.area_under_learning_curve(sizes, accuracies),
            "your answer calls the package's tavaal_nb.analysis.stats.area_under_learning_curve")


def test_a_failure_never_shows_the_reference_code():
    with pytest.raises(ExerciseFailed) as failure:
        check_aulc(checked(lambda n, a: a.mean()))
    assert "trapezoid(" not in str(failure.value) and "sum(" not in str(failure.value)


# ----------------------------------------------------------------------------- cells that use an answer
def test_needs_answers_names_the_unwritten_answers_in_one_line():
    from tavaal_nb.classroom.exercises import AnswerNeeded, needs_answers

    def my_aulc(sizes, accuracies):
        """The area under one learning curve."""
        raise NotImplementedError()

    def my_paired_interval(a, b, confidence=0.95):
        raise NotImplementedError()

    needs_answers(aulc_loop, paired_numpy, where="above")  # written: nothing happens
    with pytest.raises(AnswerNeeded) as needed:
        needs_answers(aulc_loop, my_aulc, functools.partial(my_paired_interval, confidence=0.9), where="section 2")
    message = str(needed.value)
    assert message.startswith("this cell uses your my_aulc, my_paired_interval (section 2), still `raise "
                              "NotImplementedError()`: write them") and "\n" not in message
    assert needed.value._render_traceback_() == [f"AnswerNeeded: {message}"]
    assert isinstance(needed.value, NotImplementedYet)
    with pytest.raises(ValueError, match="name at least one"):
        needs_answers(where="above")


def test_an_answer_that_raises_for_bad_input_is_not_taken_for_a_stub():
    from tavaal_nb.classroom.exercises.prerequisites import is_unanswered

    def checks_then_raises(sizes, accuracies):
        if len(sizes) < 2:
            raise NotImplementedError("one point")
        return aulc_loop(sizes, accuracies)

    assert not is_unanswered(checks_then_raises) and not is_unanswered(aulc_numpy)


# ----------------------------------------------------------------------------- labels to a target
from tavaal_nb.analysis.stats import labels_to_reach  # noqa: E402
from tavaal_nb.classroom.exercises import check_labels_to_reach  # noqa: E402


def validated(fn):
    """``fn`` with the input checks the exercise asks for, so that the value is what fails."""
    def answer(sizes, accuracies, target):
        if len(sizes) != len(accuracies):
            raise ValueError("one accuracy per size")
        if not 0 <= target <= 100:
            raise ValueError("the target is a percentage")
        return fn(list(sizes), list(accuracies), target)
    return answer


def reach_loop(sizes, accuracies, target):
    for size, accuracy in zip(sizes, accuracies):
        if accuracy >= target:
            return size
    return None


def reach_numpy(sizes, accuracies, target):
    hits = np.flatnonzero(np.asarray(accuracies) >= target)
    return sizes[hits[0]] if hits.size else None


@pytest.mark.parametrize("fn", [validated(reach_loop), validated(reach_numpy),
                                validated(lambda n, a, t: next((s for s, x in zip(n, a) if x >= t), None))])
def test_correct_labels_to_reach_pass(fn):
    assert check_labels_to_reach(fn) == 8


def interpolated(n, a, t):
    for k, (size, accuracy) in enumerate(zip(n, a)):
        if accuracy >= t:
            return size if k == 0 else n[k - 1] + (t - a[k - 1]) * (size - n[k - 1]) / (accuracy - a[k - 1])
    return None


@pytest.mark.parametrize("fn, fragments", [
    (validated(lambda n, a, t: next((s for s, x in zip(n, a) if x > t), None)), ["'an accuracy exactly", "strict"]),
    (validated(lambda n, a, t: ([s for s, x in zip(n, a) if x >= t] or [None])[-1]), ["'five cycles", "the last size"]),
    (validated(lambda n, a, t: next((k for k, x in enumerate(a) if x >= t), None)), ["'five cycles", "a position"]),
    (validated(interpolated), ["'five cycles", "interpolated"]),
    (validated(lambda n, a, t: reach_loop(n, a, t) or n[-1]), ["'never reached'", "return None"]),
    (validated(lambda n, a, t: next((n[k] for k in range(len(n)) if min(a[k:]) >= t), None)),
     ["'reached, then a dip below'", "stays at or above"]),
    (validated(lambda n, a, t: reach_loop(n, a, t) if reach_loop(n, a, t) is not None else float("nan")),
     ["'never reached'", "return None"]),
    (lambda n, a, t: reach_loop(n, a, t), ["'lists of unequal length'", "should raise ValueError"]),
    (lambda n, a, t: (_ for _ in ()).throw(ValueError("x")) if len(n) != len(a) else reach_loop(n, a, t),
     ["'a target above 100 %'", "should raise ValueError"]),
])
def test_wrong_labels_to_reach_are_named(fn, fragments):
    rejects(check_labels_to_reach, fn, *fragments)


@pytest.mark.parametrize("fn", [labels_to_reach, functools.partial(labels_to_reach), stats.per_trial_labels_to_reach])
def test_handing_in_the_package_labels_to_reach_is_refused(fn):
    rejects(check_labels_to_reach, fn, "the function handed in is the package's tavaal_nb.analysis.stats.")
    rejects(check_labels_to_reach, validated(lambda n, a, t: stats.labels_to_reach(n, a, t)),
            "your answer calls the package's tavaal_nb.analysis.stats.labels_to_reach")
