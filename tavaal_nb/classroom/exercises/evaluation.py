"""Checkers for the learner's own evaluation of active-learning methods (notebooks 06-08): the paired
difference of two methods across trials with its Student-t interval, the area under a learning curve, and the
labels a curve needs to reach a target accuracy.

Both compare the learner's function with :mod:`tavaal_nb.analysis.stats` (``paired_differences`` +
``mean_confidence_interval``; ``area_under_learning_curve``) on named cases chosen so that the usual wrong
variants disagree with it: the population standard deviation, a normal quantile instead of Student's t, the
two methods taken as independent samples, a one-sided quantile, the wrong sign; the trapezoid on the cycles'
indices instead of the labeled-set sizes, an area left unnormalised, a plain mean of the accuracies. When a
wrong answer matches one of those variants, the hint names it. Any correct way passes (numpy, scipy, the
``statistics`` module, a loop), but not the package's own functions: handing one in (directly, under another
name, through ``functools.partial``, a bound method, a wrapper, a copy of its code) fails before any case runs
(:func:`~tavaal_nb.classroom.exercises.harness.handed_in_reference`, which :func:`run_cases` applies to every
checker), and calling one fails at the call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from scipy import stats as scipy_stats

from tavaal_nb.analysis import stats
from tavaal_nb.classroom.exercises.harness import Case, call_learner, expect_value_error, run_cases

__all__ = ["check_paired_interval", "check_aulc", "check_labels_to_reach"]

PairedFunction = Callable[[Sequence[float], Sequence[float], float], tuple[float, float, float]]
CurveFunction = Callable[[Sequence[float], Sequence[float]], float]
TargetFunction = Callable[[Sequence[float], Sequence[float], float], float | None]


def _close(x: float, y: float, tolerance: float = 1e-6) -> bool:
    return abs(x - y) <= tolerance * max(1.0, abs(y))


def _numbers(got: Any, count: int) -> list[float] | str:
    """``got`` as ``count`` floats, or why it is not that."""
    try:
        values = [float(v) for v in got]
    except (TypeError, ValueError):
        return f"return {count} numbers (mean, low, high), got {type(got).__name__}: {got!r}"
    if len(values) != count:
        return f"return {count} numbers (mean, low, high), got {len(values)}: {got!r}"
    return values


# ------------------------------------------------------------------------------ the paired interval
def _sd(values: Sequence[float], ddof: int = 1) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - ddof))


def _paired_variants(a: Sequence[float], b: Sequence[float], confidence: float) -> list[tuple[str, float]]:
    """The half-widths that the usual wrong intervals give on this case, each with the mistake it shows."""
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    n, s = len(diffs), _sd(diffs)
    t = float(scipy_stats.t.ppf((1 + confidence) / 2, n - 1))
    unpaired = math.sqrt((_sd(a) ** 2 + _sd(b) ** 2) / n)
    return [
        ("the population standard deviation (divided by n): the sample sd divides by n - 1",
         t * _sd(diffs, ddof=0) / math.sqrt(n)),
        (f"a normal quantile (z = {scipy_stats.norm.ppf((1 + confidence) / 2):.3f}): with n trials use Student's t "
         "with n - 1 degrees of freedom", float(scipy_stats.norm.ppf((1 + confidence) / 2)) * s / math.sqrt(n)),
        ("Student's t with n degrees of freedom: the sd of n differences has n - 1",
         float(scipy_stats.t.ppf((1 + confidence) / 2, n)) * s / math.sqrt(n)),
        (f"a one-sided quantile: a two-sided {confidence:.0%} interval takes t at (1 + {confidence}) / 2",
         float(scipy_stats.t.ppf(confidence, n - 1)) * s / math.sqrt(n)),
        ("the sd of the differences instead of their standard error s / sqrt(n)", t * s),
        ("s / n instead of the standard error s / sqrt(n)", t * s / n),
        ("the two methods as independent samples (their own sds): the trials are paired, so take the sd of the "
         "per-trial differences", t * unpaired),
        ("the two methods as independent samples (their own sds, 2n - 2 degrees of freedom): the trials are "
         "paired, so take the sd of the per-trial differences",
         float(scipy_stats.t.ppf((1 + confidence) / 2, 2 * n - 2)) * unpaired),
        ("the two methods as independent samples (a z interval on their own sds): the trials are paired",
         float(scipy_stats.norm.ppf((1 + confidence) / 2)) * unpaired),
        ("the level 0.95 whatever `confidence` says: use the confidence argument",
         float(scipy_stats.t.ppf(0.975, n - 1)) * s / math.sqrt(n)),
    ]


def _paired_hint(a: Sequence[float], b: Sequence[float], confidence: float, got: list[float], mean: float,
                 half: float) -> str:
    got_mean, low, high = got
    if mean and _close(got_mean, -mean):
        return " (the sign is flipped: the difference is a minus b, the first argument minus the second)"
    if not _close(got_mean, mean):
        if _close(got_mean, sum(map(float, a)) / len(a)) or _close(got_mean, sum(map(float, b)) / len(b)):
            return " (that is one method's mean accuracy: the mean is over the per-trial differences a[t] - b[t])"
        return ""
    if not _close((low + high) / 2, mean):
        return " (the interval is not centred on the mean difference)"
    got_half = (high - low) / 2
    for mistake, variant in _paired_variants(a, b, confidence):
        if not _close(variant, half, 1e-4) and _close(got_half, variant, 1e-4):
            return f" (your half-width matches {mistake})"
    return ""


def _paired_case(a: Sequence[float], b: Sequence[float], confidence: float) -> Callable[[PairedFunction], str | None]:
    def run(fn: PairedFunction) -> str | None:
        mean, low, high = stats.mean_confidence_interval(stats.paired_differences(a, b), confidence)
        a_given, b_given = list(a), list(b)
        got = call_learner(fn, a_given, b_given, confidence)
        if a_given != list(a) or b_given != list(b):
            return "your function changed the lists it was given; leave its inputs as they are"
        values = _numbers(got, 3)
        if isinstance(values, str):
            return values
        shown = f"a = {list(a)}, b = {list(b)}, confidence {confidence}"
        if math.isnan(low):  # one trial: no spread, no interval
            if not _close(values[0], mean):
                return f"with {shown} the mean difference is {values[0]:.6g}, expected {mean:.6g}"
            if math.isfinite(values[1]) or math.isfinite(values[2]):
                return (f"one trial has no spread, so no interval: with {shown} return nan for low and high (or raise "
                        f"ValueError), got [{values[1]:.6g}, {values[2]:.6g}]")
            return None
        if all(_close(g, e) for g, e in zip(values, (mean, low, high))):
            return None
        hint = _paired_hint(a, b, confidence, values, mean, (high - low) / 2)
        return (f"with {shown} you return mean {values[0]:.6g}, interval [{values[1]:.6g}, {values[2]:.6g}]; expected "
                f"mean {mean:.6g}, interval [{low:.6g}, {high:.6g}]{hint}")

    return run


def _one_trial(fn: PairedFunction) -> str | None:
    """One trial: (mean, nan, nan) or a ValueError are both right."""
    try:
        return _paired_case([71.5], [69.0], 0.95)(fn)
    except ValueError:
        return None


def check_paired_interval(fn: PairedFunction) -> int:
    """Grade the learner's paired comparison ``fn(a, b, confidence) -> (mean, low, high)``: ``a`` and ``b`` are two
    methods' accuracies, one per trial in the same trial order; the answer is the mean of the differences
    ``a[t] - b[t]`` and its two-sided Student-t interval ``mean +- t_{(1+c)/2, n-1} s / sqrt(n)`` (``s`` the
    sample sd of the differences), as :func:`tavaal_nb.analysis.stats.mean_confidence_interval` of
    :func:`~tavaal_nb.analysis.stats.paired_differences` gives it. Lists of unequal length are a ValueError; one
    trial gives ``(difference, nan, nan)`` or a ValueError. The package's functions may not be handed in or called.
    """
    cases = [
        Case("five trials that share most of their accuracy (the paired case)",
             _paired_case([61.2, 55.0, 58.4, 63.9, 52.7], [59.8, 54.1, 56.2, 63.0, 50.9], 0.95)),
        Case("b ahead in three trials", _paired_case([70.1, 64.3, 66.0], [71.9, 66.8, 66.4], 0.95)),
        Case("two trials (Student's t with 1 degree of freedom)", _paired_case([80.0, 74.0], [77.5, 73.0], 0.95)),
        Case("four trials at 90 %", _paired_case([55.2, 61.7, 58.3, 49.9], [53.0, 60.1, 58.9, 46.3], 0.90)),
        Case("ten trials at 99 %, whole-number accuracies",
             _paired_case([70, 72, 68, 75, 71, 69, 74, 73, 70, 72], [69, 70, 68, 72, 72, 66, 73, 70, 69, 70], 0.99)),
        Case("every trial the same difference (no spread)", _paired_case([60.5, 70.5, 65.5], [58.0, 68.0, 63.0], 0.95)),
        Case("one trial: no interval", _one_trial),
        Case("lists of unequal length", lambda fn: expect_value_error(fn, [60.0, 61.0, 62.0], [59.0, 60.0], 0.95,
                                                                      what="lists of unequal length")),
    ]
    return run_cases("the paired difference and its t interval", fn, cases,
                     "tavaal_nb.analysis.stats.mean_confidence_interval(paired_differences(a, b))",
                     forbidden=_PAIRED_REFERENCES)


# ------------------------------------------------------------------------------ the area under the curve
def _trapezoid(x: Sequence[float], y: Sequence[float]) -> float:
    return sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(x, x[1:], y, y[1:]))


def _curve_variants(sizes: Sequence[float], accuracies: Sequence[float]) -> list[tuple[str, float]]:
    """What the usual wrong AULCs give on this curve, each with the mistake it shows."""
    n, a = [float(v) for v in sizes], [float(v) for v in accuracies]
    span, area, steps = n[-1] - n[0], _trapezoid(n, a), list(range(len(a)))
    variants = [
        ("the trapezoid over the cycles' indices 0, 1, 2, ...: integrate over the labeled-set sizes",
         _trapezoid(steps, a) / (len(a) - 1)),
        ("the unnormalised trapezoid over the cycles' indices: integrate over the labeled-set sizes, then divide by "
         "their range", _trapezoid(steps, a)),
        ("the area not normalised: divide it by the size range, last size minus first", area),
        ("the area divided by the last size: divide by the range, last size minus first", area / n[-1]),
        ("the area divided by the number of points: divide by the size range, last size minus first", area / len(a)),
        ("the plain mean of the accuracies: weight each stretch by its width in labels (the trapezoid rule)",
         sum(a) / len(a)),
        ("a left Riemann sum: the trapezoid averages both ends of each stretch",
         sum((n1 - n0) * a0 for n0, n1, a0 in zip(n, n[1:], a)) / span),
        ("a right Riemann sum: the trapezoid averages both ends of each stretch",
         sum((n1 - n0) * a1 for n0, n1, a1 in zip(n, n[1:], a[1:])) / span),
        ("a curve from 0 labels: the curve runs from the first measured size to the last",
         (area + n[0] * a[0]) / n[-1]),
        ("the sign flipped", -area / span),
        ("a fraction: accuracies are percentages, and so is their mean", area / span / 100),
    ]
    if a[-1] != a[0]:
        variants.append(("the sizes integrated over the accuracies: numpy's trapezoid takes (y, x), accuracies first",
                         _trapezoid(a, n) / (a[-1] - a[0])))
    variants.append(("the sizes integrated over the accuracies: numpy's trapezoid takes (y, x), accuracies first",
                     _trapezoid(a, n)))
    return variants


def _curve_case(sizes: Sequence[float], accuracies: Sequence[float]) -> Callable[[CurveFunction], str | None]:
    def run(fn: CurveFunction) -> str | None:
        expected = stats.area_under_learning_curve(sizes, accuracies)
        sizes_given, accuracies_given = list(sizes), list(accuracies)
        got = call_learner(fn, sizes_given, accuracies_given)
        if sizes_given != list(sizes) or accuracies_given != list(accuracies):
            return "your function changed the lists it was given; leave its inputs as they are"
        try:
            value = float(got)
        except (TypeError, ValueError):
            return f"return one number (a float), got {type(got).__name__}: {got!r}"
        if _close(value, expected):
            return None
        hint = ""
        for mistake, variant in _curve_variants(sizes, accuracies):
            if not _close(variant, expected) and _close(value, variant):
                hint = f" (your value matches {mistake})"
                break
        return (f"the AULC of sizes {list(sizes)}, accuracies {list(accuracies)} is {value:.6g}, "
                f"expected {expected:.6g}{hint}")

    return run


def check_aulc(fn: CurveFunction) -> int:
    """Grade the learner's area under a learning curve ``fn(sizes, accuracies) -> float``: the trapezoid rule over
    the labeled-set sizes, from the first size to the last, divided by that range (the curve's mean accuracy in
    percent), as :func:`tavaal_nb.analysis.stats.area_under_learning_curve` gives it. Fewer than two points or
    lists of unequal length are a ValueError. The package's functions may not be handed in or called."""
    cases = [
        Case("five cycles 200 labels apart", _curve_case([200, 400, 600, 800, 1000], [52.1, 60.3, 64.8, 69.0, 70.2])),
        Case("a flat curve at 80 % (its AULC is 80)", _curve_case([1000, 2000, 3000], [80.0, 80.0, 80.0])),
        Case("sizes that double each cycle (uneven steps)",
             _curve_case([100, 200, 400, 800, 1600], [40.0, 55.0, 63.0, 70.0, 74.0])),
        Case("two points", _curve_case([20, 60], [30.0, 50.0])),
        Case("a curve that dips, sizes as floats", _curve_case([50.0, 150.0, 175.0, 400.0], [61.0, 58.5, 66.0, 64.0])),
        Case("one point has no area", lambda fn: expect_value_error(fn, [200], [55.0], what="a single point")),
        Case("lists of unequal length", lambda fn: expect_value_error(fn, [200, 400, 600], [55.0, 60.0],
                                                                      what="lists of unequal length")),
    ]
    return run_cases("the area under the learning curve", fn, cases,
                     "tavaal_nb.analysis.stats.area_under_learning_curve", forbidden=_CURVE_REFERENCES)


