"""Command line: ``python -m tavaal_nb {run,sweep,report,upper-bound,demo,bench,datasets,methods,presets}``.

Every sub-command is wired here: its flags (the Config flags come from one helper,
:func:`_add_config_flags`) and its handler, which calls into the package.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import signal
import sys
import threading
import typing
import warnings
from collections.abc import Collection
from pathlib import Path

from tavaal_nb.analysis.report import accuracy_table, comparison_table, write_report
from tavaal_nb.bench.ablation import (
    ABLATION_COLUMNS,
    format_ablation,
    format_ablation_row,
    run_ablation,
    write_ablation_json,
)
from tavaal_nb.bench.concurrency import (
    CONCURRENCY_COLUMNS,
    format_concurrency,
    format_concurrency_row,
    run_concurrency,
    write_concurrency_json,
)
from tavaal_nb.bench.speed import format_table, run_bench, write_json
from tavaal_nb.config import PRESET_HELP, RENAMED_FIELDS, Config, make_config, renamed_fields
from tavaal_nb.data.datasets import DATASETS, DatasetNotFoundError, load_dataset
from tavaal_nb.loop import run_experiment
from tavaal_nb.noise import NOISE_NAME, measure_noise, noise_table
from tavaal_nb.preflight import check_names
from tavaal_nb.results import load_results
from tavaal_nb.strategies import get_strategy, load_plugins, strategy_names
from tavaal_nb.strategies.params import describe_params, parse_strategy_params
from tavaal_nb.sweep import (
    AUTO,
    RESERVED,
    SWEEP_NAME,
    TRIALS_DIR,
    Sweep,
    SweepSpec,
    auto_parallel_trials,
    parse_parallel_trials,
    run_parallel_trials,
    run_sweep,
    split_names,
)
from tavaal_nb.upper_bound import train_upper_bound, upper_bound_path

__all__ = ["main", "build_parser"]

NOT_FLAGS = ("strategy_params",)
"""Config fields without a ``--field`` flag of their own (``--strategy-param`` sets ``strategy_params``)."""
RUN_FIXED = ("preset", "methods")
"""Config fields `run` takes through its own flags (--preset, --method), not as overrides."""
UPPER_BOUND_FIXED = ("preset", "methods", "dataset", "trials", "first_trial", "cycles", "initial", "budget", "subset",
                     "retrain_plain")
"""Config fields `upper-bound` sets itself (its own flags) or does not use (the active-learning schedule)."""
NOISE_FIXED = ("preset", "methods", "dataset", "trials", "first_trial", "subset", "retrain_plain")
"""Config fields `noise` sets itself or does not use (`--initial`, `--budget` and `--cycles` give its sizes)."""


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (or the flag alone for true, its --no- form for "
                                     f"false), got {text!r}")


def _add_boolean_flag(group: argparse._ActionsContainer, flag: str, dest: str, help: str) -> None:
    """A boolean flag that reads like one: ``--flag`` is true, ``--no-flag`` false, and ``--flag true|false``
    (the older form) still works (any value :func:`_parse_bool` takes). Unset, ``dest`` is None."""
    group.add_argument(flag, dest=dest, nargs="?", const=True, type=_parse_bool, default=None, metavar="true|false",
                       help=help)
    group.add_argument("--no-" + flag[2:], dest=dest, action="store_false", default=None, help=f"{flag} false")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parallel_trials(text: str) -> int | str:
    try:
        return parse_parallel_trials(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        levels = ()
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas (e.g. 1,2,4,8), got {text!r}")
    return levels


@functools.cache
def _config_hints() -> dict[str, typing.Any]:
    """Config's field types, resolved once (``typing.get_type_hints`` compiles every annotation anew, and a
    parser asks for each of its ~170 flags)."""
    return typing.get_type_hints(Config)


def _flag_type(field: dataclasses.Field):
    hint = _config_hints()[field.name]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple:
        inner = args[0]
        return lambda text: tuple(inner(v) for v in text.split(",") if v.strip())
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        inner = next(a for a in args if a is not type(None))
        return lambda text: NONE_GIVEN if text.strip().lower() == "none" else inner(text)
    return hint


class _NoneGiven:
    """``--field none`` on the command line: refused by :func:`_overrides` with one line (an unset flag is
    None, so a ``none`` would otherwise be dropped silently and the preset's value used)."""

    def __repr__(self) -> str:
        return "none"


NONE_GIVEN = _NoneGiven()


def _add_config_flags(parser: argparse.ArgumentParser, exclude: Collection[str], title: str) -> None:
    """One ``--field`` flag per Config field not in ``exclude`` (default None: the preset's value)."""
    group = parser.add_argument_group(title)
    fields = {field.name: field for field in dataclasses.fields(Config)}
    for field in fields.values():
        if field.name in exclude or field.name in NOT_FLAGS:
            continue
        shown = ",".join(map(str, field.default)) if isinstance(field.default, tuple) else field.default
        flag = "--" + field.name.replace("_", "-")
        if _config_hints()[field.name] is bool:
            _add_boolean_flag(group, flag, field.name, f"alone: true (paper: {str(shown).lower()})")
        else:
            group.add_argument(flag, dest=field.name, type=_flag_type(field), default=None,
                               metavar=field.name.upper(), help=f"(paper: {shown})")
    for old, new in RENAMED_FIELDS.items():  # old names still work (renamed_fields warns), not listed in --help
        if new not in exclude:
            group.add_argument("--" + old.replace("_", "-"), dest=old, type=_flag_type(fields[new]), default=None,
                               help=argparse.SUPPRESS)


def _overrides(args: argparse.Namespace, exclude: Collection[str]) -> dict[str, typing.Any]:
    """The Config flags given on the command line (those not given are None: left out).

    ``--FIELD none`` is refused (ValueError naming the flag): leaving the flag out is how to keep the preset's
    value, and a preset's number cannot be unset from the command line (``vae_iterations``: leave it out and
    give ``--vae-epochs`` only on presets that do not fix it, or give the count).
    """
    names = [f.name for f in dataclasses.fields(Config)] + list(RENAMED_FIELDS)
    chosen = renamed_fields({name: getattr(args, name) for name in names
                             if name not in exclude and getattr(args, name, None) is not None})
    for name, value in chosen.items():
        if value is NONE_GIVEN:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} none is not accepted: give {flag} a value, or leave {flag} out to "
                             "keep the preset's value (`python -m tavaal_nb presets` lists them)")
    return chosen


