"""The evidence the loop and reproduction notebooks open on: the repository's shipped results (a ``cpu``-preset
sweep on Fashion-MNIST, :data:`SHIPPED_SWEEP`), read back in seconds and described honestly.

:func:`load_evidence` keeps the finished runs of a results folder and groups them by pool (same dataset and
settings, :func:`~tavaal_nb.analysis.grouping.group_results`); :class:`Evidence` says what they are (:meth:`Evidence.banner`:
preset, datasets, number of trials, and that this is not the paper's setting), how many trials each method has
(:meth:`Evidence.trial_table`) and, per pool, what the paired trials say about two methods
(:meth:`Evidence.comparisons`: the AULC first, then each labeled size, corrected for the number of comparisons
shown, through :func:`~tavaal_nb.analysis.multiplicity.summarize_family`). Nothing here assumes how
many trials are finished: the folder may hold 1 to 5 today and more later.
"""

from __future__ import annotations

import glob
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tavaal_nb.analysis.checkout import repository_root
from tavaal_nb.analysis.grouping import group_results
from tavaal_nb.analysis.multiplicity import (
    check_margin,
    comparison_family,
    family_header,
    margin_reading,
    summarize_family,
)
from tavaal_nb.analysis.stats import area_under_learning_curve, mean_std, trial_count
from tavaal_nb.noise import NOISE_NAME, NoiseFloor, read_noise
from tavaal_nb.results import Results, load_results
from tavaal_nb.stored_config import completed_config
from tavaal_nb.strategies.vaal import discriminator_losses, discriminator_scores
from tavaal_nb.sweep.manifest import SWEEP_NAME

__all__ = ["SHIPPED_SWEEP", "SHIPPED_SWEEPS", "SHIPPED_NOISE", "PAPER_SETTING", "Evidence", "shipped_results_dir",
           "load_evidence", "extension_folders", "shipped_evidence", "finished_only", "shipped_noise", "aulc_noise_floor",
           "SCHEDULE_FIELDS", "SHIPPED_METHODS", "ALL_METHODS_FAMILIES"]

SHIPPED_SWEEPS = {"crn": Path("results") / "cpu-crn" / "sweep", "before-pairing": Path("results") / "cpu" / "sweep"}
"""The repository's shipped cpu-preset sweeps: ``crn`` with common random numbers and the 250-step schedule
(``results/cpu-crn/run.sh``), ``before-pairing`` the first sweep, where each method trained from its own draws
for 12 epochs (``results/cpu/run.sh``; kept as it was)."""
SHIPPED_SWEEP = SHIPPED_SWEEPS["crn"]
"""The shipped sweep the notebooks open on."""
SHIPPED_NOISE = Path("results") / "cpu-crn" / "noise"
"""The shipped noise-floor measurements (``python -m tavaal_nb noise``), one folder per schedule."""

PAPER_SETTING = ("the paper: CIFAR-10, SVHN and Fashion-MNIST, ResNet-18 trained 200 epochs, "
                 "1,000 to 10,000 labeled images, 5 trials")
"""The paper's setting in one line (sec. 5.1-5.3), for the banner."""


SHIPPED_METHODS = ("random", "tavaal", "entropy", "margin", "coreset", "badge", "vaal", "lloss")
"""The eight methods of the shipped ``crn`` sweep (random and TA-VAAL in its phase 1, the six others in phase 2)."""
ALL_METHODS_FAMILIES: dict[str, list[tuple[str, str]]] = {
    "against random": [(m, "random") for m in SHIPPED_METHODS if m != "random"],
    "TA-VAAL against each baseline": [("tavaal", m) for m in SHIPPED_METHODS if m not in ("random", "tavaal")],
}
"""How the ``crn`` sweep's eight methods are read together (results/cpu-crn/README.md, "Phase 2's reading", fixed
2026-12-07 before any phase-2 run existed), two families of AULC comparisons (each ``a - b``): every other method
minus random (7: does any strategy pick better than random?) and TA-VAAL minus each baseline (6: the paper's
claim). :meth:`Evidence.families` reads them."""


SCHEDULE_FIELDS = ("dataset", "initial", "budget", "cycles", "subset", "width", "epochs", "milestones", "lr",
                   "momentum", "weight_decay", "batch_size", "min_steps", "crop_padding", "train_limit", "test_limit")
