"""How many trials the common-random-numbers sweep runs: the rule, fixed before any comparison was read.

Rule (results/cpu-crn/README.md, "How many trials"): after the pilot (the first PILOT trials of random and TA-VAAL
on both pools), take the per-trial paired differences AULC(TA-VAAL) - AULC(random), pool their sample sd over the
two pools (each pool's differences about its own mean), and run the fewest trials whose interval on that
difference has a half-width of at most HALF_WIDTH points as the notebooks and `report` print it: a 95 % interval
simultaneous over the FAMILY comparisons shown for one pool (the AULC and the five labeled sizes), never fewer
than FLOOR. Until the pilot is complete it says how far it is and plans nothing.

Extension (rule added 2026-12-06 before the planned trials were all run or read; README, "Each pool to +-1"):
issue 26 asks for a +-1-point interval on *each* pool, and pooling the two pools' variance let the noisier pool
fall short. So once every pool holds the planned trials, take each pool's own sample sd of the per-trial
differences over those trials and give the pool ``n = trials_for_half_width(sd, HALF_WIDTH, 0.95, FAMILY)``
trials (never fewer than planned, at most EXTENSION_CAP). The rule uses the spread of the differences, never their
mean (an internal pilot: Wittes and Brittain, Statistics in Medicine 1990), and is applied once: the pool's verdict
is read at its ``n``, whatever it shows.

Usage: python results/cpu-crn/plan.py [SWEEP]   (default results/cpu-crn/sweep); prints the plan, and with
--write stores it in plan.json beside this file (run.sh reads TRIALS from there).
       python results/cpu-crn/plan.py --extension [SWEEP] [--write]: the extension, stored in extension.json.
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
EXTENSION_CAP = 80  # trials a pool may grow to (at about 4.5 minutes per trial of the two methods: 6 hours)
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


def extension(sweep: Path, planned: int) -> dict:
    """Each pool's own trial count from its own sd over the ``planned`` trials (the rule in the docstring)."""
    evidence = load_evidence(sweep)
    out: dict = {"planned_trials": planned, "half_width": HALF_WIDTH, "family": FAMILY, "cap": EXTENSION_CAP,
                 "pools": {}}
    for pool, members in evidence.pools.items():
        a, b = per_trial_aulc(members, "tavaal"), per_trial_aulc(members, "random")
        trials = sorted(t for t in set(a) & set(b) if t < planned)
        if len(trials) < planned:
            out["status"] = f"{pool}: {len(trials)} of the {planned} planned trials finished; no extension yet"
            return out
        differences = [a[t] - b[t] for t in trials]
        mean = sum(differences) / len(differences)
        sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (len(differences) - 1))
        needed = trials_for_half_width(sd, HALF_WIDTH, 0.95, FAMILY)
        out["pools"][pool] = {"sd": round(sd, 4), "needed": needed,
                              "trials": min(EXTENSION_CAP, max(planned, needed))}
    out["status"] = "planned"
    return out


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a not in ("--write", "--extension")]
    sweep_dir = Path(args[0]) if args else HERE / "sweep"
    if "--extension" in sys.argv:
        planned = json.loads((HERE / "plan.json").read_text())["trials"]
        result, name = extension(sweep_dir, planned), "extension.json"
    else:
        result, name = plan(sweep_dir), "plan.json"
    print(json.dumps(result, indent=1))
    if "--write" in sys.argv and result["status"] == "planned":
        (HERE / name).write_text(json.dumps(result, indent=1) + "\n")