def _strategy_params(args: argparse.Namespace, methods: tuple[str, ...]) -> dict[str, dict[str, typing.Any]]:
    """``--strategy-param``'s values for a command running ``methods`` (an unknown method is one line)."""
    return parse_strategy_params(args.strategy_param, methods, {m: get_strategy(m) for m in methods})


def _cmd_run(args: argparse.Namespace) -> int:
    config = make_config(args.preset, methods=split_names(args.method) or None, **_overrides(args, RUN_FIXED))
    if args.strategy_param:
        config = config.replace(strategy_params=_strategy_params(args, config.methods))
    check_names(config)
    parallel = args.parallel_trials
    if parallel == AUTO:  # as many trials at once as the GPU's free memory holds; 1 on the CPU
        parallel = auto_parallel_trials(config, config.trials, config.resolved_device())
    leftover = (Path(args.out) / TRIALS_DIR).is_dir()
    if parallel == 1 and leftover and args.resume:
        print(f"{Path(args.out) / TRIALS_DIR} holds the per-trial runs of a --parallel-trials run: "
              "continuing them in one worker process")
    print(f"preset {config.preset}, dataset {config.dataset}, methods {', '.join(config.methods)}, "
          f"{config.trials} trial(s) x {config.cycles} cycles, device {config.resolved_device()}"
          + (f", {parallel} trials at a time (one process each)" if parallel > 1 else ""))
    if parallel > 1 or leftover:
        results = run_parallel_trials(config, args.out, parallel, resume=args.resume, overwrite=args.overwrite,
                                      progress=not args.no_progress, allow_changed_plugin=args.allow_changed_plugin)
    else:
        results = run_experiment(config, args.out, resume=args.resume, overwrite=args.overwrite,
                                 progress=not args.no_progress, allow_changed_plugin=args.allow_changed_plugin)
    print(f"results: {results.path}")
    print(accuracy_table([results]))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    overrides = _overrides(args, RESERVED)
    stored_spec = Sweep.load(args.out).spec if args.resume and (Path(args.out) / SWEEP_NAME).is_file() else None
    methods = split_names(args.methods) or (stored_spec.methods if stored_spec is not None else ())
    if args.strategy_param:
        overrides["strategy_params"] = _strategy_params(args, methods)
    if stored_spec is not None:
        # what this command does not say is taken from the stored sweep (so repeating the
        # original command, or just `--out DIR --resume`, continues it as it was)
        stored = stored_spec
        spec = SweepSpec(datasets=split_names(args.datasets) or stored.datasets,
                         methods=split_names(args.methods) or stored.methods,
                         trials=args.trials if args.trials is not None else stored.trials,
                         preset=args.preset or stored.preset, overrides={**stored.overrides, **overrides},
                         seed=args.seed if args.seed is not None else stored.seed)
    else:
        if not (args.datasets and args.methods):
            raise ValueError("give --datasets and --methods (or --resume to continue the sweep in --out)")
        spec = SweepSpec(datasets=split_names(args.datasets), methods=split_names(args.methods), trials=args.trials,
                         preset=args.preset, overrides=overrides, seed=args.seed)
    gpus = split_names(args.gpus) if args.gpus else None
    sweep = run_sweep(spec, args.out, args.executor, resume=args.resume, retries=args.retries, workers=args.workers,
                      scheduler=args.scheduler, gpus=gpus, log=None if args.quiet else print,
                      allow_changed_plugin=args.allow_changed_plugin)
    results = sweep.results()
    if results:
        print(accuracy_table(results))
    print(f"sweep: {sweep.path}")
    return 0 if not sweep.failed else 1


