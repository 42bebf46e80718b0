"""The numbers behind every figure and table of results: a mean and its spread (:func:`mean_std`),
learning curves pooled over trials (:func:`learning_curve_stats`), class-count entropies by labeled-set size
(:func:`entropy_by_size`); comparing methods honestly: paired per-trial differences, their confidence interval,
a sign test, and how many trials a gap needs; and the summary numbers a practitioner reads off a learning curve
(the area under it, the labels needed to reach a target accuracy), per trial and paired over trials.

Every method of a trial starts from the same initial labeled set (the loop and the sweep derive it from
``(seed, dataset, trial)``), so two methods are compared trial by trial: the difference
``acc_a[t] - acc_b[t]`` removes what the trials share (the initial set, the test set), and a gap smaller
than the spread of either method's curve can still be clear in the differences. With one trial there is
no spread at all, and the functions here say "1 trial" rather than print a misleading "+- 0.00".

The intervals here are for one comparison read alone. Many read at once (a table, a view) need correcting for
their number: :mod:`tavaal_nb.analysis.multiplicity` does that, with the AULC as the primary summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from scipy import stats as _scipy_stats

from tavaal_nb.metrics import ENTROPY_READINGS, class_entropy
from tavaal_nb.results import Results

Summary = TypeVar("Summary")  # what a per-trial summary gives: an AULC, labels to reach

__all__ = [
    "mean_std", "learning_curve_stats", "entropy_by_size",
    "PairedComparison", "per_trial_accuracy", "paired_differences", "mean_confidence_interval", "sign_test",
    "trials_needed", "paired_accuracies", "compare_paired", "format_mean_spread", "summarize_comparison",
    "area_under_learning_curve", "labels_to_reach", "per_trial_aulc", "per_trial_labels_to_reach",
    "PairedSummaryComparison", "compare_per_trial",
]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1 in the denominator; 0 for a single trial)."""
    values = [v for v in values if v is not None]
    if not values:
        return float("nan"), float("nan")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def learning_curve_stats(results: Sequence[Results], field: str = "test_accuracy") -> dict[str, dict[str, list]]:
    """Per method, pooled over every results object: sizes, per-trial values, mean and std of the
    records' ``field`` (``plain_test_accuracy``: Fig. 4's plain retraining, where recorded)."""
    pooled: dict[str, dict[int, list[float]]] = {}
    for result in results:
        for method, curve in result.curves(field).items():
            target = pooled.setdefault(method, {})
            for size, values in zip(curve["labeled_size"], curve["accuracy"]):
                target.setdefault(size, []).extend(values)
    stats: dict[str, dict[str, list]] = {}
    for method, by_size in pooled.items():
        sizes = sorted(by_size)
        pairs = [mean_std(by_size[s]) for s in sizes]
        stats[method] = {
            "labeled_size": sizes,
            "values": [by_size[s] for s in sizes],
            "mean": [p[0] for p in pairs],
            "std": [p[1] for p in pairs],
        }
    return stats


def entropy_by_size(results: Results, method: str, reading: str = "selected") -> dict[int, list[float]]:
    """Class-count entropies of ``method``'s runs, one per trial, by labeled-set size.

    ``reading="selected"``: the entropy of each query's selection, keyed by the labeled-set size after
    the query; ``reading="labeled"``: the entropy of the labeled set each cycle trained on, keyed by its
    size (cycle 0 is the initial random set).
    """
    if reading not in ENTROPY_READINGS:
        raise ValueError(f"reading must be one of {ENTROPY_READINGS}, got {reading!r}")
    if method not in results.methods:
        raise ValueError(f"no runs of method {method!r}; the results hold {', '.join(results.methods)}")
    by_size: dict[int, list[float]] = {}
    for run in results.runs:
        if run["method"] != method:
            continue
        for record in run["cycles"]:
            if reading == "labeled":
                size, counts = record["labeled_size"], record["labeled_class_counts"]
            elif record.get("selected_class_counts"):
                size, counts = record["labeled_size"] + len(record["selected_indices"]), record["selected_class_counts"]
            else:
                continue
            by_size.setdefault(size, []).append(class_entropy(counts))
    return dict(sorted(by_size.items()))


