"""How many trials the common-random-numbers sweep runs: the rule, fixed before any comparison was read.

Rule (results/cpu-crn/README.md, "How many trials"): after the pilot (the first PILOT trials of random and TA-VAAL
on both pools), take the per-trial paired differences AULC(TA-VAAL) - AULC(random), pool their sample sd over the
two pools (each pool's differences about its own mean), and run the fewest trials whose interval on that
difference has a half-width of at most HALF_WIDTH points as the notebooks and `report` print it: a 95 % interval
simultaneous over the FAMILY comparisons shown for one pool (the AULC and the five labeled sizes), never fewer
than FLOOR. Until the pilot is complete it says how far it is and plans nothing.

Usage: python results/cpu-crn/plan.py [SWEEP]   (default results/cpu-crn/sweep); prints the plan, and with
--write stores it in plan.json beside this file (run.sh reads TRIALS from there).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from tavaal_nb.analysis.evidence import load_evidence
from tavaal_nb.analysis.multiplicity import trials_for_half_width
from tavaal_nb.analysis.stats import per_trial_aulc

PILOT = 5
HALF_WIDTH = 1.0
FAMILY = 6
FLOOR = 10
HERE = Path(__file__).resolve().parent


def plan(sweep: Path) -> dict:
    evidence = load_evidence(sweep)
    deviations, per_pool = [], {}
    for pool, members in evidence.pools.items():
        a, b = per_trial_aulc(members, "tavaal"), per_trial_aulc(members, "random")
        trials = sorted(t for t in set(a) & set(b) if t < PILOT)
        differences = [a[t] - b[t] for t in trials]
        per_pool[pool] = {"trials": trials, "differences": [round(d, 4) for d in differences]}
        if differences:
            mean = sum(differences) / len(differences)
            deviations.extend(d - mean for d in differences)
    done = min((len(v["trials"]) for v in per_pool.values()), default=0) if len(per_pool) >= 2 else 0
    out = {"pilot_trials": PILOT, "half_width": HALF_WIDTH, "family": FAMILY, "floor": FLOOR, "pools": per_pool}
    if len(per_pool) < 2 or done < PILOT:
        out["status"] = f"pilot: {done} of {PILOT} trials finished in every pool; no plan yet"
        return out
    dof = len(deviations) - len(per_pool)
    sd = math.sqrt(sum(d * d for d in deviations) / dof)
    out.update(sd=round(sd, 4), trials=max(FLOOR, trials_for_half_width(sd, HALF_WIDTH, 0.95, FAMILY)),
               status="planned")
    return out


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--write"]
    result = plan(Path(args[0]) if args else HERE / "sweep")
    print(json.dumps(result, indent=1))
    if "--write" in sys.argv and result["status"] == "planned":
        (HERE / "plan.json").write_text(json.dumps(result, indent=1) + "\n")