# ------------------------------------------------------------------------------ the labels to reach a target
def _target_variants(sizes: Sequence[float], accuracies: Sequence[float], target: float) -> list[tuple[str, Any]]:
    """What the usual wrong answers give on this curve, each with the mistake it shows."""
    points = list(zip(sizes, accuracies))
    reached = [k for k, (_, a) in enumerate(points) if a >= target]
    variants: list[tuple[str, Any]] = [
        ("a strict comparison: an accuracy equal to the target reaches it (>=)",
         next((n for n, a in points if a > target), None)),
        ("a position in the list: return the labeled-set size itself", reached[0] if reached else None),
        ("a position counted from 1: return the labeled-set size itself", reached[0] + 1 if reached else None),
        ("the first size from which the curve stays at or above the target: the first size that reaches it counts",
         next((sizes[k] for k in range(len(points)) if all(a >= target for _, a in points[k:])), None)),
        ("the last size at or above the target: the answer is the first",
         sizes[reached[-1]] if reached else None),
        ("the last size for a curve that never reaches the target: return None", sizes[-1]),
        ("the size before the first that reaches the target", sizes[reached[0] - 1] if reached and reached[0] else None),
    ]
    if reached and reached[0] > 0:
        k = reached[0]
        (n0, a0), (n1, a1) = points[k - 1], points[k]
        variants.append(("a size interpolated between two cycles: the loop only trained at the measured sizes, "
                         "so return one of them", n0 + (target - a0) * (n1 - n0) / (a1 - a0)))
    return variants


