"""The course's question, answered from this sweep: is TA-VAAL's AULC above random's, per pool?

Prints what the README's verdict is copied from: the sweep's banner, each pool's AULC noise floor (measured on
that pool with the sweep's schedule: ``noise/250-steps`` for the balanced pool, ``noise/250-steps-imb-1.65`` for the
1.65 pool; :meth:`tavaal_nb.analysis.evidence.Evidence.noise_floors`), one verdict line per pool (:meth:`tavaal_nb.analysis.evidence.Evidence.verdict`: the AULC
interval simultaneous over the pool's 6 comparisons, read against the floor and the +-1-point margin the trial count
was planned for, and whether the pool holds the trials planned for it: `plan.json`, and `extension.json` once
written: until then a reading is interim) and the whole family of comparisons behind it. The sweep is read with its
extensions (`sweep-<pool>/`, :func:`tavaal_nb.analysis.evidence.extension_folders`).

Usage: python results/cpu-crn/verdict.py [SWEEP] [--methods A,B]   (default results/cpu-crn/sweep, tavaal,random)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tavaal_nb.analysis.evidence import load_evidence, shipped_noise

HERE = Path(__file__).resolve().parent
MARGIN = 1.0  # the half-width plan.py plans the trials for: "equal" means the whole interval lies inside +-1 point


def planned_trials() -> dict[str, int] | int:
    """Trials planned per pool (extension.json), or for every pool (plan.json) while there is no extension yet."""
    extension = HERE / "extension.json"
    if extension.is_file():
        return {pool: v["trials"] for pool, v in json.loads(extension.read_text())["pools"].items()}
    return json.loads((HERE / "plan.json").read_text())["trials"]


def main(argv: list[str]) -> int:
    methods = ["tavaal", "random"]
    if "--methods" in argv:
        methods = argv[argv.index("--methods") + 1].split(",")
        argv = argv[: argv.index("--methods")] + argv[argv.index("--methods") + 2:]
    if len(methods) != 2:
        raise SystemExit(f"--methods takes two method names, e.g. tavaal,random; got {','.join(methods)}")
    evidence = load_evidence(Path(argv[0]) if argv else HERE / "sweep")
    floors = evidence.noise_floors(shipped_noise(HERE))  # each pool's own, measured on its data with its schedule
    print(evidence)
    print()
    for pool in evidence.pools:
        print(f"AULC noise floor, {pool}: " + (f"{floors[pool]:.2f} points" if pool in floors else
                                                "not measured (no finished noise measurement of this pool)"))
    print()
    planned = planned_trials()
    for pool, line in evidence.verdict(*methods, noise_floor=floors, margin=MARGIN).items():
        n = planned.get(pool) if isinstance(planned, dict) else planned
        held = min(evidence.trials(pool).get(m, 0) for m in methods)
        final = isinstance(planned, dict) and n is not None and held >= n
        status = (f"the {n} planned trials: final" if final else
                  f"interim, {held} of the {n} trials planned" + ("" if isinstance(planned, dict) else
                                                                  " before the extension (plan.py --extension)"))
        print(f"{pool} ({status}): {line}")
    for pool, sentence in evidence.comparisons(*methods, noise_floor=floors).items():
        print(f"\n{pool}:\n{sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
