"""Phase 2's reading: every method against random, and TA-VAAL against every baseline, fixed before phase 2 ran.

The rule (results/cpu-crn/README.md, "Phase 2's reading"; written 2026-12-07 while the 1.65 pool's extension ran,
before any run of entropy, margin, core-set, BADGE, VAAL or Learning Loss existed in this sweep). Secondary to the
course's question (``verdict.py``); per pool, on the PLANNED trials every method holds (the grid in ``sweep/``, not
the 1.65 pool's extension), the AULC alone (no per-size rows), two families
(:data:`tavaal_nb.analysis.evidence.ALL_METHODS_FAMILIES`):

1. ``against random``: each of the seven other methods minus random (7 comparisons): does any strategy pick
   better than random here?
2. ``TA-VAAL against each baseline``: TA-VAAL minus each of the six others but random (6 comparisons): the
   paper's claim that TA-VAAL beats them.

Each family's intervals are 95 % simultaneous over its own comparisons (Bonferroni), p values Holm-adjusted, read
against the pool's measured AULC noise floor (``Evidence.noise_floors``) and the +-MARGIN points the trials were
planned for: ``<method> ahead``, ``equal within +-1 points`` or ``not settled``
(:meth:`tavaal_nb.analysis.evidence.Evidence.families`). The trial count was planned for TA-VAAL - random's
spread; a pair whose differences spread further can end not settled, and is reported so. Until every method of a
family holds the planned trials in a pool, its lines are interim, and say so.

Usage: python results/cpu-crn/all_methods.py [SWEEP]   (default results/cpu-crn/sweep)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tavaal_nb.analysis.evidence import ALL_METHODS_FAMILIES, SHIPPED_METHODS, load_evidence, shipped_noise

HERE = Path(__file__).resolve().parent
MARGIN = 1.0


def main(argv: list[str]) -> int:
    sweep = Path(argv[0]) if argv else HERE / "sweep"
    planned = json.loads((HERE / "plan.json").read_text())["trials"]
    try:
        evidence = load_evidence(sweep, extensions=False)  # the planned grid: the 1.65 pool's extension is not read
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"{error}: give the sweep folder (e.g. results/cpu-crn/sweep)") from None
    if evidence.planned_trials() != planned:
        raise SystemExit(f"{sweep} is a grid of {evidence.planned_trials()} trials, not the {planned} that plan.json "
                         "fixed: give the planned sweep (e.g. results/cpu-crn/sweep)")
    floors = evidence.noise_floors(shipped_noise(HERE))
    readings = evidence.families(ALL_METHODS_FAMILIES, noise_floor=floors, margin=MARGIN)
    for pool, text in readings.items():
        held = evidence.trials(pool)
        status = ("final" if all(held.get(m, 0) >= planned for m in SHIPPED_METHODS) else
                  "interim: " + ", ".join(f"{m} {held.get(m, 0)}" for m in SHIPPED_METHODS) + f" of {planned} trials")
        floor = floors.get(pool)
        print(f"== {pool} ({status}; AULC noise floor " + (f"{floor:.2f})" if floor is not None else "not measured)"))
        print(text, end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
