"""The evidence the loop and reproduction notebooks open on: the repository's shipped results (a ``cpu``-preset
sweep on Fashion-MNIST, :data:`SHIPPED_SWEEP`), read back in seconds and described honestly.

:func:`load_evidence` keeps the finished runs of a results folder and groups them by pool (same dataset and
settings, :func:`~tavaal_nb.analysis.grouping.group_results`); :class:`Evidence` says what they are (:meth:`Evidence.banner`:
preset, datasets, number of trials, and that this is not the paper's setting), how many trials each method has
(:meth:`Evidence.trial_table`) and, per pool, what the paired trials say about two methods
(:meth:`Evidence.comparisons`, through :func:`~tavaal_nb.analysis.stats.summarize_comparison`). Nothing here assumes how
many trials are finished: the folder may hold 1 to 5 today and more later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tavaal_nb.checkout import repository_root
from tavaal_nb.analysis.grouping import group_results
from tavaal_nb.results import Results, load_results
from tavaal_nb.strategies.vaal import discriminator_scores
from tavaal_nb.analysis.stats import summarize_comparison, trial_count

__all__ = ["SHIPPED_SWEEP", "PAPER_SETTING", "Evidence", "shipped_results_dir", "load_evidence", "shipped_evidence",
           "finished_only"]

SHIPPED_SWEEP = Path("results") / "cpu" / "sweep"
"""Where the repository keeps its shipped cpu-preset sweep (``results/cpu/run.sh`` makes it)."""

PAPER_SETTING = ("the paper: CIFAR-10, SVHN and Fashion-MNIST, ResNet-18 trained 200 epochs, "
                 "1,000 to 10,000 labeled images, 5 trials")
"""The paper's setting in one line (sec. 5.1-5.3), for the banner."""


def shipped_results_dir(start: str | Path | None = None) -> Path | None:
    """The shipped sweep folder of the checkout containing ``start`` (default: the working directory), or None
    when there is no checkout (a pip install, e.g. on Colab) or the checkout has no such folder."""
    root = repository_root(start)
    if root is None or not (root / SHIPPED_SWEEP).is_dir():
        return None
    return root / SHIPPED_SWEEP


def finished_only(result: Results) -> Results | None:
    """``result`` restricted to its finished runs (a trial still being computed is left out), or None if none is."""
    runs = [run for run in result.runs if run.get("finished")]
    if not runs:
        return None
    if len(runs) == len(result.runs):
        return result
    return Results({**result.data, "runs": runs}, result.path)


