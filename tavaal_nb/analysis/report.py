"""A self-contained HTML report of one or more results (accuracy table, paired comparisons corrected for their
number, learning curves, entropies, D histograms), and the text tables ``python -m tavaal_nb report`` prints."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from tavaal_nb.analysis.grouping import group_results, merge_results
from tavaal_nb.analysis.multiplicity import comparison_family, family_header
from tavaal_nb.analysis.stats import format_mean_spread, learning_curve_stats, trial_count
from tavaal_nb.files import atomic_write_text
from tavaal_nb.markup import terminal
from tavaal_nb.results import Results, load_results
from tavaal_nb.strategies.vaal import discriminator_scores
from tavaal_nb.upper_bound import find_upper_bound

__all__ = ["accuracy_table", "comparison_table", "write_report"]


def accuracy_table(results: Sequence[Results]) -> str:
    """Plain-text table: mean +- std accuracy per method (rows) and labeled size (columns), and the
    number of trials per method: a method run once shows its accuracy alone ("1 trial"), not "+-0.00".
    Missing accuracies (null in the file) are left out and not counted.

    Values are pooled over every run of a method (trials, and results files such as a
    sweep's); results of different datasets or settings (:func:`~tavaal_nb.analysis.grouping.group_results`)
    get one table each. Names are printed with their control characters escaped (:func:`~tavaal_nb.markup.terminal`).
    """
    groups = group_results(results)
    if len(groups) > 1:
        return "\n\n".join(f"dataset {terminal(name)} ({sum(len(r.runs) for r in group)} runs)\n{_table(group)}"
                           for name, group in groups.items())
    return _table(results)


def _table(results: Sequence[Results]) -> str:
    stats = learning_curve_stats(results)
    sizes = sorted({s for entry in stats.values() for s in entry["labeled_size"]})
    width = max(len(name) for name in ["method", *stats])  # the name column fits the longest name
    lines = ["method".ljust(width) + "".join(f"{s:>16d}" for s in sizes)]
    for method, entry in stats.items():
        cells = [format_mean_spread(entry["values"][entry["labeled_size"].index(size)], count=False)
                 if size in entry["labeled_size"] else "-" for size in sizes]
        counts = sorted({len([v for v in values if v is not None]) for values in entry["values"]})
        trials = trial_count(counts[-1]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]} trials"
        lines.append(terminal(method).ljust(width) + "".join(c.replace(" +- ", "+-").rjust(16) for c in cells) + f"    ({trials})")
    return "\n".join(lines)


def comparison_table(results: Sequence[Results], reference: str = "random", confidence: float = 0.95,
                     noise_floor: float | None = None) -> str:
    """Plain-text table, per pool (:func:`~tavaal_nb.analysis.grouping.group_results`): every other method minus
    ``reference`` (the pool's first method when ``reference`` did not run there), paired trial by trial; per pair
    the AULC first (the primary summary), then each labeled size. Each pool's comparisons are one family
    (:mod:`tavaal_nb.analysis.multiplicity`): the pool's heading says how many comparisons it holds, that every
    interval is simultaneous over them (Bonferroni) and that p values are Holm-adjusted; "clear" needs the interval
    to exclude 0 and, with ``noise_floor``, the difference to exceed it. A pool with one method, or whose runs
    cannot be paired (the same trial of a method in two files), says so instead."""
    blocks = []
    for name, group in group_results(results).items():
        methods = list(dict.fromkeys(m for result in group for m in result.methods))
        if len(methods) < 2:
            blocks.append(f"{terminal(name)}: one method ({', '.join(map(terminal, methods))}): nothing to compare")
            continue
        base = reference if reference in methods else methods[0]
        try:
            rows = comparison_family(group, [(m, base) for m in methods if m != base], confidence, noise_floor)
        except ValueError as error:
            blocks.append(f"{terminal(name)}: no paired comparison: {terminal(str(error))}")
            continue
        lines = [f"{terminal(name)}: each method minus {terminal(base)}, the AULC first (primary), then each labeled size",
                 f"{family_header(rows)}",
                 f"{'comparison':<22}{'trials':>7}{'mean a-b':>10}{'interval':>20}{'Holm p':>8}  reading"]
        pair = None
        for row in rows:
            if (row.method_a, row.method_b) != pair:
                pair = row.method_a, row.method_b
                lines.append(f"{terminal(row.method_a)} - {terminal(row.method_b)}")
            interval = "" if row.trials < 2 else f"[{row.low:+.2f}, {row.high:+.2f}]"
            p = "" if row.trials < 2 else f"{row.p_holm:.3f}"
            lines.append(f"  {row.label:<20}{row.trials:>7}{row.mean_difference:>+10.2f}{interval:>20}{p:>8}  "
                         f"{row.reading}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def write_report(sources, html_path: str | Path, overwrite: bool = True) -> Path:
    """Write an HTML report of ``sources`` (files, directories or Results) to ``html_path``.

    The page embeds plotly.js, so it opens offline. Refuses to replace an existing
    file when ``overwrite`` is False. plotly is imported here, where the figures are drawn: the
    engine (``run``, ``sweep``, ``bench``, ``upper-bound``, ``report`` without ``--html``) needs none
    of the plotting libraries.
    """
    try:
        from tavaal_nb.analysis.plots import (
            class_entropy_figure,
            discriminator_histogram_figure,
            learning_curves_figure,
        )
    except ImportError as error:
        raise RuntimeError(f"the HTML report draws its figures with plotly, which is not installed here ({error}); "
                           f"`pip install plotly`, or leave out --html for the text table") from None

    results = load_results(sources)
    html_path = Path(html_path)
    if html_path.is_dir():
        raise ValueError(f"{html_path} is a folder; give the report a file name, e.g. {html_path / 'report.html'}")
    if html_path.exists() and not overwrite:
        raise FileExistsError(f"{html_path} exists; pass overwrite=True (or --overwrite) to replace it")
    groups = group_results(results)
    parts = [learning_curves_figure(group, title=f"Test accuracy against labeled-set size: {name}" if len(groups) > 1
                                    else "Test accuracy against labeled-set size", upper_bound=find_upper_bound(group))
             .to_html(full_html=False, include_plotlyjs=not k) for k, (name, group) in enumerate(groups.items())]
    for label, result in ((label, merge_results(group)) for label, group in groups.items()):
        parts.append(class_entropy_figure(result, title=f"Class-count entropy of the selected samples: {label}")
                     .to_html(full_html=False, include_plotlyjs=False))
        cycles_with_d = [
            record["cycle"] for run in result.runs for record in run["cycles"]
            if discriminator_scores(record)
        ]
        if cycles_with_d:
            last = max(cycles_with_d)
            parts.append(discriminator_histogram_figure(result, last, title=f"D(mu, r) on the candidates, cycle {last}: {label}")
                         .to_html(full_html=False, include_plotlyjs=False))
    names = ", ".join(html.escape(str(r.path)) for r in results)
    body = "\n".join(parts)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>tavaal-nb report</title></head>"
        "<body style='font-family:sans-serif;max-width:1100px;margin:auto'>"
        f"<h1>tavaal-nb report</h1><p>Results: {names}</p>"
        f"<h2>Accuracy (mean +- std over trials)</h2><pre>{html.escape(accuracy_table(results))}</pre>"
        "<h2>Paired comparisons, corrected for their number</h2>"
        f"<pre>{html.escape(comparison_table(results))}</pre>"
        f"{body}</body></html>"
    )
    atomic_write_text(html_path, page)
    return html_path