"""The settings a noise measurement must share with a pool to be that pool's noise floor (:meth:`Evidence.noise_floors`):
the data, the labeled sizes and how the task model is trained and tested."""


def _floor(noise_floor: float | Mapping[str, float] | None, pool: str) -> float | None:
    """The floor of ``pool``: the number given for every pool, or the pool's entry of a mapping (None without)."""
    return noise_floor.get(pool) if isinstance(noise_floor, Mapping) else noise_floor


def _sweep_folder(sweep: str) -> Path:
    if sweep not in SHIPPED_SWEEPS:
        raise ValueError(f"no shipped sweep {sweep!r}; valid: {', '.join(SHIPPED_SWEEPS)}")
    return SHIPPED_SWEEPS[sweep]


def shipped_results_dir(start: str | Path | None = None, sweep: str = "crn") -> Path | None:
    """The shipped sweep folder (:data:`SHIPPED_SWEEPS`) of the checkout containing ``start`` (default: the working
    directory), or None when there is no checkout (a pip install, e.g. on Colab) or the checkout has no such
    folder."""
    folder = _sweep_folder(sweep)
    root = repository_root(start)
    if root is None or not (root / folder).is_dir():
        return None
    return root / folder


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

    def _selection_entropies(self, pool: str) -> dict[str, dict[int, list[float]]]:
        """Per method and trial in ``pool``, the class-count entropies (nats) of the run's queries' selections."""
        values: dict[str, dict[int, list[float]]] = {}
        for result in self.pool_results([pool]):
            for run in result.runs:
                picks = [record["selected_class_entropy"] for record in run["cycles"]
                         if record.get("selected_class_entropy") is not None]
                if picks:
                    values.setdefault(run["method"], {})[run["trial"]] = picks
        return values

    def selection_entropy(self, pool: str) -> dict[str, float]:
        """Per method, the mean class-count entropy (nats) of its queries' selections in ``pool``, over every
        query and trial (Fig. 6's first reading, summed up in one number per method)."""
        out = {}
        for method, by_trial in self._selection_entropies(pool).items():
            picks = [v for values in by_trial.values() for v in values]
            out[method] = sum(picks) / len(picks)
        return out

    def selection_entropy_by_trial(self, pool: str) -> dict[str, dict[int, float]]:
        """Per method and trial in ``pool``, the mean class-count entropy (nats) of that run's queries' selections:
        the paired reading of :meth:`selection_entropy` (do one method's batches come out less balanced trial after
        trial?)."""
        return {method: {trial: sum(v) / len(v) for trial, v in sorted(by_trial.items())}
                for method, by_trial in self._selection_entropies(pool).items()}

    def rare_classes(self, pool: str) -> list[int]:
        """The classes ``pool`` holds at under half a balanced share (fewer than ``size / (2 x classes)`` images):
        on the 1.65 pool the five with 50 to 200 images; none on a balanced pool."""
        counts = self.pool_results([pool])[0].dataset.get("class_counts") or []
        total = sum(counts)
        return [k for k, count in enumerate(counts) if 2 * len(counts) * count < total]

    def rare_class_share(self, pool: str) -> tuple[float, dict[str, float]] | None:
        """The share of the pool's images in its :meth:`rare_classes` (what a random pick lands on, on average),
        and per method the share of every image its queries picked (all queries and trials) that lies in them:
        does a method find the classes the pool hardly holds? None when the pool has no rare class."""
        rare = self.rare_classes(pool)
        if not rare:
            return None
        counts = self.pool_results([pool])[0].dataset["class_counts"]
        picked: dict[str, list[int]] = {}
        for result in self.pool_results([pool]):
            for run in result.runs:
                for record in run["cycles"]:
                    chosen = record.get("selected_class_counts")
                    if chosen:
                        tally = picked.setdefault(run["method"], [0, 0])
                        tally[0] += sum(chosen[k] for k in rare)
                        tally[1] += sum(chosen)
        return (sum(counts[k] for k in rare) / sum(counts),
                {method: in_rare / total for method, (in_rare, total) in picked.items() if total})

    def rare_class_line(self, pool: str) -> str | None:
        """:meth:`rare_class_share` as one line, methods from the most picks in the rare classes down (what notebooks
        06 and 07 print under a pool); None when the pool has no rare class."""
        rare = self.rare_class_share(pool)
        if rare is None:
            return None
        pool_share, shares = rare
        return (f"picks in its rare classes (the pool holds {pool_share:.1%}): "
                + ", ".join(f"{method} {share:.1%}" for method, share in sorted(shares.items(), key=lambda i: -i[1])))

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

    def discriminator_loss(self, pool: str) -> dict[str, tuple[int, float, float]]:
        """Per method with a stored discriminator loss in ``pool`` (the VAAL family): the number of queries, and the
        median and the lowest over them of eq. 8's mean loss over the last logged block of each query's VAE/D phase
        (blocks of :data:`~tavaal_nb.strategies.vaal.CHECK_EVERY` iterations, the last one what is left; the whole
        phase when it is shorter than one block, as at the ``cpu`` preset). A
        discriminator that cannot tell the labeled pool from the candidates scores
        :data:`~tavaal_nb.strategies.vaal.CHANCE_DISCRIMINATOR_LOSS` (``2 ln 2 = 1.386``); one that separates
        them scores below it."""
        ends: dict[str, list[float]] = {}
        for result in self.pool_results([pool]):
            for run in result.runs:
                for record in run["cycles"]:
                    losses = [v for v in discriminator_losses(record) or [] if v is not None]
                    if losses:
                        ends.setdefault(run["method"], []).append(losses[-1])
        return {method: (len(values), statistics.median(values), min(values)) for method, values in ends.items()}

    def cycle0_spread(self, pool: str, methods: Sequence[str] | None = None) -> dict[int, float]:
        """Per trial of ``pool``, the range (largest minus smallest) of the cycle-0 test accuracies of ``methods``
        (default: every method). At cycle 0 every method has the same labeled set, so this is pure training
        noise: 0 under common random numbers for methods that train the same model."""
        accuracies: dict[int, list[float]] = {}
        for result in self.pool_results([pool]):
            for run in result.runs:
                if (methods is None or run["method"] in methods) and run["cycles"]:
                    accuracies.setdefault(run["trial"], []).append(run["cycles"][0]["test_accuracy"])
        return {trial: max(v) - min(v) for trial, v in sorted(accuracies.items()) if len(v) > 1}

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
        steps = f" (at least {config['min_steps']} steps)" if config.get("min_steps") else ""
        seeding = ("common random numbers across methods" if config.get("seeding") == "shared"
                   else "each method its own random draws")
        return (f"{' / '.join(self.presets())} preset, {' and '.join(self.pools)}, {trials}: "
                f"not the paper's setting ({config['initial']:,} to {last:,} labeled images, "
                f"{config['epochs']} epochs{steps}, {config['subset']:,} candidates per query, "
                f"{seeding}; {PAPER_SETTING}).")

    def trial_table(self) -> str:
        """Finished trials per pool and method, as plain text."""
        methods = list(dict.fromkeys(m for pool in self.pools for m in self.trials(pool)))
        width = max(len(pool) for pool in self.pools) + 2
        lines = ["pool".ljust(width) + "".join(f"{m:>9}" for m in methods)]
        for pool in self.pools:
            counts = self.trials(pool)
            lines.append(pool.ljust(width) + "".join(f"{counts.get(m, '-'):>9}" for m in methods))
        return "\n".join(lines)

    def comparisons(self, method_a: str, method_b: str | Sequence[str], at: int | None = None,
                    noise_floor: float | Mapping[str, float] | None = None,
                    confidence: float = 0.95, sizes: bool = True) -> dict[str, str]:
        """Per pool, ``a - b`` (or ``a`` minus each of several methods) as one family of comparisons
        (:func:`~tavaal_nb.analysis.multiplicity.summarize_family`): how many comparisons it holds and how they are
        corrected, then per pair the AULC first (the primary summary), then the difference at each labeled size
        (only at ``at``, when given; none with ``sizes=False``: the AULCs alone, one comparison per pair). Intervals
        are simultaneous over the pool's family, p values Holm-adjusted;
        a difference within ``noise_floor`` points is reported as none (one number for every pool, or each pool's
        own, e.g. :meth:`noise_floors`; a pool left out of the mapping has none). Or why there is nothing to compare yet
        (a method without finished runs in that pool)."""
        others = [method_b] if isinstance(method_b, str) else list(method_b)
        out = {}
        for pool, members in self.pools.items():
            missing = [m for m in (method_a, *others) if m not in self.trials(pool)]
            if missing:
                out[pool] = f"no finished run of {' and '.join(missing)} in this pool yet: nothing to compare."
            else:
                out[pool] = summarize_family(members, method_a, others, at, confidence, _floor(noise_floor, pool),
                                             sizes=sizes)
        return out

    def verdict(self, method_a: str, method_b: str, noise_floor: float | Mapping[str, float] | None = None,
                margin: float = 1.0, confidence: float = 0.95) -> dict[str, str]:
        """Per pool, the answer in one line: is ``method_a`` better than ``method_b`` by the AULC (the primary
        summary), with its interval simultaneous over the pool's family (the AULC and each labeled size, as
        :meth:`comparisons` prints them)?

        One of: ``a ahead`` / ``b ahead`` (the interval excludes 0 and the mean exceeds ``noise_floor``: one number,
        or per pool as :meth:`comparisons` takes it);
        ``equal within +-margin points`` (the whole interval lies inside ``[-margin, +margin]``: an equivalence
        shown, not an absence of evidence); ``not settled`` (neither: more trials would be needed); or no interval
        (fewer than two paired trials, or a method without finished runs in the pool)."""
        check_margin(margin)
        out = {}
        for pool, members in self.pools.items():
            missing = [m for m in (method_a, method_b) if m not in self.trials(pool)]
            if missing:
                out[pool] = f"no finished run of {' and '.join(missing)} in this pool yet: no verdict."
                continue
            floor = _floor(noise_floor, pool)
            rows = comparison_family(members, [(method_a, method_b)], confidence, floor)
            aulc = rows[0]
            head = f"AULC({method_a} - {method_b}) {aulc.mean_difference:+.2f} points"
            if aulc.trials < 2:
                out[pool] = f"{head} in {trial_count(aulc.trials)}: no interval yet, no verdict."
                continue
            interval = (f"[{aulc.low:+.2f}, {aulc.high:+.2f}], {aulc.interval}, {trial_count(aulc.trials)}"
                        + (f"; AULC noise floor {floor:.2f}" if floor is not None else ""))
            out[pool] = f"{head} {interval}: {margin_reading(aulc, margin)}."
        return out

    def families(self, families: Mapping[str, Sequence[tuple[str, str]]] = ALL_METHODS_FAMILIES,
                 noise_floor: float | Mapping[str, float] | None = None, margin: float = 1.0,
                 confidence: float = 0.95) -> dict[str, str]:
        """Per pool, each family of ``families`` (name: its ``(a, b)`` pairs) read on the AULC alone, one comparison
        per pair (:func:`~tavaal_nb.analysis.multiplicity.comparison_family` with ``sizes=False``), its intervals
        simultaneous over that family, p values Holm-adjusted over it, each pair read against ``noise_floor`` and
        ``margin`` as :meth:`verdict` reads one (:func:`~tavaal_nb.analysis.multiplicity.margin_reading`).

        A family waits until every one of its methods has at least two finished trials in the pool (an interval):
        read on fewer pairs it would be corrected over fewer comparisons than it was fixed with. Pairs use the
        trials both methods hold. Where the evidence is a sweep (:meth:`planned_trials`), a family whose methods
        do not all hold the sweep's trials yet says it is interim, naming those methods and their counts: its
        lines are not the reading the trials were planned for."""
        check_margin(margin)
        if not families or not all(families.values()):
            raise ValueError("families needs at least one family, each with at least one (method_a, method_b) pair")
        out, planned = {}, self.planned_trials()
        for pool, members in self.pools.items():
            held, floor, blocks = self.trials(pool), _floor(noise_floor, pool), []
            for name, pairs in families.items():
                lines = [f"{name} ({len(pairs)} AULC comparison{'' if len(pairs) == 1 else 's'})"]
                blocks.append(lines)
                methods = {m for pair in pairs for m in pair}
                missing = sorted(m for m in methods if held.get(m, 0) < 2)
                if missing:  # fewer than 2 trials give no interval, and the family would be corrected over fewer
                    lines.append(f"  waits for two finished trials (an interval) of {', '.join(missing)}.")
                    continue
                rows = comparison_family(members, pairs, confidence, floor, sizes=False)
                short = sorted(m for m in methods if held[m] < (planned or 0))
                if short:
                    lines.append(f"  interim: {', '.join(f'{m} {held[m]}' for m in short)} of the {planned} planned "
                                 f"trials (final when every method holds {planned}).")
                lines.append(f"  {family_header(rows)}.\n  {rows[0].label}, each a - b:")
                lines.extend(f"  {row.method_a} - {row.method_b}: {row.mean_difference:+.2f} points "
                             f"[{row.low:+.2f}, {row.high:+.2f}], Holm-adjusted p = {row.p_holm:.2f}, "
                             f"{trial_count(row.trials)}: {margin_reading(row, margin)}" for row in rows)
            out[pool] = "\n\n".join("\n".join(lines) for lines in blocks)
        return out

    def planned_trials(self) -> int | None:
        """The trials per method the sweep at :attr:`path` was run for (its manifest's ``spec.trials``: the grid it
        asked for, which its extensions grow for some pools), or None where :attr:`path` is not a sweep folder."""
        if self.path is None:
            return None
        try:
            trials = json.loads((self.path / SWEEP_NAME).read_text(encoding="utf-8"))["spec"]["trials"]
        except (TypeError, OSError, ValueError, KeyError):
            return None
        return trials if isinstance(trials, int) and not isinstance(trials, bool) and trials > 0 else None

    def noise_floors(self, measurements: Mapping[str, NoiseFloor] | Sequence[NoiseFloor]) -> dict[str, float]:
        """Each pool's AULC noise floor (:func:`aulc_noise_floor`'s sd) from the measurement made on its dataset
        with its training schedule (every field of :data:`SCHEDULE_FIELDS` equal), e.g. :func:`shipped_noise`'s;
        a pool with no such measurement, or only one not finished (a size without all its trainings yet), is left out
        (its comparisons then have no floor, and say none). Two finished measurements that both fit one pool are
        refused (``ValueError`` naming them): which one is the floor is the reader's choice, not this method's."""
        named = (dict(measurements) if isinstance(measurements, Mapping)
                 else {f"measurement {k}": m for k, m in enumerate(measurements)})
        found = list(named.values())
        floors = {}
        for pool, members in self.pools.items():
            config = completed_config(members[0].config)
            sizes = {config["initial"] + k * config["budget"] for k in range(config["cycles"])}
            matching = [m for m in found if all(completed_config(m.config).get(f) == config.get(f)
                                                for f in SCHEDULE_FIELDS)
                        and sizes <= {level.size for level in m.levels
                                      if len(level.accuracies) >= max(2, m.replicates)}]
            if len(matching) > 1:
                names = [name for name, m in named.items() if any(m is other for other in matching)]
                raise ValueError(f"{len(matching)} noise measurements fit pool {pool} ({', '.join(names)}): "
                                 "pass only the one to read it against")
            if matching:
                floors[pool] = aulc_noise_floor(matching[0])[1]
        return floors

    def _repr_markdown_(self) -> str:
        table = self.trial_table().replace("\n", "\n    ")
        return f"**{self.banner()}**\n\nFinished trials per pool and method:\n\n    {table}\n"

    def __str__(self) -> str:
        return f"{self.banner()}\n\nFinished trials per pool and method:\n{self.trial_table()}"


