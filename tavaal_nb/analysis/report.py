"""A self-contained HTML report of one or more results (learning curves, entropies, D histograms)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from tavaal_nb.analysis.grouping import group_results, merge_results
from tavaal_nb.analysis.stats import learning_curve_stats
from tavaal_nb.results import Results, atomic_write_text, load_results
from tavaal_nb.analysis.stats import format_mean_spread, trial_count
from tavaal_nb.upper_bound import find_upper_bound

__all__ = ["accuracy_table", "write_report"]


def accuracy_table(results: Sequence[Results]) -> str:
    """Plain-text table: mean +- std accuracy per method (rows) and labeled size (columns), and the
    number of trials per method: a method run once shows its accuracy alone ("1 trial"), not "+-0.00".
    Missing accuracies (null in the file) are left out and not counted.

    Values are pooled over every run of a method (trials, and results files such as a
    sweep's); results of different datasets or settings (:func:`~tavaal_nb.analysis.grouping.group_results`)
    get one table each.
    """
    groups = group_results(results)
    if len(groups) > 1:
        return "\n\n".join(f"dataset {name} ({sum(len(r.runs) for r in group)} runs)\n{_table(group)}"
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
        lines.append(method.ljust(width) + "".join(c.replace(" +- ", "+-").rjust(16) for c in cells) + f"    ({trials})")
    return "\n".join(lines)


def write_report(sources, html_path: str | Path, overwrite: bool = True) -> Path:
    """Write an HTML report of ``sources`` (files, directories or Results) to ``html_path``.

    The page embeds plotly.js, so it opens offline. Refuses to replace an existing
    file when ``overwrite`` is False. plotly is imported here, where the figures are drawn: the
    engine (``run``, ``sweep``, ``bench``, ``upper-bound``, ``report`` without ``--html``) needs none
    of the plotting libraries.
    """
    try:
        from tavaal_nb.analysis.plots import class_entropy_figure, discriminator_histogram_figure, learning_curves_figure
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
    parts = [learning_curves_figure(group, title=f"Test accuracy against labeled-set size: {html.escape(name)}" if len(groups) > 1
                                    else "Test accuracy against labeled-set size", upper_bound=find_upper_bound(group))
             .to_html(full_html=False, include_plotlyjs=not k) for k, (name, group) in enumerate(groups.items())]
    for label, result in ((label, merge_results(group)) for label, group in groups.items()):
        parts.append(class_entropy_figure(result, title=f"Class-count entropy of the selected samples: {html.escape(label)}")
                     .to_html(full_html=False, include_plotlyjs=False))
        cycles_with_d = [
            record["cycle"] for run in result.runs for record in run["cycles"]
            if record["strategy_data"].get("discriminator_scores")
        ]
        if cycles_with_d:
            last = max(cycles_with_d)
            parts.append(discriminator_histogram_figure(result, last, title=f"D(mu, r) on the candidates, cycle {last}: {html.escape(label)}")
                         .to_html(full_html=False, include_plotlyjs=False))
    names = ", ".join(html.escape(str(r.path)) for r in results)
    body = "\n".join(parts)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>tavaal-nb report</title></head>"
        "<body style='font-family:sans-serif;max-width:1100px;margin:auto'>"
        f"<h1>tavaal-nb report</h1><p>Results: {names}</p>"
        f"<h2>Accuracy (mean +- std over trials)</h2><pre>{html.escape(accuracy_table(results))}</pre>"
        f"{body}</body></html>"
    )
    atomic_write_text(html_path, page)
    return html_path