def _cmd_report(args: argparse.Namespace) -> int:
    results = load_results(args.sources)
    print(accuracy_table(results))
    print("\n" + comparison_table(results))
    if args.html:
        path = write_report(results, args.html, overwrite=args.overwrite)
        print(f"report: {path}")
    return 0


def _cmd_upper_bound(args: argparse.Namespace) -> int:
    config = make_config(args.preset, dataset=args.dataset, **_overrides(args, UPPER_BOUND_FIXED))
    check_names(config)
    path = upper_bound_path(args.out, overwrite=args.overwrite)
    print(f"upper bound: preset {config.preset}, dataset {config.dataset}, {args.trials} trial(s) on the whole pool, "
          f"device {config.resolved_device()}")
    bound = train_upper_bound(config, path, trials=args.trials, progress=not args.no_progress)
    print(f"full pool ({bound.train_size} images): test accuracy {bound.test_accuracy:.2f}% "
          f"(trials: {', '.join(f'{a:.2f}' for a in bound.accuracies)})\nupper bound: {path}")
    return 0


def _cmd_noise(args: argparse.Namespace) -> int:
    config = make_config(args.preset, dataset=args.dataset, **_overrides(args, NOISE_FIXED))
    sizes = [int(s) for s in split_names(args.sizes)] if args.sizes else None
    path = Path(args.out) / NOISE_NAME
    print(f"noise floor: preset {config.preset}, dataset {config.dataset}, method {args.method}, {args.replicates} "
          f"trainings per labeled set, device {config.resolved_device()}, writing {path}")
    noise = measure_noise(config, args.replicates, sizes, args.method, path, resume=args.resume,
                          progress=not args.no_progress)
    print(noise_table(noise))
    return 0


def _labeled_sizes(text: str) -> str:
    try:
        sizes = [int(s) for s in split_names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected labeled-set sizes such as 200,1000, got {text!r}") from None
    if not sizes or any(s < 2 for s in sizes):
        raise argparse.ArgumentTypeError(f"labeled-set sizes must be integers >= 2, got {text!r}")
    return text


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        data = load_dataset("fashion-mnist", args.data_dir, download=True)
        print(f"demo: real Fashion-MNIST found ({data.source})")
    except DatasetNotFoundError as error:
        print(f"demo: Fashion-MNIST is not available ({error}); using the synthetic dataset instead")
        data = None
    dataset = "fashion-mnist" if data is not None else "synthetic"
    preset = args.preset or "cpu"
    extra = {"train_limit": 12_000, "test_limit": 2_000} if dataset == "synthetic" else {}
    config = make_config(preset, dataset=dataset, methods=("tavaal", "random"), data_dir=args.data_dir,
                         device=args.device, **extra)
    out = Path(args.out)
    print(f"demo: TA-VAAL vs random, preset {config.preset}, {config.cycles} cycles, writing {out}")
    results = run_experiment(config, out, resume=True, progress=not args.no_progress)
    print(accuracy_table([results]))
    report = write_report([results], out / "report.html")
    print(f"results: {results.path}\nreport:  {report}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    switches = {"cuda_graphs": args.cuda_graphs} if args.cuda_graphs else {}
    config = make_config(args.preset, dataset=args.dataset, device=args.device, **switches)
    chosen = [flag for flag, on in (("--ablation", args.ablation), ("--baseline", args.baseline),
                                    ("--concurrency", args.concurrency)) if on]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)} are separate benchmarks: run them one after the other")
    streamed = {  # benchmark: (what, columns, run, format a row, format the table, write the JSON)
        "concurrency": ("concurrent trials", "level", CONCURRENCY_COLUMNS,
                        lambda **kw: run_concurrency(config, args.concurrency, **kw), format_concurrency_row,
                        format_concurrency, write_concurrency_json),
        "ablation": ("ablation", "row", ABLATION_COLUMNS, lambda **kw: run_ablation(config, **kw), format_ablation_row,
                     format_ablation, write_ablation_json),
    }
    for flag, (what, unit, columns, run, format_row, format_all, write) in streamed.items():
        if getattr(args, flag):
            print(f"{what}, preset {config.preset}, device {config.resolved_device()}: each {unit} as it is done\n"
                  + columns, flush=True)
            rows, meta = run(steps=args.steps, on_row=lambda row, _format=format_row: print(_format(row), flush=True))
            print()
            print(format_all(rows, meta))
            if args.json:
                write(rows, meta, args.json)
            return 0
    rows, meta = run_bench(config, steps=args.steps, baseline=args.baseline, epoch_overhead_at=args.epoch_overhead)
    print(format_table(rows, meta))
    if args.json:
        write_json(rows, meta, args.json)
    return 0