EXTENDS_KEY = "extends"
"""The key of a sweep manifest that makes it an extension: the folder name of the sweep beside it that it extends."""


def _extends(folder: Path) -> object:
    try:
        return json.loads((folder / SWEEP_NAME).read_text(encoding="utf-8")).get(EXTENDS_KEY)
    except (OSError, ValueError, AttributeError):
        return None


def extension_folders(path: str | Path) -> list[Path]:
    """The extensions of the sweep folder ``path``: sweep folders beside it named ``<name>-<pool>`` (e.g.
    ``results/cpu-crn/sweep-fashion-mnist-imb-1.65``) whose manifest says it extends ``<name>``
    (``"extends": "<name>"``, written by ``results/cpu-crn/extend.py``), each growing one pool to more trials than
    the grid of ``path`` holds. Another sweep that happens to be named alike is not one. Empty for anything else."""
    path = Path(path)
    if not (path / SWEEP_NAME).is_file():
        return []
    return sorted(p for p in path.parent.glob(glob.escape(path.name) + "-*") if _extends(p) == path.name)


def _finished(sources: str | Path) -> list[Results]:
    return [r for r in (finished_only(result) for result in load_results(sources)) if r is not None]


def _add_extension(kept: list[Results], extension: list[Results], folder: Path) -> list[Results]:
    """``kept`` plus the runs of ``extension`` it does not hold; a trial in both must be the same run (an
    extension starts with copies of the sweep's trials), else the two folders disagree and nothing is read."""
    held = {(result.config.get("dataset"), run["method"], run["trial"]): run for result in kept for run in result.runs}
    out = list(kept)
    for result in extension:
        new = []
        for run in result.runs:
            twin = held.get((result.config.get("dataset"), run["method"], run["trial"]))
            if twin is None:
                new.append(run)
            elif twin["cycles"] != run["cycles"]:
                raise ValueError(f"{folder} holds a different run of {run['method']} trial {run['trial']} on "
                                 f"{result.config.get('dataset')} than the sweep it extends: move one of them away")
        if new:
            out.append(result if len(new) == len(result.runs) else Results({**result.data, "runs": new}, result.path))
    return out