def _finite(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def trial_count(n: int) -> str:
    """``"1 trial"``, ``"3 trials"``."""
    return f"{n} trial" + ("" if n == 1 else "s")


def format_mean_spread(values: Sequence[float | None], digits: int = 2, count: bool = True) -> str:
    """``"81.20 +- 0.50 (5 trials)"``; ``"81.20 (1 trial)"`` when there is nothing to spread over.

    Missing values (None, NaN) are left out and not counted. ``count=False`` drops the parenthesis
    (``"81.20 +- 0.50"``, ``"81.20"``, ``"n/a"``) for tables that give the number of trials elsewhere.
    """
    clean = _finite(values)
    suffix = f" ({trial_count(len(clean))})" if count else ""
    if not clean:
        return "n/a" + suffix
    mean = sum(clean) / len(clean)
    if len(clean) == 1:
        return f"{mean:.{digits}f}{suffix}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in clean) / (len(clean) - 1))
    return f"{mean:.{digits}f} +- {sd:.{digits}f}{suffix}"


def per_trial_accuracy(results: Sequence[Results] | Results, method: str,
                       field: str = "test_accuracy") -> dict[int, dict[int, float]]:
    """``{trial: {labeled_size: accuracy}}`` of one method, gathered over results files (a sweep's too).

    ``field`` may be ``plain_test_accuracy`` (Fig. 4's retrained task learner) where runs recorded it.
    A trial found twice (the same run loaded from two files) is an error: it would count twice.
    """
    if isinstance(results, Results):
        results = [results]
    out: dict[int, dict[int, float]] = {}
    for result in results:
        for run in result.runs:
            if run["method"] != method:
                continue
            if run["trial"] in out:
                raise ValueError(f"{method} trial {run['trial']} appears in more than one results file")
            out[run["trial"]] = {record["labeled_size"]: record.get(field) for record in run["cycles"]}
    return out


def paired_differences(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """``a[t] - b[t]`` for each trial ``t`` (both sequences in trial order, equally long)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples must be equally long, got {len(a)} and {len(b)}")
    return [float(x) - float(y) for x, y in zip(a, b)]


def mean_confidence_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval ``(mean, low, high)``; the interval is NaN for fewer than 2 values.

    ``mean +- t_{(1+c)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard deviation.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    clean = _finite(values)
    n = len(clean)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(clean) / n
    if n == 1:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in clean) / (n - 1))
    half = float(_scipy_stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def sign_test(differences: Sequence[float]) -> float:
    """Two-sided exact sign test: the probability, if positive and negative differences were equally
    likely, of a split at least as uneven as the one seen. Zero differences are dropped; 1.0 if none remain."""
    clean = _finite(differences)
    positive = sum(d > 0 for d in clean)
    negative = sum(d < 0 for d in clean)
    n = positive + negative
    if n == 0:
        return 1.0
    k = min(positive, negative)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def trials_needed(gap: float, sd: float, confidence: float = 0.95, power: float = 0.8, limit: int = 10_000) -> int:
    """Smallest number of paired trials for a two-sided paired t-test at level ``1 - confidence`` to detect a
    true mean difference ``gap`` with probability ``power``, when the differences have standard deviation ``sd``.

    Uses the noncentral t distribution (effect size ``d = |gap| / sd``; e.g. d = 1 needs 10 trials, d = 0.5
    needs 34 at 95 % / 80 %). Returns ``limit`` if even that many would not do.
    """
    if sd < 0 or not math.isfinite(sd):
        raise ValueError(f"sd must be a finite number >= 0, got {sd}")
    if not 0 < power < 1:
        raise ValueError(f"power must lie strictly between 0 and 1, got {power}")
    if gap == 0:
        return limit
    if sd == 0:
        return 2
    d = abs(gap) / sd
    # the t-test needs at least the z-test's n, ((z_{(1+c)/2} + z_power) / d)^2: start the search a little below it
    normal_n = ((float(_scipy_stats.norm.ppf((1 + confidence) / 2)) + float(_scipy_stats.norm.ppf(power))) / d) ** 2
    if normal_n > limit:
        return limit
    for n in range(max(2, math.floor(normal_n) - 2), limit + 1):
        df = n - 1
        critical = float(_scipy_stats.t.ppf((1 + confidence) / 2, df))
        shift = d * math.sqrt(n)
        achieved = (float(_scipy_stats.nct.sf(critical, df, shift)) + float(_scipy_stats.nct.cdf(-critical, df, shift)))
        if achieved >= power:
            return n
    return limit


@dataclass(frozen=True)
class PairedComparison:
    """Method ``a`` minus method ``b`` at one labeled-set size, over the trials both ran."""

    labeled_size: int
    trials: int
    mean_difference: float
    low: float
    high: float
    sign_test_p: float
    trials_needed: int | None

    @property
    def verdict(self) -> str:
        return _verdict(self.trials, self.low, self.high)


def _verdict(trials: int, low: float, high: float) -> str:
    if trials < 2:
        return f"{trial_count(trials)}: no interval"
    if low > 0:
        return "a ahead (interval above 0)"
    if high < 0:
        return "b ahead (interval below 0)"
    return "no clear difference (interval contains 0)"


def _paired_statistics(diffs: Sequence[float], confidence: float) -> tuple[float, float, float, float, int | None]:
    """``(mean, low, high, sign_test_p, trials_needed)`` of paired differences (``trials_needed`` None below 2)."""
    mean, low, high = mean_confidence_interval(diffs, confidence)
    needed = None
    if len(diffs) >= 2:
        needed = trials_needed(mean, mean_std(diffs)[1], confidence)
    return mean, low, high, sign_test(diffs), needed


def paired_accuracies(results: Sequence[Results] | Results, method_a: str, method_b: str,
                      field: str = "test_accuracy") -> tuple[dict[int, dict[int, float]], dict[int, dict[int, float]],
                                                            list[int], list[int]]:
    """``(a, b, trials, sizes)``: both methods' :func:`per_trial_accuracy`, the trials both ran and the
    labeled-set sizes both reached in every one of those trials (what a paired comparison pairs)."""
    a, b = per_trial_accuracy(results, method_a, field), per_trial_accuracy(results, method_b, field)
    for name, found in ((method_a, a), (method_b, b)):
        if not found:
            raise ValueError(f"no runs of method {name!r} in these results")
    trials = sorted(set(a) & set(b))
    if not trials:
        raise ValueError(f"{method_a} and {method_b} share no trial: nothing to pair")
    sizes = sorted(set.intersection(*(set(a[t]) & set(b[t]) for t in trials)))
    return a, b, trials, sizes


def compare_paired(results: Sequence[Results] | Results, method_a: str, method_b: str, confidence: float = 0.95,
                   field: str = "test_accuracy") -> list[PairedComparison]:
    """One :class:`PairedComparison` per labeled-set size that both methods reached in the same trials.

    Each interval is a plain (uncorrected) ``confidence`` interval: right for one comparison looked at alone.
    For several at once (a table, a view), :func:`tavaal_nb.analysis.multiplicity.comparison_family` gives
    simultaneous intervals and Holm-adjusted p values, with the AULC first."""
    a, b, trials, sizes = paired_accuracies(results, method_a, method_b, field)
    rows = []
    for size in sizes:
        pairs = [(a[t][size], b[t][size]) for t in trials
                 if a[t][size] is not None and b[t][size] is not None]
        diffs = paired_differences([x for x, _ in pairs], [y for _, y in pairs])
        rows.append(PairedComparison(size, len(diffs), *_paired_statistics(diffs, confidence)))
    return rows


def summarize_comparison(results: Sequence[Results] | Results, method_a: str, method_b: str, at: int | None = None,
                         confidence: float = 0.95, field: str = "test_accuracy") -> str:
    """One plain sentence on ``method_a`` minus ``method_b`` at ``at`` labeled images (default: the largest size
    both reached), computed from the paired trials, e.g. ``"At 1,000 labeled, tavaal minus random: +0.4 points,
    95 % interval [-1.2, +2.0] over 3 trials (sign test p = 0.25): no clear difference; a gap this size would
    need about 40 paired trials to show."`` With one trial it says that one trial cannot tell them apart.

    The interval is uncorrected, right for this one comparison read alone; for several read together (and the
    AULC first) see :func:`tavaal_nb.analysis.multiplicity.summarize_family`.

    Raises ``ValueError`` when a method is missing, the two share no trial, or ``at`` is not a size both reached.
    """
    rows = compare_paired(results, method_a, method_b, confidence, field)
    if not rows:
        raise ValueError(f"{method_a} and {method_b} reached no labeled-set size in the same trials")
    sizes = [row.labeled_size for row in rows]
    if at is None:
        row = rows[-1]
    elif at in sizes:
        row = rows[sizes.index(at)]
    else:
        raise ValueError(f"no paired results at {at} labeled images; valid sizes: {', '.join(map(str, sizes))}")
    head = f"At {row.labeled_size:,} labeled, {method_a} minus {method_b}: {row.mean_difference:+.1f} points"
    if row.trials == 0:
        return f"At {row.labeled_size:,} labeled, {method_a} and {method_b} have no accuracy recorded in the same trial."
    if row.trials == 1:
        return head + " in 1 trial; one trial gives no interval, so it cannot tell the two methods apart."
    head += (f", {round(confidence * 100):d} % interval [{row.low:+.1f}, {row.high:+.1f}] over "
             f"{trial_count(row.trials)} (sign test p = {row.sign_test_p:.2f}): ")
    if row.low > 0:
        return head + f"{method_a} ahead."
    if row.high < 0:
        return head + f"{method_b} ahead."
    tail = "no clear difference"
    if row.trials_needed is not None and row.trials_needed > row.trials and row.mean_difference != 0:
        tail += f"; a true gap of this size would need about {row.trials_needed} paired trials to show"
    return head + tail + "."


def _checked_curve(sizes: Sequence[float], accuracies: Sequence[float | None]) -> tuple[list[float], list[float]]:
    """The curve as two float lists, or one ValueError saying what is wrong with it."""
    sizes, accuracies = list(sizes), list(accuracies)
    if len(sizes) != len(accuracies):
        raise ValueError(f"sizes and accuracies must be equally long, got {len(sizes)} and {len(accuracies)}")
    if not sizes:
        raise ValueError("a learning curve needs at least one (size, accuracy) point, got none")
    if any(a is None or not math.isfinite(float(a)) for a in accuracies):
        raise ValueError(f"accuracies must be finite numbers, got {accuracies}")
    finite = [float(a) for a in accuracies if a is not None]
    sizes = [float(v) for v in sizes]
    if any(later <= earlier for earlier, later in zip(sizes, sizes[1:])):
        raise ValueError(f"labeled-set sizes must be strictly increasing, got {sizes}")
    if any(not 0.0 <= a <= 100.0 for a in finite):
        raise ValueError(f"accuracies are percentages and must lie in [0, 100], got {finite}")
    return sizes, finite


def area_under_learning_curve(sizes: Sequence[float], accuracies: Sequence[float], normalise: bool = True) -> float:
    """The area under a learning curve (AULC): the trapezoid rule over the labeled-set size,
    ``sum_i (n_{i+1} - n_i) (a_i + a_{i+1}) / 2``.

    Convention: the curve runs from the first measured size to the last (not from 0 labels) and is a straight
    line between two cycles. With ``normalise=True`` (the default) the area is divided by the size range
    ``n_last - n_first``, so it is the curve's *mean accuracy* over that range, in percent like the accuracies:
    a curve at 80 throughout scores 80. Two AULCs are comparable only over the same sizes; the unnormalised area
    (percent x labels) grows with the range. Accuracies are percentages (as the package records them), sizes
    strictly increasing; at least two points are needed (one point has no area).
    """
    sizes, accuracies = _checked_curve(sizes, accuracies)
    if len(sizes) < 2:
        raise ValueError(f"the area under a learning curve needs at least two sizes, got {len(sizes)}")
    area = sum((n1 - n0) * (a0 + a1) / 2 for n0, n1, a0, a1 in zip(sizes, sizes[1:], accuracies, accuracies[1:]))
    return area / (sizes[-1] - sizes[0]) if normalise else area


def labels_to_reach(sizes: Sequence[float], accuracies: Sequence[float], target: float) -> float | None:
    """The first labeled-set size whose accuracy reaches ``target`` (``>=``, in percent), or None when no
    measured size does.

    No interpolation between cycles: the loop only ever trained at the measured sizes, so the answer is a
    labeling budget that was actually tried ("within this many labels"), coarse by one query's budget. A
    straight line between two cycles would report sizes never trained at, on a curve that is not straight.
    A curve that reaches the target and then dips below it still counts as having reached it at the first size.
    """
    if target is None or not math.isfinite(float(target)) or not 0.0 <= float(target) <= 100.0:
        raise ValueError(f"target is an accuracy in percent and must lie in [0, 100], got {target}")
    _, accuracies = _checked_curve(sizes, accuracies)
    for size, accuracy in zip(sizes, accuracies):
        if accuracy >= target:
            return size  # as given (an int for the package's results)
    return None


def _per_trial(results: Sequence[Results] | Results, method: str, field: str,
               summary: Callable[[list[int], list[float]], Summary]) -> dict[int, Summary]:
    curves = per_trial_accuracy(results, method, field)
    if not curves:
        raise ValueError(f"no runs of method {method!r} in these results")
    out: dict[int, Summary] = {}
    for trial in sorted(curves):
        sizes = sorted(curves[trial])
        try:
            out[trial] = summary(sizes, [curves[trial][n] for n in sizes])
        except ValueError as error:
            raise ValueError(f"{method} trial {trial}: {error}") from None
    return out


def per_trial_aulc(results: Sequence[Results] | Results, method: str, normalise: bool = True,
                   field: str = "test_accuracy") -> dict[int, float]:
    """``{trial: area_under_learning_curve}`` of one method over the sizes each trial recorded."""
    return _per_trial(results, method, field, lambda n, a: area_under_learning_curve(n, a, normalise))


def per_trial_labels_to_reach(results: Sequence[Results] | Results, method: str, target: float,
                              field: str = "test_accuracy") -> dict[int, float | None]:
    """``{trial: labels_to_reach}`` of one method (None for a trial that never reached ``target``)."""
    return _per_trial(results, method, field, lambda n, a: labels_to_reach(n, a, target))


@dataclass(frozen=True)
class PairedSummaryComparison:
    """Method ``a`` minus method ``b`` on one per-trial summary number (an AULC, the labels to reach a target),
    over the trials where both have one; ``unpaired`` counts the trials left out because one of the two had
    none (e.g. never reached the target)."""

    trials: int
    mean_difference: float
    low: float
    high: float
    sign_test_p: float
    trials_needed: int | None
    unpaired: int

    @property
    def verdict(self) -> str:
        return _verdict(self.trials, self.low, self.high)


def compare_per_trial(values_a: dict[int, float | None], values_b: dict[int, float | None],
                      confidence: float = 0.95) -> PairedSummaryComparison:
    """Pair two methods' per-trial summaries (from :func:`per_trial_aulc` or :func:`per_trial_labels_to_reach`)
    trial by trial: the mean of ``a - b``, its Student-t interval, the sign test and the trials a gap needs,
    as :func:`compare_paired` does at one labeled-set size.

    A trial where either value is None is left out and counted in ``unpaired``: a method that never reached the
    target in a trial has no number to subtract, and inventing one (the last size, say) would flatter it.
    """
    shared = sorted(set(values_a) & set(values_b))
    if not shared:
        raise ValueError(f"the two methods share no trial (trials {sorted(values_a)} and {sorted(values_b)}): "
                         "nothing to pair")
    paired = [(a, b) for t in shared if (a := values_a[t]) is not None and (b := values_b[t]) is not None]
    diffs = paired_differences([a for a, _ in paired], [b for _, b in paired])
    return PairedSummaryComparison(len(diffs), *_paired_statistics(diffs, confidence), len(shared) - len(paired))