def _cmd_list(kind: str) -> int:
    if kind == "datasets":
        for spec in DATASETS.values():
            print(f"{spec.name:<28}{spec.help}")
    elif kind == "methods":
        width = max(map(len, strategy_names())) + 2
        for name in strategy_names():
            print(f"{name:<{width}}{get_strategy(name).help}")
            for line in describe_params(get_strategy(name)):
                print(f"{'':<{width}}parameter {line}")
    else:
        for name, text in PRESET_HELP.items():
            print(f"{name:<14}{text}")
    return 0


def _add_plugin_flag(parser: argparse.ArgumentParser, runs: bool = False) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE[:ATTR]",
                        help="import a strategy plug-in first (a module, module:attr, file.py or file.py:attr; "
                             "repeatable); its methods can then be named like the built-in ones")
    if runs:
        parser.add_argument("--strategy-param", action="append", default=[], metavar="[METHOD.]KEY=VALUE",
                            help="a declared parameter of a strategy (repeatable; `methods` lists them); KEY=VALUE "
                                 "sets it for every method of the command that declares KEY")
        parser.add_argument("--allow-changed-plugin", action="store_true",
                            help="--resume even though a plug-in's source file changed since the results were "
                                 "written (the new file's sha256 is recorded beside the old one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tavaal_nb",
                                     description="TA-VAAL and baselines: active-learning runs, reports and benchmarks.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an active-learning experiment")
    run.add_argument("--method", action="append", help="method name(s), comma-separated or repeated (see `methods`)")
    run.add_argument("--preset", default=None, help=f"one of {', '.join(PRESET_HELP)} (default: $TAVAAL_PRESET or auto)")
    run.add_argument("--out", required=True, type=_out_folder, help="results directory (results.json goes there)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out after its last finished cycle")
    run.add_argument("--overwrite", action="store_true", help="start again in --out (the old results file is kept as a backup)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--parallel-trials", type=_parallel_trials, default=AUTO, metavar="N",
                     help="auto or a positive integer: run N trials at once, each in its own process on the same "
                          "device; auto (default): on CUDA as many as the GPU's free memory holds (at most one per "
                          "CPU core and per trial), on the CPU 1 (one after another, in this process); "
                          "results.json is the same, the trials' own runs live in OUT/trials/ until all are done")
    _add_plugin_flag(run, runs=True)
    _add_config_flags(run, RUN_FIXED, "overrides of the preset (default: the preset's value)")
    run.set_defaults(func=_cmd_run)

    sweep = sub.add_parser(
        "sweep", help="every (dataset, method, trial) of a grid, locally or on dask; resumable",
        description="One ordinary run per (dataset, method, trial) under --out/<dataset>/<method>/trial-<k>/, "
                    "plus --out/sweep.json. Finished runs are never recomputed; --resume continues.")
    sweep.add_argument("--datasets", action="append", help="dataset name(s), comma-separated (see `datasets`)")
    sweep.add_argument("--methods", action="append", help="method name(s), comma-separated (see `methods`)")
    sweep.add_argument("--trials", type=int, default=None, help="trials per (dataset, method) (default: the preset's)")
    sweep.add_argument("--seed", type=int, default=None, help="the sweep seed (default: the preset's, 0)")
    sweep.add_argument("--preset", default=None, help=f"one of {', '.join(PRESET_HELP)} (default: $TAVAAL_PRESET or auto)")
    sweep.add_argument("--out", required=True, type=_out_folder, help="the sweep directory")
    sweep.add_argument("--resume", action="store_true",
                       help="continue the sweep in --out: finished runs are kept, the rest run (datasets, "
                            "methods and trials may be added; without --datasets/--methods the stored ones)")
    sweep.add_argument("--executor", choices=("local", "dask"), default="local",
                       help="local: a process per GPU (or this process); dask: a dask.distributed cluster")
    sweep.add_argument("--scheduler", default=None, help="dask scheduler address, e.g. tcp://host:8786 "
                                                         "(default: a LocalCluster on 127.0.0.1)")
    sweep.add_argument("--workers", type=_parallel_trials, default=AUTO, metavar="N",
                       help="auto or a positive integer. local: processes (auto, the default: on each GPU as many "
                            "runs as its free memory holds, else one per GPU, or this process on the CPU); "
                            "dask: LocalCluster workers (auto: one per GPU, or half the CPU cores)")
    sweep.add_argument("--gpus", default=None, help="local: GPU ids, one process each (default: every visible GPU)")
    sweep.add_argument("--retries", type=int, default=2, help="attempts after a failure, per task (default 2)")
    sweep.add_argument("--quiet", action="store_true", help="only the summary")
    _add_plugin_flag(sweep, runs=True)
    _add_config_flags(sweep, RESERVED, "overrides of the preset, for every run (default: the preset's value)")
    sweep.set_defaults(func=_cmd_sweep)

    report = sub.add_parser("report", help="tables and an HTML report from results files or directories")
    report.add_argument("sources", nargs="+", help="results.json files or directories (searched recursively)")
    report.add_argument("--html", type=Path, help="write an HTML report here")
    report.add_argument("--overwrite", action="store_true", help="replace an existing HTML file")
    _add_plugin_flag(report)
    report.set_defaults(func=_cmd_report)

    upper = sub.add_parser("upper-bound", help="the full-pool upper bound: a plain task model on every pool image",
                           description="Train the plain task model (no Ranker) on the whole pool with the preset's "
                                       "schedule; OUT/upper_bound.json is drawn as a dashed line by `report` and "
                                       "LearningCurves for results beside it.")
    upper.add_argument("--dataset", required=True, help="dataset name (see `datasets`)")
    upper.add_argument("--preset", default=None, help=f"one of {', '.join(PRESET_HELP)} (default: $TAVAAL_PRESET or auto)")
    upper.add_argument("--trials", type=_positive_int, default=1, help="task models trained, each its own seed (default 1)")
    upper.add_argument("--out", required=True, type=_out_folder, help="directory of upper_bound.json (e.g. the results directory)")
    upper.add_argument("--overwrite", action="store_true",
                       help="replace an existing upper_bound.json (the old file is kept as a backup)")
    upper.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_config_flags(upper, UPPER_BOUND_FIXED, "overrides of the preset (default: the preset's value)")
    upper.set_defaults(func=_cmd_upper_bound)

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
    noise.add_argument("--replicates", type=_positive_int, default=5, help="trainings per labeled set (default 5)")
    noise.add_argument("--sizes", type=_labeled_sizes, default=None,
                       help="labeled-set sizes, comma-separated (default: the preset's cycle sizes)")
    noise.add_argument("--out", required=True, type=_out_folder, help="directory of noise.json")
    noise.add_argument("--resume", action="store_true", help="continue the measurement in --out")
    noise.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_plugin_flag(noise)
    _add_config_flags(noise, NOISE_FIXED, "overrides of the preset (default: the preset's value)")
    noise.set_defaults(func=_cmd_noise)

    demo = sub.add_parser("demo", help="TA-VAAL vs random on Fashion-MNIST (or synthetic), cpu preset")
    demo.add_argument("--out", default="runs/demo", help="results directory (default runs/demo; resumed if present)")
    demo.add_argument("--preset", default=None, help="default: cpu")
    demo.add_argument("--device", default=None, help="auto, cpu or cuda")
    demo.add_argument("--data-dir", default=None)
    demo.add_argument("--no-progress", action="store_true")
    demo.set_defaults(func=_cmd_demo)

    bench = sub.add_parser("bench", help="per-phase speed at a preset's sizes on synthetic data")
    bench.add_argument("--preset", default="paper")
    bench.add_argument("--dataset", default="synthetic", help="its image shape is used (synthetic: CIFAR-shaped)")
    bench.add_argument("--device", default=None, help="auto, cpu or cuda")
    bench.add_argument("--steps", type=_positive_int, default=None,
                       help="timed steps per phase (default 50 on CUDA, 3 on CPU)")
    bench.add_argument("--baseline", action="store_true",
                       help="also time the public code's pipeline (PIL DataLoader, fp32, r per iteration) and print speedups")
    bench.add_argument("--ablation", action="store_true",
                       help="time the phases under cumulative switches (fp32/contiguous/plain optimizers, + bf16, "
                            "+ channels_last, + fused optimizers, + CUDA graphs, + autocast weight cache, "
                            "torch.compile instead of graphs) beside the predicted speedups")
    bench.add_argument("--cuda-graphs", choices=("auto", "on", "off"), default=None,
                       help="capture training steps as CUDA graphs (default: the preset's, auto)")
    bench.add_argument("--epoch-overhead", type=_levels, default=(), metavar="N,N,...",
                       help="also measure a task epoch's cost beyond its images at these labeled counts "
                            "(e.g. 1000,4000); the trial estimate uses it")
    bench.add_argument("--concurrency", type=_levels, default=None, metavar="N,N,...",
                       help="trials per hour with N bench processes sharing the device, for each N (e.g. 1,2,4,8): "
                            "each times the phases at once with the others, its rates predict a trial")
    bench.add_argument("--json", type=Path, help="also write the figures as JSON")
    bench.set_defaults(func=_cmd_bench)

    for kind, text in (("datasets", "list dataset names"), ("methods", "list method names"), ("presets", "list presets")):
        listing = sub.add_parser(kind, help=text)
        _add_plugin_flag(listing)
        listing.set_defaults(func=lambda _args, _kind=kind: _cmd_list(_kind))
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that a run stops after its last saved cycle and says so."""


def _during_shutdown(signum: int, frame: object) -> None:
    """A second Ctrl-C or SIGTERM while the run stops: ignored (a Python handler, so child processes started
    later get the default again); the first one is already stopping the run after its last saved cycle."""


def _stopping() -> None:
    """The first stop signal: later ones are ignored until :func:`main` returns (no traceback mid-shutdown)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _during_shutdown)
        signal.signal(signal.SIGTERM, _during_shutdown)