def load_evidence(path: str | Path, extensions: bool = True) -> Evidence:
    """The finished runs under ``path`` (a sweep folder or results files), with those of the sweep's extensions
    (:func:`extension_folders`: a trial held by both is read once; ``extensions=False``: the sweep's own grid
    alone, the trials it planned for every method), grouped by pool.

    Raises ``FileNotFoundError`` when there is no results file there and ``ValueError`` when none of its
    runs is finished yet."""
    kept = _finished(path)
    for folder in extension_folders(path) if extensions else []:
        kept = _add_extension(kept, _finished(folder), folder)
    if not kept:
        raise ValueError(f"no finished run under {path} yet: run your own, or wait for the sweep")
    return Evidence(Path(path), group_results(kept))


def shipped_evidence(start: str | Path | None = None, sweep: str = "crn", extensions: bool = True) -> Evidence | None:
    """:func:`load_evidence` of a shipped sweep (:data:`SHIPPED_SWEEPS`: ``crn`` by default, ``before-pairing``
    the first one; ``extensions=False``: its grid without the extensions), or None after printing why there is
    none here (no checkout of the repository, e.g. a pip install on Colab; no folder; no finished run yet)."""
    folder = shipped_results_dir(start, sweep)
    if folder is None:
        where = repository_root(start)
        print("No shipped results here: " + ("this notebook does not run inside a checkout of the repository "
                                             "(e.g. the package was pip-installed on Colab)" if where is None
                                             else f"{where / _sweep_folder(sweep)} does not exist")
              + ". Skip to 'Run your own'.")
        return None
    try:
        return load_evidence(folder, extensions)
    except (FileNotFoundError, ValueError) as error:
        print(f"No shipped results to show: {error}. Skip to 'Run your own'.")
        return None


