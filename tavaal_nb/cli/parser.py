"""The command line's parser: every sub-command, its flags and its handler (:mod:`tavaal_nb.cli.commands`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tavaal_nb.cli.commands import (
    cmd_bench,
    cmd_demo,
    cmd_list,
    cmd_noise,
    cmd_report,
    cmd_run,
    cmd_sweep,
    cmd_upper_bound,
)
from tavaal_nb.cli.flags import (
    NOISE_FIXED,
    RUN_FIXED,
    UPPER_BOUND_FIXED,
    add_config_flags,
    add_plugin_flag,
    labeled_sizes,
    levels,
    out_folder,
    parallel_trials,
    positive_int,
)
from tavaal_nb.config import PRESET_HELP
from tavaal_nb.sweep import AUTO, RESERVED

__all__ = ["build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tavaal_nb",
                                     description="TA-VAAL and baselines: active-learning runs, reports and benchmarks.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an active-learning experiment")
    run.add_argument("--method", action="append", help="method name(s), comma-separated or repeated (see `methods`)")
    run.add_argument("--preset", default=None, help=f"one of {', '.join(PRESET_HELP)} (default: $TAVAAL_PRESET or auto)")
    run.add_argument("--out", required=True, type=out_folder, help="results directory (results.json goes there)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out after its last finished cycle")
    run.add_argument("--overwrite", action="store_true", help="start again in --out (the old results file is kept as a backup)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--parallel-trials", type=parallel_trials, default=AUTO, metavar="N",
                     help="auto or a positive integer: run N trials at once, each in its own process on the same "
                          "device; auto (default): on CUDA as many as the GPU's free memory holds (at most one per "
                          "CPU core and per trial), on the CPU 1 (one after another, in this process); "
                          "results.json is the same, the trials' own runs live in OUT/trials/ until all are done")
    add_plugin_flag(run, runs=True)
    add_config_flags(run, RUN_FIXED, "overrides of the preset (default: the preset's value)")
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser(
        "sweep", help="every (dataset, method, trial) of a grid, locally or on dask; resumable",
        description="One ordinary run per (dataset, method, trial) under --out/<dataset>/<method>/trial-<k>/, "
                    "plus --out/sweep.json. Finished runs are never recomputed; --resume continues.")
    sweep.add_argument("--datasets", action="append", help="dataset name(s), comma-separated (see `datasets`)")
    sweep.add_argument("--methods", action="append", help="method name(s), comma-separated (see `methods`)")
    sweep.add_argument("--trials", type=int, default=None, help="trials per (dataset, method) (default: the preset's)")
    sweep.add_argument("--seed", type=int, default=None, help="the sweep seed (default: the preset's, 0)")
    sweep.add_argument("--preset", default=None, help=f"one of {', '.join(PRESET_HELP)} (default: $TAVAAL_PRESET or auto)")
    sweep.add_argument("--out", required=True, type=out_folder, help="the sweep directory")
    sweep.add_argument("--resume", action="store_true",
                       help="continue the sweep in --out: finished runs are kept, the rest run (datasets, "
                            "methods and trials may be added; without --datasets/--methods the stored ones)")
    sweep.add_argument("--executor", choices=("local", "dask"), default="local",
                       help="local: a process per GPU (or this process); dask: a dask.distributed cluster")
    sweep.add_argument("--scheduler", default=None, help="dask scheduler address, e.g. tcp://host:8786 "
                                                         "(default: a LocalCluster on 127.0.0.1)")
    sweep.add_argument("--workers", type=parallel_trials, default=AUTO, metavar="N",
                       help="auto or a positive integer. local: processes (auto, the default: on each GPU as many "
                            "runs as its free memory holds, else one per GPU, or this process on the CPU); "
                            "dask: LocalCluster workers (auto: one per GPU, or half the CPU cores)")
    sweep.add_argument("--gpus", default=None, help="local: GPU ids, one process each (default: every visible GPU)")
    sweep.add_argument("--retries", type=int, default=2, help="attempts after a failure, per task (default 2)")
    sweep.add_argument("--quiet", action="store_true", help="only the summary")
    add_plugin_flag(sweep, runs=True)
    add_config_flags(sweep, RESERVED, "overrides of the preset, for every run (default: the preset's value)")
    sweep.set_defaults(func=cmd_sweep)

    report = sub.add_parser("report", help="tables and an HTML report from results files or directories")
    report.add_argument("sources", nargs="+", help="results.json files or directories (searched recursively)")
    report.add_argument("--html", type=Path, help="write an HTML report here")
    report.add_argument("--overwrite", action="store_true", help="replace an existing HTML file")
    add_plugin_flag(report)
    report.set_defaults(func=cmd_report)

    upper = sub.add_parser("upper-bound", help="the full-pool upper bound: a plain task model on every pool image",
                           description="Train the plain task model (no Ranker) on the whole pool with the preset's "
                                       "schedule; OUT/upper_bound.json is drawn as a dashed line by `report` and "
                                       "LearningCurves for results beside it.")
    upper.add_argument("--dataset", required=True, help="dataset name (see `datasets`)")
    upper.add_argument("--preset", default=None, help=f"one of {', '.join(PRESET_HELP)} (default: $TAVAAL_PRESET or auto)")
    upper.add_argument("--trials", type=positive_int, default=1, help="task models trained, each its own seed (default 1)")
    upper.add_argument("--out", required=True, type=out_folder, help="directory of upper_bound.json (e.g. the results directory)")
    upper.add_argument("--overwrite", action="store_true",
                       help="replace an existing upper_bound.json (the old file is kept as a backup)")
    upper.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_flags(upper, UPPER_BOUND_FIXED, "overrides of the preset (default: the preset's value)")
    upper.set_defaults(func=cmd_upper_bound)

    noise = sub.add_parser("noise", help="the noise floor: one labeled set per size, K trainings that differ "
                                         "only in their seed",
                           description="Fix one labeled set at each labeled size of the preset (nested sets), train "
                                       "--replicates task models on it that differ only in their seed, and report "
                                       "the replicates' test accuracy: mean, sample sd and range per size. A "
                                       "difference between methods smaller than this spread is no difference. "
                                       "OUT/noise.json is written after every training; --resume continues it.")
    noise.add_argument("--dataset", required=True, help="dataset name (see `datasets`)")
    noise.add_argument("--preset", default=None, help=f"one of {', '.join(PRESET_HELP)} (default: $TAVAAL_PRESET or auto)")
    noise.add_argument("--method", default="random", help="the method whose task model is trained (a Ranker too "
                                                          "for lloss, tavaal, ...; default random: the plain model)")
    noise.add_argument("--replicates", type=positive_int, default=5, help="trainings per labeled set (default 5)")
    noise.add_argument("--sizes", type=labeled_sizes, default=None,
                       help="labeled-set sizes, comma-separated (default: the preset's cycle sizes)")
    noise.add_argument("--out", required=True, type=out_folder, help="directory of noise.json")
    noise.add_argument("--resume", action="store_true", help="continue the measurement in --out")
    noise.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_plugin_flag(noise)
    add_config_flags(noise, NOISE_FIXED, "overrides of the preset (default: the preset's value)")
    noise.set_defaults(func=cmd_noise)

    demo = sub.add_parser("demo", help="TA-VAAL vs random on Fashion-MNIST (or synthetic), cpu preset")
    demo.add_argument("--out", default="runs/demo", help="results directory (default runs/demo; resumed if present)")
    demo.add_argument("--preset", default=None, help="default: cpu")
    demo.add_argument("--device", default=None, help="auto, cpu or cuda")
    demo.add_argument("--data-dir", default=None)
    demo.add_argument("--no-progress", action="store_true")
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="per-phase speed at a preset's sizes on synthetic data")
    bench.add_argument("--preset", default="paper")
    bench.add_argument("--dataset", default="synthetic", help="its image shape is used (synthetic: CIFAR-shaped)")
    bench.add_argument("--device", default=None, help="auto, cpu or cuda")
    bench.add_argument("--steps", type=positive_int, default=None,
                       help="timed steps per phase (default 50 on CUDA, 3 on CPU)")
    bench.add_argument("--baseline", action="store_true",
                       help="also time the public code's pipeline (PIL DataLoader, fp32, r per iteration) and print speedups")
    bench.add_argument("--ablation", action="store_true",
                       help="time the phases under cumulative switches (fp32/contiguous/plain optimizers, + bf16, "
                            "+ channels_last, + fused optimizers, + CUDA graphs, + autocast weight cache, "
                            "torch.compile instead of graphs) beside the predicted speedups")
    bench.add_argument("--cuda-graphs", choices=("auto", "on", "off"), default=None,
                       help="capture training steps as CUDA graphs (default: the preset's, auto)")
    bench.add_argument("--epoch-overhead", type=levels, default=(), metavar="N,N,...",
                       help="also measure a task epoch's cost beyond its images at these labeled counts "
                            "(e.g. 1000,4000); the trial estimate uses it")
    bench.add_argument("--concurrency", type=levels, default=None, metavar="N,N,...",
                       help="trials per hour with N bench processes sharing the device, for each N (e.g. 1,2,4,8): "
                            "each times the phases at once with the others, its rates predict a trial")
    bench.add_argument("--json", type=Path, help="also write the figures as JSON")
    bench.set_defaults(func=cmd_bench)

    for kind, text in (("datasets", "list dataset names"), ("methods", "list method names"), ("presets", "list presets")):
        listing = sub.add_parser(kind, help=text)
        add_plugin_flag(listing)
        listing.set_defaults(func=lambda _args, _kind=kind: cmd_list(_kind))
    return parser
