"""What each sub-command does: a handler per command, called with its parsed arguments (the parser:
:mod:`tavaal_nb.cli.parser`), that calls into the package and prints what it did."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Callable
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
from tavaal_nb.cli.flags import NOISE_FIXED, RUN_FIXED, UPPER_BOUND_FIXED, config_overrides
from tavaal_nb.config import PRESET_HELP, Config, make_config
from tavaal_nb.data.datasets import DATASETS, DatasetNotFoundError, load_dataset
from tavaal_nb.loop import run_experiment
from tavaal_nb.noise import NOISE_NAME, measure_noise, noise_table
from tavaal_nb.preflight import check_names
from tavaal_nb.results import load_results
from tavaal_nb.strategies import get_strategy, strategy_names
from tavaal_nb.strategies.params import describe_params, parse_strategy_params
from tavaal_nb.sweep import (
    AUTO,
    RESERVED,
    SWEEP_NAME,
    TRIALS_DIR,
    Sweep,
    SweepSpec,
    auto_parallel_trials,
    run_parallel_trials,
    run_sweep,
    split_names,
)
from tavaal_nb.upper_bound import train_upper_bound, upper_bound_path


def _strategy_params(args: argparse.Namespace, methods: tuple[str, ...]) -> dict[str, dict[str, typing.Any]]:
    """``--strategy-param``'s values for a command running ``methods`` (an unknown method is one line)."""
    return parse_strategy_params(args.strategy_param, methods, {m: get_strategy(m) for m in methods})


def cmd_run(args: argparse.Namespace) -> int:
    config = make_config(args.preset, methods=split_names(args.method) or None, **config_overrides(args, RUN_FIXED))
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


def cmd_sweep(args: argparse.Namespace) -> int:
    overrides = config_overrides(args, RESERVED)
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


def cmd_report(args: argparse.Namespace) -> int:
    results = load_results(args.sources)
    print(accuracy_table(results))
    print("\n" + comparison_table(results))
    if args.html:
        path = write_report(results, args.html, overwrite=args.overwrite)
        print(f"report: {path}")
    return 0


def cmd_upper_bound(args: argparse.Namespace) -> int:
    config = make_config(args.preset, dataset=args.dataset, **config_overrides(args, UPPER_BOUND_FIXED))
    check_names(config)
    path = upper_bound_path(args.out, overwrite=args.overwrite)
    print(f"upper bound: preset {config.preset}, dataset {config.dataset}, {args.trials} trial(s) on the whole pool, "
          f"device {config.resolved_device()}")
    bound = train_upper_bound(config, path, trials=args.trials, progress=not args.no_progress)
    print(f"full pool ({bound.train_size} images): test accuracy {bound.test_accuracy:.2f}% "
          f"(trials: {', '.join(f'{a:.2f}' for a in bound.accuracies)})\nupper bound: {path}")
    return 0


def cmd_noise(args: argparse.Namespace) -> int:
    config = make_config(args.preset, dataset=args.dataset, **config_overrides(args, NOISE_FIXED))
    sizes = [int(s) for s in split_names(args.sizes)] if args.sizes else None
    path = Path(args.out) / NOISE_NAME
    print(f"noise floor: preset {config.preset}, dataset {config.dataset}, method {args.method}, {args.replicates} "
          f"trainings per labeled set, device {config.resolved_device()}, writing {path}")
    noise = measure_noise(config, args.replicates, sizes, args.method, path, resume=args.resume,
                          progress=not args.no_progress)
    print(noise_table(noise))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        data = load_dataset("fashion-mnist", args.data_dir, download=True)
        print(f"demo: real Fashion-MNIST found ({data.source})")
    except DatasetNotFoundError as error:
        print(f"demo: Fashion-MNIST is not available ({error}); using the synthetic dataset instead")
        data = None
    dataset = "fashion-mnist" if data is not None else "synthetic"
    preset = args.preset or "cpu"
    synthetic = dataset == "synthetic"  # a smaller stand-in (None leaves the preset's limit)
    config = make_config(preset, dataset=dataset, methods=("tavaal", "random"), data_dir=args.data_dir,
                         device=args.device, train_limit=12_000 if synthetic else None,
                         test_limit=2_000 if synthetic else None)
    out = Path(args.out)
    print(f"demo: TA-VAAL vs random, preset {config.preset}, {config.cycles} cycles, writing {out}")
    results = run_experiment(config, out, resume=True, progress=not args.no_progress)
    print(accuracy_table([results]))
    report = write_report([results], out / "report.html")
    print(f"results: {results.path}\nreport:  {report}")
    return 0


Row = typing.TypeVar("Row")


def _streamed_bench(config: Config, args: argparse.Namespace, what: str, unit: str, columns: str,
                    run: Callable[..., tuple[list[Row], dict]], format_row: Callable[[Row], str],
                    format_all: Callable[[list[Row], dict], str],
                    write: Callable[[list[Row], dict, str | Path], None]) -> int:
    """A benchmark that prints each row (a ``unit``) as it is done, then its table; ``--json`` writes its file."""
    print(f"{what}, preset {config.preset}, device {config.resolved_device()}: each {unit} as it is done\n"
          + columns, flush=True)
    rows, meta = run(steps=args.steps, on_row=lambda row: print(format_row(row), flush=True))
    print()
    print(format_all(rows, meta))
    if args.json:
        write(rows, meta, args.json)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    switches = {"cuda_graphs": args.cuda_graphs} if args.cuda_graphs else {}
    config = make_config(args.preset, dataset=args.dataset, device=args.device, **switches)
    chosen = [flag for flag, on in (("--ablation", args.ablation), ("--baseline", args.baseline),
                                    ("--concurrency", args.concurrency)) if on]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)} are separate benchmarks: run them one after the other")
    if args.concurrency:
        return _streamed_bench(config, args, "concurrent trials", "level", CONCURRENCY_COLUMNS,
                               lambda **kw: run_concurrency(config, args.concurrency, **kw), format_concurrency_row,
                               format_concurrency, write_concurrency_json)
    if args.ablation:
        return _streamed_bench(config, args, "ablation", "row", ABLATION_COLUMNS,
                               lambda **kw: run_ablation(config, **kw), format_ablation_row, format_ablation,
                               write_ablation_json)
    rows, meta = run_bench(config, steps=args.steps, baseline=args.baseline, epoch_overhead_at=args.epoch_overhead)
    print(format_table(rows, meta))
    if args.json:
        write_json(rows, meta, args.json)
    return 0


def cmd_list(kind: str) -> int:
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