def _target_case(sizes: Sequence[float], accuracies: Sequence[float], target: float
                 ) -> Callable[[TargetFunction], str | None]:
    def run(fn: TargetFunction) -> str | None:
        expected = stats.labels_to_reach(sizes, accuracies, target)
        sizes_given, accuracies_given = list(sizes), list(accuracies)
        got = call_learner(fn, sizes_given, accuracies_given, target)
        if sizes_given != list(sizes) or accuracies_given != list(accuracies):
            return "your function changed the lists it was given; leave its inputs as they are"
        shown = f"sizes {list(sizes)}, accuracies {list(accuracies)}, target {target}"
        if expected is None:
            if got is None:
                return None
            hint = next((f" ({mistake})" for mistake, variant in _target_variants(sizes, accuracies, target)
                         if variant is not None and got == variant), "")
            return f"with {shown} the target is never reached: return None, got {got!r}{hint}"
        if got is None:
            return f"with {shown} you return None, expected {expected!r} (the first size whose accuracy is >= the target)"
        try:
            value = float(got)
        except (TypeError, ValueError):
            return f"return a labeled-set size (a number) or None, got {type(got).__name__}: {got!r}"
        if value == float(expected):
            return None
        hint = next((f" (your value matches {mistake})" for mistake, variant in
                     _target_variants(sizes, accuracies, target)
                     if variant is not None and variant != expected and _close(value, float(variant))), "")
        return f"with {shown} you return {got!r}, expected {expected!r}{hint}"

    return run


