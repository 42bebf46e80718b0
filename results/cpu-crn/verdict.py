"""The course's question, answered from this sweep: is TA-VAAL's AULC above random's, per pool?

Prints what the README's verdict is copied from: the sweep's banner, the AULC noise floor of the 250-step schedule
(``noise/250-steps``), one verdict line per pool (:meth:`tavaal_nb.analysis.evidence.Evidence.verdict`: the AULC
interval simultaneous over the pool's 6 comparisons, read against the floor and the +-1-point margin the trial count
was planned for) and the whole family of comparisons behind it.

Usage: python results/cpu-crn/verdict.py [SWEEP] [--methods A,B]   (default results/cpu-crn/sweep, tavaal,random)
"""

from __future__ import annotations

import sys
from pathlib import Path

from tavaal_nb.analysis.evidence import aulc_noise_floor, load_evidence
from tavaal_nb.noise import NOISE_NAME, read_noise

HERE = Path(__file__).resolve().parent
MARGIN = 1.0  # the half-width plan.py plans the trials for: "equal" means the whole interval lies inside +-1 point


def main(argv: list[str]) -> int:
    methods = ["tavaal", "random"]
    if "--methods" in argv:
        methods = argv[argv.index("--methods") + 1].split(",")
        argv = argv[: argv.index("--methods")] + argv[argv.index("--methods") + 2:]
    if len(methods) != 2:
        raise SystemExit(f"--methods takes two method names, e.g. tavaal,random; got {','.join(methods)}")
    evidence = load_evidence(Path(argv[0]) if argv else HERE / "sweep")
    _, floor, replicates = aulc_noise_floor(read_noise(HERE / "noise" / "250-steps" / NOISE_NAME))
    print(evidence)
    print(f"\nAULC noise floor (250 steps, {replicates} replicates): {floor:.2f} points\n")
    for pool, line in evidence.verdict(*methods, noise_floor=floor, margin=MARGIN).items():
        print(f"{pool}: {line}")
    for pool, sentence in evidence.comparisons(*methods, noise_floor=floor).items():
        print(f"\n{pool}:\n{sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