def _on_sigterm(signum: int, frame: object) -> None:
    _stopping()
    raise Terminated()


def _on_sigint(signum: int, frame: object) -> None:
    _stopping()
    raise KeyboardInterrupt()


def _out_folder(text: str) -> Path | str:
    """``--out``'s type: a Path; an empty text stays ``''`` so that :func:`_check_out` refuses it (``Path('')`` is
    the current folder)."""
    return Path(text) if text.strip() else text


def _check_out(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` that is empty or not valid UTF-8 (one line naming it), before anything is written."""
    out = getattr(args, "out", None)
    if out is None:
        return
    if not str(out).strip():
        raise ValueError(f"--out must name a results folder, got {str(out)!r} (use --out . for the current folder)")
    try:
        str(out).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"--out {os.fsencode(str(out))!r} is not valid UTF-8 (the results record their folder as "
                         "text); choose a folder name in UTF-8") from None


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: typing.TextIO | None = None, line: str | None = None) -> None:
    """A warning on the command line: one line, ``warning: ...`` (no source file, no code line)."""
    print(f"warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():  # the command's warnings (an old setting name, ...) as one line each
        warnings.showwarning = _warning_line
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        previous_int = signal.getsignal(signal.SIGINT)  # restored below, whatever it was (_stopping replaces it)
        if previous_int is signal.default_int_handler:  # not where SIGINT is ignored (started in the background)
            signal.signal(signal.SIGINT, _on_sigint)
    else:  # signal handlers can only be set from the main thread (main() called from a thread)
        previous = previous_int = None
    try:
        _check_out(args)
        load_plugins(getattr(args, "plugin", []), export=True)  # exported: sweep and trial workers load them too
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as error:  # OSError: folders and files (not writable, full, ...)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:  # NonFiniteLossError: the finished cycles are saved
        print(f"error: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt as stop:
        _stopping()  # a second Ctrl-C (or SIGTERM) while this is said: ignored, no traceback
        saved = args.command in ("run", "demo", "sweep")
        print("interrupted" + (": finished cycles are saved; continue with --resume" if saved else ""), file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if previous_int is not None:
            signal.signal(signal.SIGINT, previous_int)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