def check_labels_to_reach(fn: TargetFunction) -> int:
    """Grade the learner's labels to a target ``fn(sizes, accuracies, target) -> size or None``: the first
    labeled-set size whose accuracy is at least ``target`` (percent), None when no size reaches it, no
    interpolation between cycles, as :func:`tavaal_nb.analysis.stats.labels_to_reach` gives it. Lists of unequal
    length and a target outside [0, 100] are a ValueError. The package's functions may not be handed in or called."""
    cases = [
        Case("five cycles, reached at the third", _target_case([200, 400, 600, 800, 1000], [52.1, 60.3, 64.8, 69.0, 70.2],
                                                               64.0)),
        Case("an accuracy exactly at the target", _target_case([200, 400, 600, 800], [52.5, 60.0, 63.5, 66.0], 60.0)),
        Case("never reached", _target_case([200, 400, 600], [40.0, 45.5, 47.0], 50.0)),
        Case("reached, then a dip below", _target_case([100, 200, 300, 400], [50.0, 66.0, 62.0, 67.0], 65.0)),
        Case("reached by the first point", _target_case([200, 400, 600], [71.0, 74.0, 76.5], 70.0)),
        Case("sizes that double (uneven steps)", _target_case([100, 300, 700, 1500], [40.0, 50.0, 60.0, 64.0], 55.0)),
        Case("lists of unequal length", lambda fn: expect_value_error(fn, [200, 400, 600], [55.0, 60.0], 50.0,
                                                                      what="lists of unequal length")),
        Case("a target above 100 %", lambda fn: expect_value_error(fn, [200, 400], [55.0, 60.0], 150.0,
                                                                   what="a target of 150 (accuracies are percentages)")),
    ]
    return run_cases("the labels needed to reach a target", fn, cases, "tavaal_nb.analysis.stats.labels_to_reach",
                     forbidden=_TARGET_REFERENCES)


_TARGET_REFERENCES = [(stats, name) for name in ("labels_to_reach", "per_trial_labels_to_reach")]
_PAIRED_REFERENCES = [(stats, name) for name in ("paired_differences", "mean_confidence_interval", "compare_paired",
                                                 "compare_per_trial", "summarize_comparison", "mean_std")]
_CURVE_REFERENCES = [(stats, name) for name in ("area_under_learning_curve", "per_trial_aulc")]
"""The package's own answers, which the learner's function may neither be nor call."""