@dataclass
class Evidence:
    """Finished results grouped by pool (label: the dataset, plus settings that tell two pools apart)."""

    path: Path | None
    pools: dict[str, list[Results]]

    @property
    def results(self) -> list[Results]:
        """Every finished results object, all pools together (what the views take)."""
        return [result for members in self.pools.values() for result in members]

    def trials(self, pool: str) -> dict[str, int]:
        """Finished trials per method in ``pool``."""
        if pool not in self.pools:
            raise ValueError(f"no pool {pool!r}; valid: {', '.join(self.pools)}")
        counts: dict[str, set[int]] = {}
        for result in self.pools[pool]:
            for run in result.runs:
                counts.setdefault(run["method"], set()).add(run["trial"])
        return {method: len(trials) for method, trials in counts.items()}

    def trial_range(self) -> tuple[int, int]:
        """Fewest and most finished trials of any method in any pool."""
        counts = [n for pool in self.pools for n in self.trials(pool).values()]
        return min(counts), max(counts)

    def pool_results(self, pools: Sequence[str]) -> list[Results]:
        """The results of the given pools only (e.g. those where VAAL and TA-VAAL ran, for Fig. 7's view)."""
        for pool in pools:
            if pool not in self.pools:
                raise ValueError(f"no pool {pool!r}; valid: {', '.join(self.pools)}")
        return [result for pool in pools for result in self.pools[pool]]

    def selection_entropy(self, pool: str) -> dict[str, float]:
        """Per method, the mean class-count entropy (nats) of its queries' selections in ``pool``, over every
        query and trial (Fig. 6's first reading, summed up in one number per method)."""
        values: dict[str, list[float]] = {}
        for result in self.pool_results([pool]):
            for run in result.runs:
                values.setdefault(run["method"], []).extend(
                    record["selected_class_entropy"] for record in run["cycles"]
                    if record.get("selected_class_entropy") is not None)
        return {method: sum(v) / len(v) for method, v in values.items() if v}

    def discriminator_spread(self, pool: str) -> dict[str, tuple[int, float]]:
        """Per method with discriminator scores in ``pool``: its last query's cycle and the standard deviation of
        ``D`` over that query's candidates, averaged over trials (Fig. 7: do the scores still spread out?)."""
        spreads: dict[str, dict[int, list[float]]] = {}
        for result in self.pool_results([pool]):
            for run in result.runs:
                for record in run["cycles"]:
                    scores = [v for v in discriminator_scores(record) or [] if v is not None]
                    if len(scores) > 1:
                        mean = sum(scores) / len(scores)
                        sd = (sum((v - mean) ** 2 for v in scores) / (len(scores) - 1)) ** 0.5
                        spreads.setdefault(run["method"], {}).setdefault(record["cycle"], []).append(sd)
        return {method: (last := max(by_cycle), sum(by_cycle[last]) / len(by_cycle[last]))
                for method, by_cycle in spreads.items()}

    def presets(self) -> list[str]:
        return sorted({str(result.config.get("preset", "?")) for result in self.results})

    def pools_with(self, methods: Sequence[str]) -> list[str]:
        """The pools in which every one of ``methods`` has a finished run."""
        return [pool for pool in self.pools if all(m in self.trials(pool) for m in methods)]

    def banner(self) -> str:
        """One line: preset, pools, trials and the run's sizes, and that it is not the paper's setting."""
        low, high = self.trial_range()
        trials = trial_count(high) if low == high else f"{low} to {high} trials per method"
        config = self.results[0].config
        last = config["initial"] + config["budget"] * (config["cycles"] - 1)
        return (f"{' / '.join(self.presets())} preset, {' and '.join(self.pools)}, {trials}: "
                f"not the paper's setting ({config['initial']:,} to {last:,} labeled images, "
                f"{config['epochs']} epochs, {config['subset']:,} candidates per query; {PAPER_SETTING}).")

    def trial_table(self) -> str:
        """Finished trials per pool and method, as plain text."""
        methods = list(dict.fromkeys(m for pool in self.pools for m in self.trials(pool)))
        width = max(len(pool) for pool in self.pools) + 2
        lines = ["pool".ljust(width) + "".join(f"{m:>9}" for m in methods)]
        for pool in self.pools:
            counts = self.trials(pool)
            lines.append(pool.ljust(width) + "".join(f"{counts.get(m, '-'):>9}" for m in methods))
        return "\n".join(lines)

    def comparisons(self, method_a: str, method_b: str, at: int | None = None) -> dict[str, str]:
        """Per pool, the plain sentence of :func:`~tavaal_nb.analysis.stats.summarize_comparison` on ``a - b``, or why
        there is none yet (a method without finished runs in that pool)."""
        out = {}
        for pool, members in self.pools.items():
            missing = [m for m in (method_a, method_b) if m not in self.trials(pool)]
            if missing:
                out[pool] = f"no finished run of {' and '.join(missing)} in this pool yet: nothing to compare."
            else:
                out[pool] = summarize_comparison(members, method_a, method_b, at)
        return out

    def _repr_markdown_(self) -> str:
        table = self.trial_table().replace("\n", "\n    ")
        return f"**{self.banner()}**\n\nFinished trials per pool and method:\n\n    {table}\n"

    def __str__(self) -> str:
        return f"{self.banner()}\n\nFinished trials per pool and method:\n{self.trial_table()}"


def load_evidence(path: str | Path) -> Evidence:
    """The finished runs under ``path`` (a sweep folder or results files), grouped by pool.

    Raises ``FileNotFoundError`` when there is no results file there and ``ValueError`` when none of its
    runs is finished yet."""
    kept = [r for r in (finished_only(result) for result in load_results(path)) if r is not None]
    if not kept:
        raise ValueError(f"no finished run under {path} yet: run your own, or wait for the sweep")
    return Evidence(Path(path), group_results(kept))


def shipped_evidence(start: str | Path | None = None) -> Evidence | None:
    """:func:`load_evidence` of the shipped sweep, or None after printing why there is none here (no checkout of
    the repository, e.g. a pip install on Colab; no folder; no finished run yet)."""
    folder = shipped_results_dir(start)
    if folder is None:
        where = repository_root(start)
        print("No shipped results here: " + ("this notebook does not run inside a checkout of the repository "
                                             "(e.g. the package was pip-installed on Colab)" if where is None
                                             else f"{where / SHIPPED_SWEEP} does not exist")
              + ". Skip to 'Run your own'.")
        return None
    try:
        return load_evidence(folder)
    except (FileNotFoundError, ValueError) as error:
        print(f"No shipped results to show: {error}. Skip to 'Run your own'.")
        return None
