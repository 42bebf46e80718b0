"""Many comparisons read at once, as a reviewer reads them: the area under the learning curve first, intervals
corrected for the number of comparisons shown together, and a difference inside the noise called no difference.

Why. A 95 % interval excludes 0 with probability 5 % when there is no true difference. A view that shows ``m``
such intervals at once shows, with no true difference anywhere, about ``0.05 m`` "clear" differences: among the
150 comparisons of two pools, six methods and five sizes, about seven. So here:

- **Primary summary: the AULC.** Per trial, the area under the learning curve
  (:func:`~tavaal_nb.analysis.stats.area_under_learning_curve`, normalised: the curve's mean accuracy over the
  sizes both methods reached), paired trial by trial. The differences at each labeled size come after it, as
  secondary comparisons.
- **The family.** Every comparison shown for one pool (one experiment) at once: in
  :class:`~tavaal_nb.classroom.widgets.PairedComparisonView` the table's rows (the AULC and every size of the pair
  picked; or every pair of methods of the pool, when asked for), in
  :meth:`~tavaal_nb.analysis.evidence.Evidence.comparisons` one pool's block, in the report one pool's table.
  A comparison with fewer than 2 paired trials has no interval and no test and does not count.
- **Intervals: Bonferroni simultaneous paired t intervals.** Each of the ``m`` intervals of a family is the
  Student-t interval at level ``1 - (1 - c) / m``:
  ``dbar +- t_{1 - (1 - c) / (2m), n - 1} * s_d / sqrt(n)``, so that all ``m`` cover their true mean differences
  together with probability at least ``c``, whatever their dependence (Bonferroni's inequality). Holm-consistent
  intervals are not used: for a comparison Holm's procedure rejects they give only a one-sided bound at 0.
- **p values: Holm-adjusted** (Holm 1979, step-down). Sort the family's paired t-test p values
  ``p_(1) <= ... <= p_(m)``; the adjusted ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. Rejecting where
  ``p~ <= 1 - c`` controls the family-wise error rate at ``1 - c``, and rejects at least what Bonferroni does.
- **"Clear"** only when the simultaneous interval excludes 0 (then the Holm-adjusted p is below ``1 - c`` too)
  and, when a ``noise_floor`` is given (e.g. the replicate std of one method retrained on one labeled set), the
  difference's size ``|dbar|`` exceeds it: a difference inside the noise is reported as no difference. Holm may
  reject where the Bonferroni interval still contains 0; that is not called clear (the stricter rule applies).
  When the whole interval lies within ``+- noise_floor``, the verdict says the two are equal within the noise.

Planning: :func:`trials_for_half_width` gives the trials an interval of a given half-width needs, from a measured
sd of the per-trial differences (the power-based :func:`~tavaal_nb.analysis.stats.trials_needed` stays).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _scipy_stats

from tavaal_nb.analysis.stats import (
    area_under_learning_curve,
    mean_confidence_interval,
    mean_std,
    paired_accuracies,
    paired_differences,
    sign_test,
    trial_count,
    trials_needed,
)
from tavaal_nb.results import Results

__all__ = ["paired_t_p_value", "holm_adjusted", "simultaneous_confidence", "simultaneous_interval", "interval_label",
           "trials_for_half_width", "CorrectedComparison", "comparison_family", "check_margin", "margin_reading",
           "family_header", "describe", "summarize_family"]


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def _check_comparisons(comparisons: int) -> None:
    if isinstance(comparisons, bool) or not isinstance(comparisons, int) or comparisons < 1:
        raise ValueError(f"comparisons must be a whole number >= 1, got {comparisons!r}")


def _check_noise_floor(noise_floor: float | None) -> None:
    if noise_floor is not None and (not math.isfinite(noise_floor) or noise_floor < 0):
        raise ValueError(f"noise_floor must be None or a finite number >= 0 (points), got {noise_floor}")


def paired_t_p_value(differences: Sequence[float]) -> float:
    """Two-sided p value of the paired t-test of "no mean difference" on per-trial differences ``d``:
    ``t = dbar / (s_d / sqrt(n))``, ``p = 2 P(T_{n-1} >= |t|)``.

    NaN with fewer than 2 differences (no test). With ``s_d = 0``: 0.0 when ``dbar != 0`` (the same gap in every
    trial) and 1.0 when ``dbar = 0`` (identical results: nothing to reject).
    """
    clean = [float(d) for d in differences if d is not None and math.isfinite(float(d))]
    n = len(clean)
    if n < 2:
        return math.nan
    mean, sd = mean_std(clean)
    if sd == 0:
        return 0.0 if mean != 0 else 1.0
    t = mean / (sd / math.sqrt(n))
    return min(1.0, 2 * float(_scipy_stats.t.sf(abs(t), n - 1)))


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p values, in the order given.

    With the ``m`` finite p values sorted, ``p_(1) <= ... <= p_(m)``: ``p~_(i) = max_{j <= i} min(1, (m - j + 1)
    p_(j))``. A NaN (a comparison without a test) stays NaN and is not counted in ``m``.
    """
    values = [float(p) for p in p_values]
    bad = [p for p in values if not math.isnan(p) and not 0 <= p <= 1]
    if bad:
        raise ValueError(f"p values must lie in [0, 1] (or be NaN for no test), got {bad}")
    order = sorted((i for i, p in enumerate(values) if not math.isnan(p)), key=lambda i: values[i])
    m = len(order)
    adjusted = [math.nan] * len(values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def simultaneous_confidence(confidence: float, comparisons: int) -> float:
    """The level of each of ``comparisons`` Bonferroni simultaneous intervals: ``1 - (1 - confidence) / m``
    (e.g. 0.95 over 6 comparisons: 0.991667 each)."""
    _check_confidence(confidence)
    _check_comparisons(comparisons)
    return 1 - (1 - confidence) / comparisons


def simultaneous_interval(values: Sequence[float], confidence: float = 0.95,
                          comparisons: int = 1) -> tuple[float, float, float]:
    """``(mean, low, high)``: the Student-t interval of :func:`~tavaal_nb.analysis.stats.mean_confidence_interval`
    at the Bonferroni level :func:`simultaneous_confidence`, ``mean +- t_{1 - (1 - c) / (2m), n - 1} s / sqrt(n)``
    (``comparisons=1``: the plain interval)."""
    return mean_confidence_interval(values, simultaneous_confidence(confidence, comparisons))


def _percent(confidence: float) -> str:
    return f"{confidence * 100:.4g}"


def interval_label(confidence: float, comparisons: int) -> str:
    """What an interval is, on its face: ``"95 % simultaneous interval over 6 comparisons (Bonferroni)"``, or
    ``"95 % interval (1 comparison: no correction)"``."""
    _check_confidence(confidence)
    if comparisons <= 1:
        return f"{_percent(confidence)} % interval (1 comparison: no correction)"
    return f"{_percent(confidence)} % simultaneous interval over {comparisons} comparisons (Bonferroni)"


def trials_for_half_width(sd: float, half_width: float, confidence: float = 0.95, comparisons: int = 1,
                          limit: int = 10_000) -> int:
    """The fewest paired trials whose interval on the mean difference has half-width at most ``half_width``, when
    the per-trial differences (e.g. of AULC, in points) have standard deviation ``sd``: the smallest ``n >= 2`` with

        ``t_{q, n - 1} * sd / sqrt(n) <= half_width``,  ``q = 1 - (1 - confidence) / (2 * comparisons)``

    (``comparisons > 1``: a Bonferroni simultaneous interval within a family of that many). ``t`` depends on ``n``,
    so ``n`` is searched upward from the normal approximation ``(z_q sd / h)^2``, which ``t_q >= z_q`` makes a lower
    bound. E.g. sd 2, h 1: 18 trials (``t_{0.975, 17} = 2.110``, ``2.110 * 2 / sqrt(18) = 0.995``). Plan with the sd
    of a pilot's differences, not of one method's accuracies. Returns ``limit`` if even that many would not do.
    """
    if not math.isfinite(sd) or sd < 0:
        raise ValueError(f"sd must be a finite number >= 0, got {sd}")
    if not math.isfinite(half_width) or half_width <= 0:
        raise ValueError(f"half_width must be a finite number > 0, got {half_width}")
    q = (1 + simultaneous_confidence(confidence, comparisons)) / 2
    if sd == 0:
        return 2
    start = max(2, math.ceil((float(_scipy_stats.norm.ppf(q)) * sd / half_width) ** 2))
    for n in range(start, limit + 1):
        if float(_scipy_stats.t.ppf(q, n - 1)) * sd / math.sqrt(n) <= half_width:
            return n
    return limit


@dataclass(frozen=True)
class CorrectedComparison:
    """``method_a`` minus ``method_b`` on one summary (the AULC, ``labeled_size=None``) or at one labeled-set size,
    with its interval and p value corrected over a family of ``family_size`` comparisons.

    ``low``/``high``: the simultaneous interval (:func:`simultaneous_interval`); ``p_value``: the paired t-test's;
    ``p_holm``: Holm-adjusted over the family; ``sign_test_p``: the exact sign test, uncorrected;
    ``trials_needed``: paired trials a true gap of this size would need to show at this family's level (80 % power);
    ``unpaired``: trials left out because one of the two has no value there."""

    method_a: str
    method_b: str
    label: str
    labeled_size: int | None
    trials: int
    mean_difference: float
    low: float
    high: float
    p_value: float
    p_holm: float
    sign_test_p: float
    trials_needed: int | None
    family_size: int
    confidence: float
    noise_floor: float | None
    unpaired: int = 0

    @property
    def interval(self) -> str:
        """The interval's own description (:func:`interval_label`)."""
        return interval_label(self.confidence, self.family_size)

    @property
    def ahead(self) -> str | None:
        """The method clearly ahead, or None (see the module's rule for "clear")."""
        if self.trials < 2 or self.low <= 0 <= self.high:
            return None
        if self.noise_floor is not None and abs(self.mean_difference) <= self.noise_floor:
            return None
        return self.method_a if self.low > 0 else self.method_b

    @property
    def clear(self) -> bool:
        return self.ahead is not None

    @property
    def reading(self) -> str:
        """A few words for a table cell: ``"tavaal ahead"``, ``"no clear difference"``, ``"within the noise"``."""
        if self.trials < 2:
            return "no interval"
        if self.ahead is not None:
            return f"{self.ahead} ahead"
        floor = self.noise_floor
        if floor is not None and (not self.low <= 0 <= self.high or (-floor <= self.low and self.high <= floor)):
            return "within the noise"
        return "no clear difference"

    @property
    def verdict(self) -> str:
        """The reading, with the rule that gave it (the interval named in full by :attr:`interval`)."""
        if self.trials < 2:
            return f"{trial_count(self.trials)}: no interval"
        floor, interval = self.noise_floor, "simultaneous interval" if self.family_size > 1 else "interval"
        side = "above" if self.low > 0 else "below" if self.high < 0 else None
        if side is None:
            text = f"no clear difference (the {interval} contains 0)"
        elif floor is None:
            return f"{self.ahead} ahead (the {interval} lies {side} 0; no noise floor given)"
        elif abs(self.mean_difference) > floor:
            return (f"{self.ahead} ahead (the {interval} lies {side} 0 and |{self.mean_difference:+.2f}| "
                    f"exceeds the noise floor {floor:.2f})")
        else:
            text = (f"no clear difference (the {interval} lies {side} 0, but |{self.mean_difference:+.2f}| is "
                    f"within the noise floor {floor:.2f}: a difference inside the noise counts as none)")
        if floor is not None and -floor <= self.low and self.high <= floor:
            text += f"; the whole interval lies within +-{floor:.2f}: equal within the noise"
        return text


def _pair_differences(results: Sequence[Results] | Results, method_a: str, method_b: str, at: int | None,
                      field: str, sizes_too: bool = True) -> list[tuple[str, int | None, list[float], int]]:
    """``(label, size, differences, unpaired)``: the AULC over every shared size first (when there are two or
    more), then each size (only ``at``, when given; none when not ``sizes_too``)."""
    a, b, trials, sizes = paired_accuracies(results, method_a, method_b, field)
    if at is not None and at not in sizes:
        raise ValueError(f"no paired results at {at} labeled images; valid sizes: {', '.join(map(str, sizes))}")
    if not sizes_too and len(sizes) < 2:
        raise ValueError(f"{method_a} and {method_b} share {len(sizes)} labeled size{'s' if len(sizes) != 1 else ''}: "
                         "an AULC needs at least 2, so sizes=False leaves nothing to compare")
    rows: list[tuple[str, int | None, list[float], int]] = []
    if len(sizes) >= 2:
        whole = [t for t in trials if all(a[t][n] is not None and b[t][n] is not None for n in sizes)]
        diffs = [area_under_learning_curve(sizes, [a[t][n] for n in sizes])
                 - area_under_learning_curve(sizes, [b[t][n] for n in sizes]) for t in whole]
        rows.append((f"AULC {sizes[0]:,}-{sizes[-1]:,}", None, diffs, len(trials) - len(whole)))
    for size in (sizes if at is None else [at]) if sizes_too else []:
        paired = [t for t in trials if a[t][size] is not None and b[t][size] is not None]
        diffs = paired_differences([a[t][size] for t in paired], [b[t][size] for t in paired])
        rows.append((f"{size:,} labeled", size, diffs, len(trials) - len(paired)))
    return rows


def comparison_family(results: Sequence[Results] | Results, pairs: Sequence[tuple[str, str]],
                      confidence: float = 0.95, noise_floor: float | None = None, at: int | None = None,
                      field: str = "test_accuracy", sizes: bool = True) -> list[CorrectedComparison]:
    """Every comparison of ``pairs`` (``(method_a, method_b)``, each ``a - b``) as one family: for each pair in
    order, the AULC over the sizes both reached in every shared trial (primary; absent with a single size), then the
    difference at each size (only at ``at``, when given; none with ``sizes=False``: a family of AULCs alone, one
    per pair). Intervals are simultaneous over the family, p values Holm-adjusted over it, and "clear" follows the
    module's rule with ``noise_floor`` (points; None: no floor).

    ``results`` should hold one pool (one experiment): the family is what is passed in.
    """
    _check_confidence(confidence)
    _check_noise_floor(noise_floor)
    if not pairs:
        raise ValueError("comparison_family needs at least one (method_a, method_b) pair, got none")
    if at is not None and not sizes:
        raise ValueError(f"at={at} asks for one labeled size and sizes=False for none: give one of the two")
    for method_a, method_b in pairs:
        if method_a == method_b:
            raise ValueError(f"a comparison needs two different methods, got {method_a!r} twice")
    raw = [(a, b, *row) for a, b in pairs for row in _pair_differences(results, a, b, at, field, sizes)]
    tested = [len(diffs) >= 2 for *_, diffs, _ in raw]
    m = max(1, sum(tested))
    level = simultaneous_confidence(confidence, m)
    p_values = [paired_t_p_value(diffs) for *_, diffs, _ in raw]
    holm = holm_adjusted(p_values)
    rows = []
    for (a, b, label, size, diffs, unpaired), p, p_holm in zip(raw, p_values, holm):
        mean, low, high = mean_confidence_interval(diffs, level)
        needed = trials_needed(mean, mean_std(diffs)[1], level) if len(diffs) >= 2 else None
        rows.append(CorrectedComparison(a, b, label, size, len(diffs), mean, low, high, p, p_holm, sign_test(diffs),
                                        needed, m, confidence, noise_floor, unpaired))
    return rows


def family_header(rows: Sequence[CorrectedComparison]) -> str:
    """How many comparisons the family holds and how its intervals and p values are corrected, in one line."""
    if not rows:
        return "no comparison"
    tested = sum(row.trials >= 2 for row in rows)
    untested = len(rows) - tested
    if tested == 0:
        return (f"{len(rows)} comparison{'s' if len(rows) != 1 else ''}, each with fewer than 2 paired trials: "
                "no interval, no test, nothing to correct")
    head = f"{tested} comparison{'s' if tested != 1 else ''} in one family"
    if untested:
        head += f" (and {untested} with fewer than 2 paired trials: no interval)"
    floor = rows[0].noise_floor
    rule = "clear only if the interval excludes 0" + (f" and |difference| exceeds the noise floor {floor:.2f}"
                                                      if floor is not None else " (no noise floor given)")
    return f"{head}; every interval a {rows[0].interval}, p values Holm-adjusted over the same {tested}; {rule}"


def describe(row: CorrectedComparison, unit: str = "points") -> str:
    """One comparison in one sentence: ``"AULC 200-1,000 (mean accuracy over that range): +0.9 points, 95 %
    simultaneous interval over 6 comparisons (Bonferroni) [-1.2, +3.1], Holm-adjusted p = 0.52, 5 trials: no clear
    difference (the simultaneous interval contains 0)."``"""
    what = f"{row.label}{' (mean accuracy over that range)' if row.labeled_size is None else ''}"
    if row.trials == 0:
        return f"{what}: no value in the same trial for both."
    if row.trials == 1:
        return f"{what}: {row.mean_difference:+.1f} {unit} in 1 trial: one trial gives no interval."
    left = f", {row.unpaired} left out (a value missing)" if row.unpaired else ""
    p = "Holm-adjusted p" if row.family_size > 1 else "p"
    return (f"{what}: {row.mean_difference:+.1f} {unit}, {row.interval} "
            f"[{row.low:+.1f}, {row.high:+.1f}], "
            f"{p} = {row.p_holm:.2f}, {trial_count(row.trials)}{left}: {row.verdict}.")


def check_margin(margin: float) -> float:
    """``margin`` itself when it is a finite number of points above 0 (an equivalence margin); else one
    ValueError line saying what is valid."""
    if isinstance(margin, bool) or not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a finite number of points > 0, got {margin!r}")
    return margin


def margin_reading(row: CorrectedComparison, margin: float) -> str:
    """The verdict on one comparison with an equivalence margin (points): ``"<method> ahead"`` (clear, by the
    module's rule), ``"equal within +-<margin> points (...)"`` (the whole interval lies inside ``[-margin,
    +margin]``: an equality shown, not a difference missed), ``"not settled (...)"`` (neither), or ``"no interval"``
    (fewer than 2 paired trials)."""
    check_margin(margin)
    if row.trials < 2:
        return "no interval"
    if row.ahead is not None:
        return f"{row.ahead} ahead"
    if -margin <= row.low and row.high <= margin:
        return f"equal within +-{margin:g} points (the whole interval lies inside +-{margin:g})"
    return (f"not settled (the interval is neither clear of 0 beyond the noise nor inside +-{margin:g}: "
            "more trials are needed)")


def summarize_family(results: Sequence[Results] | Results, method_a: str, methods_b: str | Sequence[str],
                     at: int | None = None, confidence: float = 0.95, noise_floor: float | None = None,
                     field: str = "test_accuracy", sizes: bool = True) -> str:
    """``method_a`` minus each of ``methods_b`` as one family (:func:`comparison_family`), in lines: the
    :func:`family_header`, then per pair its AULC (primary) and its sizes (secondary; none with ``sizes=False``),
    one sentence each."""
    others = [methods_b] if isinstance(methods_b, str) else list(methods_b)
    rows = comparison_family(results, [(method_a, b) for b in others], confidence, noise_floor, at, field, sizes)
    lines = [family_header(rows) + "."]
    for b in others:
        lines.append(f"{method_a} minus {b}:")
        lines.extend("  " + describe(row) for row in rows if row.method_b == b)
    return "\n".join(lines)
