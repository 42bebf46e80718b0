"""Start the extension of one pool (plan.py --extension): a sweep folder of its own, ``sweep-<pool>/``.

The engine's sweeps are grids (every dataset has the same trials), so a pool that needs more trials than the other
grows in a sweep folder of its own. This starts it holding the pool's first ``planned`` trials of random and
TA-VAAL, copied byte for byte from the main sweep (same preset, seed, dataset, method and trial: the same tasks), and
a manifest the engine writes (:class:`tavaal_nb.sweep.manifest.Sweep`) that marks them finished and says which
sweep it extends (``"extends": "sweep"``: the engine keeps the key; the read side needs it); ``run.sh`` then
grows it with ``sweep --resume`` one trial at a time. An existing extension folder is left as it is.

Usage: python results/cpu-crn/extend.py SWEEP POOL PLANNED OUT
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tavaal_nb.sweep.grid import SweepSpec
from tavaal_nb.sweep.manifest import Sweep

METHODS = ("random", "tavaal")


def start_extension(sweep: Path, pool: str, planned: int, out: Path) -> Path:
    if out.exists():
        return out
    stored = Sweep.load(sweep).spec
    spec = SweepSpec(datasets=(pool,), methods=METHODS, trials=planned, preset=stored.preset,
                     overrides=dict(stored.overrides), seed=stored.seed)
    staging = out.with_name(out.name + ".partial")  # a copy stopped part-way never looks like a sweep
    shutil.rmtree(staging, ignore_errors=True)
    for task in spec.tasks():
        source = sweep / task.directory
        shutil.copytree(source, staging / task.directory, ignore=shutil.ignore_patterns(".tavaal-nb.lock"))
    extension = Sweep.new(spec, staging)
    extension.data["extends"] = sweep.name  # what makes it an extension (tavaal_nb.analysis.evidence.extension_folders)
    todo = extension.plan(spec)
    if todo:
        raise SystemExit(f"{sweep} does not hold the {planned} finished trials of {pool} to copy: "
                         + ", ".join(task.id for task in todo))
    extension.save()
    staging.rename(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit("usage: python results/cpu-crn/extend.py SWEEP POOL PLANNED OUT")
    print(start_extension(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])))
