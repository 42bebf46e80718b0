"""Phase 2's reading: every method against random, and TA-VAAL against every baseline, fixed before phase 2 ran.

The rule (results/cpu-crn/README.md, "Phase 2's reading"; written 2026-12-07 while the 1.65 pool's extension ran,
before any run of entropy, margin, core-set, BADGE, VAAL or Learning Loss existed in this sweep). Secondary to the
course's question (``verdict.py``); per pool, on the PLANNED trials every method holds (the grid in ``sweep/``, not
the 1.65 pool's extension), the AULC alone (no per-size rows), two families:

1. ``against random``: each of the seven other methods minus random (7 comparisons): does any strategy pick
   better than random here?
2. ``TA-VAAL against each baseline``: TA-VAAL minus each of the six others but random (6 comparisons): the
   paper's claim that TA-VAAL beats them.

Each family's intervals are 95 % simultaneous over its own comparisons (Bonferroni), p values Holm-adjusted, read
against the pool's measured AULC noise floor (``Evidence.noise_floors``) and the +-MARGIN points the trials were
planned for: ``<method> ahead``, ``equal within +-1 points`` or ``not settled``
(:func:`tavaal_nb.analysis.multiplicity.margin_reading`). The trial count was planned for TA-VAAL - random's
spread; a pair whose differences spread further can end not settled, and is reported so. Until every method holds
the planned trials in a pool, its lines are interim.

Usage: python results/cpu-crn/all_methods.py [SWEEP]   (default results/cpu-crn/sweep)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tavaal_nb.analysis.evidence import load_evidence, shipped_noise
from tavaal_nb.analysis.multiplicity import comparison_family, family_header, margin_reading
from tavaal_nb.analysis.stats import trial_count

HERE = Path(__file__).resolve().parent
MARGIN = 1.0
METHODS = ["random", "tavaal", "entropy", "margin", "coreset", "badge", "vaal", "lloss"]
FAMILIES = {
    "against random": [(m, "random") for m in METHODS if m != "random"],
    "TA-VAAL against each baseline": [("tavaal", m) for m in METHODS if m not in ("random", "tavaal")],
}


def main(argv: list[str]) -> int:
    sweep = Path(argv[0]) if argv else HERE / "sweep"
    planned = json.loads((HERE / "plan.json").read_text())["trials"]
    noise = shipped_noise(HERE)
    pools = sorted(p for p in sweep.iterdir() if p.is_dir())
    if not pools:
        raise SystemExit(f"no pool folder under {sweep}: give the sweep folder (e.g. results/cpu-crn/sweep)")
    for folder in pools:
        evidence = load_evidence(folder)  # the pool's own grid: its extension is not read here
        for pool in evidence.pools:
            held = evidence.trials(pool)
            floor = evidence.noise_floors(noise).get(pool)
            status = ("final" if all(held.get(m, 0) >= planned for m in METHODS) else
                      "interim: " + ", ".join(f"{m} {held.get(m, 0)}" for m in METHODS) + f" of {planned} trials")
            print(f"== {pool} ({status}; AULC noise floor "
                  + (f"{floor:.2f})" if floor is not None else "not measured)"))
            for name, pairs in FAMILIES.items():
                missing = sorted({m for pair in pairs for m in pair} - set(held))
                print(f"\n{name} ({len(pairs)} AULC comparisons)")
                if missing:  # a smaller family would be corrected over fewer comparisons than the rule fixes
                    print(f"  waits for a finished run of {', '.join(missing)}.")
                    continue
                rows = comparison_family(evidence.pools[pool], pairs, noise_floor=floor, sizes=False)
                print(f"  {family_header(rows)}.\n  {rows[0].label}, each a - b:")
                for row in rows:
                    print(f"  {row.method_a} - {row.method_b}: {row.mean_difference:+.2f} points "
                          f"[{row.low:+.2f}, {row.high:+.2f}], Holm-adjusted p = {row.p_holm:.2f}, "
                          f"{trial_count(row.trials)}: {margin_reading(row, MARGIN)}")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