def shipped_noise(start: str | Path | None = None) -> dict[str, NoiseFloor]:
    """The shipped noise-floor measurements (:data:`SHIPPED_NOISE`), by folder name (e.g. ``250-steps``,
    ``12-epochs``); empty when there is no checkout or no measurement."""
    root = repository_root(start)
    folder = None if root is None else root / SHIPPED_NOISE
    if folder is None or not folder.is_dir():
        return {}
    return {path.parent.name: read_noise(path) for path in sorted(folder.glob(f"*/{NOISE_NAME}"))}


def aulc_noise_floor(noise: NoiseFloor) -> tuple[float, float, int]:
    """The noise floor of the AULC: ``(mean, sd, n)`` of the area under the learning curve drawn by replicate
    ``k`` of every size of ``noise`` (k = 0 .. n - 1, n the fewest replicates of any size).

    Each size's replicates are trainings on one fixed labeled set that differ only in their seed, as every cycle
    of a run retrains from a fresh seed: the AULC of replicate k is what one run's AULC would be if its picks were
    those fixed sets, so its sd over k is how far AULC moves from training noise alone (percent, normalised by
    the labeled range as :func:`~tavaal_nb.analysis.stats.area_under_learning_curve` does)."""
    levels = [level for level in noise.levels if level.accuracies]
    n = min((len(level.accuracies) for level in levels), default=0)
    if len(levels) < 2 or n < 2:
        raise ValueError("an AULC noise floor needs at least two sizes with at least two replicates each")
    sizes = [level.size for level in levels]
    areas = [area_under_learning_curve(sizes, [level.accuracies[k] for level in levels]) for k in range(n)]
    mean, sd = mean_std(areas)
    return mean, sd, n
