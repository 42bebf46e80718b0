"""The paper's headline accuracies, and how a set of results compares with them (notebook 07)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tavaal_nb.analysis.grouping import group_results
from tavaal_nb.analysis.stats import learning_curve_stats, mean_std
from tavaal_nb.results import Results, ResultsFileError

__all__ = ["Headline", "PAPER_HEADLINES", "compare_with_paper", "format_comparison", "find_results"]

@dataclass(frozen=True)
class Headline:
    """One accuracy the paper states in its text (test accuracy in percent, mean of 5 trials).

    ``relation`` is ``"="`` for a stated mean and ``">"`` for "over ``value``"; ``comparable``
    is False when the paper measured it differently from a plain run (said in ``note``).
    """

    dataset: str
    method: str
    labeled: int
    relation: str
    value: float
    source: str
    comparable: bool = True
    note: str = ""


PAPER_HEADLINES: tuple[Headline, ...] = (
    Headline("cifar10", "tavaal", 10_000, "=", 90.32, "sec. 5.4: mean accuracy of 90.32% in the last stage (10k)"),
    Headline("cifar10", "tavaal", 4_000, ">", 80.0, "sec. 5.4: mean accuracy over 80% with only 4,000 labeled"),
    Headline("svhn", "tavaal", 10_000, "=", 92.27, "sec. 6.1: 92.27% in the last cycle", comparable=False,
             note="the paper retrained the task learner without its Ranker on the selected sets"),
)
"""The accuracies the paper's text states; its figures give the rest only as curves."""


def compare_with_paper(results: Sequence[Results], headlines: Sequence[Headline] = PAPER_HEADLINES) -> list[dict[str, Any]]:
    """Per headline, the paper's number and ours: mean, sample std and count of the trials at that
    dataset, method and labeled size, pooled by the rule of :mod:`tavaal_nb.analysis.grouping` (results of one
    dataset and settings pool; different settings are different experiments, one row each, named
    in ``experiment``). A headline no run measured gets one row with ``None``. ``holds`` says
    whether ours meets a ``">"`` claim (None for ``"="``); ``difference`` is ours minus the paper's."""
    groups = group_results(results)
    stats = {label: learning_curve_stats(members) for label, members in groups.items()}
    dataset_of = {label: members[0].dataset.get("name") for label, members in groups.items()}
    rows = []
    for headline in headlines:
        measured: list[tuple[str | None, list[float]]] = []
        for label, by_method in stats.items():
            entry = by_method.get(headline.method)
            if dataset_of[label] == headline.dataset and entry and headline.labeled in entry["labeled_size"]:
                values = entry["values"][entry["labeled_size"].index(headline.labeled)]
                measured.append((label, [v for v in values if v is not None]))
        for experiment, values in measured or [(None, [])]:
            rows.append(_comparison_row(headline, experiment, values))
    return rows


def _comparison_row(headline: Headline, experiment: str | None, values: list[float]) -> dict[str, Any]:
    mean, std = mean_std(values) if values else (None, None)
    holds = None
    if mean is not None and headline.relation == ">":
        holds = mean > headline.value
    return {
        "dataset": headline.dataset, "method": headline.method, "labeled": headline.labeled,
        "experiment": experiment, "paper": f"{'over ' if headline.relation == '>' else ''}{headline.value:.2f}",
        "ours_mean": mean, "ours_std": std, "trials": len(values),
        "difference": None if mean is None else mean - headline.value, "holds": holds,
        "comparable": headline.comparable, "source": headline.source, "note": headline.note,
    }


def format_comparison(rows: Sequence[Mapping[str, Any]]) -> str:
    """:func:`compare_with_paper`'s rows as a plain-text table."""
    lines = [f"{'dataset':10}{'method':8}{'labeled':>8}{'paper':>12}{'ours':>18}  note"]
    for row in rows:
        if row["ours_mean"] is None:
            ours = "not run"
        else:
            ours = f"{row['ours_mean']:.2f} +- {row['ours_std']:.2f} ({row['trials']})"
        note = [] if row["holds"] is None else (["holds"] if row["holds"] else ["does not hold"])
        if row.get("experiment") not in (None, row["dataset"]):
            note.insert(0, str(row["experiment"]))  # several experiments on one dataset: which one
        if not row["comparable"]:
            note.append(f"not comparable: {row['note']}")
        lines.append(f"{row['dataset']:10}{row['method']:8}{row['labeled']:>8,}{row['paper']:>12}{ours:>18}  "
                     + "; ".join(note))
    return "\n".join(lines)


def find_results(root: str | Path) -> list[Results]:
    """Every tavaal-nb results file under ``root`` (any ``*.json`` whose ``format`` is
    ``tavaal-nb/results``, searched recursively, in path order); other JSON files (a sweep's
    manifest, unrelated files) are skipped. A missing ``root`` gives an empty list."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*.json")):
        try:
            found.append(Results.load(path))
        except (ResultsFileError, OSError):
            continue
    return found
