"""Sweeps (tavaal_nb.sweep): a grid of (dataset, method, trial) runs, locally or on dask, resumable.

Every sweep here is compared with the same runs made one by one in this process by the
ordinary engine (``run_experiment`` with every method and trial of a dataset at once):
records must be equal field by field, except timings. Everything runs on the CPU with
one torch thread (torch's CPU kernels reduce in a thread-count-dependent order, and dask
workers run single-threaded), on a ci preset made smaller still.

Dask runs use LocalClusters on 127.0.0.1 with 2 single-threaded worker processes, one at
a time: the one the CLI starts (``--executor dask --workers 2``), closed when the sweep
ends, then one shared by the later tests, closed at the end of the module.

Failures (a worker that dies or hangs mid-task, a task that raises) are injected by
monkeypatching (``tests/faults.py``), in this process and in the ones it starts.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import wait_for
from faults import inject

from tavaal_nb import make_config, run_experiment
from tavaal_nb.cli import main
from tavaal_nb.errors import ResultsMismatchError
from tavaal_nb.results import Results
from tavaal_nb.sweep import SWEEP_NAME, MissingExtraError, Sweep, SweepSpec, run_sweep

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("synthetic", "synthetic-grey")
METHODS = ("random", "tavaal")
TRIALS = 2
SEED = 3  # not the default, so that a seed that is not passed on shows
# the ci preset made smaller: each run takes well under a second on a 2-core CPU
SMALL = {"cycles": 3, "initial": 10, "budget": 10, "subset": 30, "epochs": 1, "vae_iterations": 2,
         "train_limit": 120, "test_limit": 40, "device": "cpu"}
SMALL_FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]
# a run must be done (or a file appear) within this long, or the test fails instead of hanging


def spec(datasets=DATASETS, methods=METHODS, trials=TRIALS, **extra) -> SweepSpec:
    return SweepSpec(datasets=datasets, methods=methods, trials=trials, preset="ci", overrides=SMALL, seed=SEED,
                     **extra)


def strip(run: dict) -> dict:
    """A run without what legitimately differs between two executions (cycle timings)."""
    return {**run, "cycles": [{k: v for k, v in c.items() if k != "timings_s"} for c in run["cycles"]]}


def run_file(out: Path, dataset: str, method: str, trial: int) -> Path:
    return out / dataset / method / f"trial-{trial}" / "results.json"


def stored_run(out: Path, dataset: str, method: str, trial: int) -> dict:
    """The one run of a sweep task's results file, checked to say which trial it is."""
    results = Results.load(run_file(out, dataset, method, trial))
    assert results.config["dataset"] == dataset
    assert results.config["methods"] == [method]
    assert (results.config["trials"], results.config["first_trial"], results.config["seed"]) == (1, trial, SEED)
    assert len(results.runs) == 1 and results.is_finished()
    run = results.runs[0]
    assert (run["method"], run["trial"], run["finished"]) == (method, trial, True)
    return strip(run)


def assert_matches_reference(out: Path, reference: dict, datasets, methods, trials=range(TRIALS)) -> None:
    for dataset in datasets:
        for method in methods:
            for trial in trials:
                assert stored_run(out, dataset, method, trial) == reference[dataset, method, trial], \
                    f"{dataset}/{method}/trial-{trial} differs from the same run made by run_experiment"


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread here, and in every process started from here (OMP_NUM_THREADS)."""
    threads, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    torch.set_num_threads(threads)
    if env is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = env


@pytest.fixture(scope="module")
def reference(one_thread) -> dict:
    """``(dataset, method, trial) -> run`` from ordinary runs of every method and trial at once."""
    out = {}
    for dataset in DATASETS:
        config = make_config("ci", dataset=dataset, methods=METHODS, trials=TRIALS, seed=SEED, **SMALL)
        for run in run_experiment(config, progress=False).runs:
            out[dataset, run["method"], run["trial"]] = strip(run)
    assert len(out) == len(DATASETS) * len(METHODS) * TRIALS
    return out


@pytest.fixture(scope="module")
def dask_client(one_thread):
    distributed = pytest.importorskip("distributed")
    # allowed_failures=0: a worker that dies fails the task's attempt at once (run_sweep retries it)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, scheduler_kwargs={"allowed_failures": 0})
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def dask_sweep(tmp_path_factory, one_thread):
    """The 2 datasets x 2 methods x 2 trials sweep, made by the CLI on a LocalCluster of its own."""
    pytest.importorskip("distributed")
    out = tmp_path_factory.mktemp("dask-sweep") / "fig"
    code = main(["sweep", "--datasets", ",".join(DATASETS), "--methods", ",".join(METHODS), "--trials", str(TRIALS),
                 "--seed", str(SEED), "--preset", "ci", "--out", str(out), "--executor", "dask", "--workers", "2",
                 "--quiet", *SMALL_FLAGS])
    assert code == 0
    return out


# ------------------------------------------------------------------------------------------ tests
@pytest.mark.slow
def test_dask_sweep_equals_the_same_runs_made_one_by_one(dask_sweep, reference):
    files = sorted(p.relative_to(dask_sweep).as_posix() for p in dask_sweep.rglob("results.json"))
    assert files == sorted(f"{d}/{m}/trial-{t}/results.json" for d in DATASETS for m in METHODS for t in range(TRIALS))
    assert_matches_reference(dask_sweep, reference, DATASETS, METHODS)

    sweep = Sweep.load(dask_sweep)
    assert sweep.data["spec"] == {"datasets": list(DATASETS), "methods": list(METHODS), "trials": TRIALS,
                                  "preset": "ci", "overrides": SMALL, "seed": SEED}
    assert sweep.complete and not sweep.failed and len(sweep.finished) == 8
    assert all(len(entry["attempts"]) == 1 and entry["attempts"][0]["outcome"] == "finished" for entry in sweep.tasks)
    assert sweep.data["sessions"][0]["executor"].startswith("dask (LocalCluster tcp://127.0.0.1:")
    assert len(sweep.results()) == 8 and len(sweep.results("synthetic")) == 4


@pytest.mark.slow
def test_every_method_of_a_trial_starts_from_the_same_labeled_set(dask_sweep):
    for dataset in DATASETS:
        initial = {}
        for trial in range(TRIALS):
            sets = {m: stored_run(dask_sweep, dataset, m, trial)["initial_indices"] for m in METHODS}
            assert sets["random"] == sets["tavaal"], f"{dataset} trial {trial}: methods start from different sets"
            assert len(sets["random"]) == SMALL["initial"]
            initial[trial] = sets["random"]
        assert initial[0] != initial[1], "two trials drew the same initial set"


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_retried_and_resumed(tmp_path, dask_client, reference, monkeypatch):
    out = tmp_path / "killed"
    victim = "synthetic/tavaal/trial-1"
    inject(monkeypatch, {victim: {"action": "exit", "after_cycle": 0}})  # first attempt: os._exit
    sweep = run_sweep(spec(datasets=("synthetic",)), out, "dask", scheduler=dask_client.scheduler.address, log=None)
    assert sweep.data["sessions"][0]["executor"] == f"dask ({dask_client.scheduler.address})"
    assert sweep.complete, sweep.data["tasks"]
    assert_matches_reference(out, reference, ("synthetic",), METHODS)
    entry = sweep.task(victim)
    assert [a["outcome"] for a in entry["attempts"]] == ["error", "finished"]
    assert "KilledWorker" in entry["attempts"][0]["error"]
    assert entry["attempts"][1]["resumed_from_cycle"] == 1  # the retry continued the saved cycle
    log = (out / entry["log"]).read_text()
    assert "exits after cycle 0" in log and "resuming after 1 finished cycle(s)" in log
    assert all(len(sweep.task(t)["attempts"]) == 1 for t in sweep.finished if t != victim)


@pytest.mark.slow
def test_a_task_that_keeps_failing_is_reported_with_its_log_and_others_go_on(tmp_path, reference, monkeypatch):
    out = tmp_path / "failing"
    victim = "synthetic-grey/random/trial-0"
    inject(monkeypatch, {victim: {"action": "raise", "attempts": [1, 2, 3]}})
    sweep = run_sweep(spec(datasets=("synthetic-grey",), methods=("random",)), out, retries=2, log=None)
    assert sweep.failed == [victim] and sweep.finished == ["synthetic-grey/random/trial-1"]
    entry = Sweep.load(out).task(victim)  # as written to sweep.json
    assert entry["status"] == "failed" and len(entry["attempts"]) == 3
    assert "test fault" in entry["failure"]["error"]
    assert "Traceback" in entry["failure"]["log_tail"] and "attempt 3" in entry["failure"]["log_tail"]
    assert not run_file(out, "synthetic-grey", "random", 0).exists()
    # --resume tries the failed task again (no fault now); the finished one is kept
    kept = snapshot(run_file(out, "synthetic-grey", "random", 1))
    again = run_sweep(None, out, resume=True, log=None)
    assert again.complete and len(again.task(victim)["attempts"]) == 4
    assert snapshot(run_file(out, "synthetic-grey", "random", 1)) == kept
    assert_matches_reference(out, reference, ("synthetic-grey",), ("random",))


@pytest.mark.slow
def test_resume_after_the_client_was_killed_keeps_finished_runs(tmp_path, reference):
    out = tmp_path / "crashed"
    hang = "synthetic-grey/tavaal/trial-0"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / "tests")!r})
        from faults import inject
        from tavaal_nb.sweep import SweepSpec, run_sweep
        spec = SweepSpec(datasets=("synthetic-grey",), methods={METHODS!r}, trials={TRIALS}, preset="ci",
                         overrides={SMALL!r}, seed={SEED})
        inject(None, {{{hang!r}: {{"action": "hang", "after_cycle": 0}}}})
        run_sweep(spec, {str(out)!r}, log=None)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = out / "synthetic-grey" / "tavaal" / "trial-0" / "task.log"
    try:
        wait_for(lambda: log.is_file() and "hanging after cycle 0" in log.read_text() or process.poll() is not None,
                 "the sweep to reach the middle of its second run")
        assert process.poll() is None, process.stdout.read().decode()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    finished = run_file(out, "synthetic-grey", "random", 0)
    partial = run_file(out, "synthetic-grey", "tavaal", 0)
    assert Results.load(finished).is_finished()
    assert len(Results.load(partial).runs[0]["cycles"]) == 1 and not Results.load(partial).is_finished()
    assert not run_file(out, "synthetic-grey", "random", 1).exists()
    before = snapshot(finished)

    with pytest.raises(FileExistsError, match="--resume"):  # an existing sweep needs --resume
        run_sweep(spec(datasets=("synthetic-grey",)), out, log=None)
    sweep = run_sweep(spec(datasets=("synthetic-grey",)), out, resume=True, log=None)
    assert sweep.complete
    assert snapshot(finished) == before, "a finished run was rewritten"
    assert sweep.task("synthetic-grey/random/trial-0")["attempts"][-1]["outcome"] == "finished"
    assert len(sweep.task("synthetic-grey/random/trial-0")["attempts"]) == 1  # not run again
    assert sweep.task(hang)["attempts"][-1]["resumed_from_cycle"] == 1
    assert [s["resume"] for s in sweep.data["sessions"]] == [False, True]
    assert_matches_reference(out, reference, ("synthetic-grey",), METHODS)


@pytest.mark.slow
def test_adding_a_method_leaves_the_other_methods_unchanged(tmp_path, reference, dask_client):
    out = tmp_path / "grow"
    run_sweep(spec(datasets=("synthetic",), methods=("tavaal",)), out, log=None)  # in this process
    tavaal = {t: snapshot(run_file(out, "synthetic", "tavaal", t)) for t in range(TRIALS)}
    # the same sweep with one more method, continued on dask (a Client passed as the executor)
    sweep = run_sweep(spec(datasets=("synthetic",), methods=("random", "tavaal")), out, dask_client, resume=True,
                      log=None)
    assert sweep.complete and sweep.data["spec"]["methods"] == ["tavaal", "random"]
    assert [s["executor"] for s in sweep.data["sessions"]][0] == "local (in this process)"
    assert sweep.data["sessions"][1]["executor"].startswith("dask")
    assert all(len(sweep.task(f"synthetic/random/trial-{t}")["attempts"]) == 1 for t in range(TRIALS))
    assert {t: snapshot(run_file(out, "synthetic", "tavaal", t)) for t in range(TRIALS)} == tavaal
    # a tavaal-only sweep, a two-method sweep and a two-method run_experiment give the same records
    assert_matches_reference(out, reference, ("synthetic",), METHODS)


@pytest.mark.slow
def test_a_concurrent_futures_process_pool_runs_a_sweep(tmp_path, reference):
    out = tmp_path / "pool"
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        sweep = run_sweep(spec(datasets=("synthetic",), methods=("tavaal",)), out, pool, log=None)
    assert sweep.complete and sweep.data["sessions"][0]["executor"].endswith("ProcessPoolExecutor")
    assert_matches_reference(out, reference, ("synthetic",), ("tavaal",))


@pytest.mark.slow
def test_local_executor_gives_each_process_its_gpu_and_retries_a_dead_one(tmp_path, reference, monkeypatch):
    out = tmp_path / "local"
    victim = "synthetic-grey/random/trial-1"
    inject(monkeypatch, {victim: {"action": "exit", "after_cycle": 1}})
    sweep = run_sweep(spec(datasets=("synthetic-grey",), methods=("random",)), out, "local", gpus=["5", "7"], log=None)
    assert sweep.complete and sweep.data["sessions"][0]["executor"] == "local (2 processes, GPUs 5,7)"
    logs = [(out / sweep.task(f"synthetic-grey/random/trial-{t}")["log"]).read_text() for t in range(TRIALS)]
    pinned = {line.rsplit("CUDA_VISIBLE_DEVICES=", 1)[1] for log in logs for line in log.splitlines()
              if "CUDA_VISIBLE_DEVICES=" in line}
    assert pinned <= {"5", "7"} and pinned
    attempts = sweep.task(victim)["attempts"]
    assert [a["outcome"] for a in attempts] == ["error", "finished"] and "exited with code 17" in attempts[0]["error"]
    assert attempts[1]["resumed_from_cycle"] == 2
    assert_matches_reference(out, reference, ("synthetic-grey",), ("random",))


@pytest.mark.slow
def test_report_of_a_sweep_directory_pools_trials_per_dataset(dask_sweep, capsys, tmp_path):
    assert main(["report", str(dask_sweep), "--html", str(tmp_path / "fig.html")]) == 0
    text = capsys.readouterr().out
    blocks = {block.splitlines()[0]: block for block in text.split("\n\n")}
    for dataset in DATASETS:
        block = blocks[f"dataset {dataset} ({len(METHODS) * TRIALS} runs)"]
        for method in METHODS:
            runs = [stored_run(dask_sweep, dataset, method, t) for t in range(TRIALS)]
            row = next(line for line in block.splitlines() if line.split()[0] == method)
            for cycle in range(SMALL["cycles"]):
                values = [run["cycles"][cycle]["test_accuracy"] for run in runs]
                cell = f"{statistics.mean(values):8.2f}+-{statistics.stdev(values):<4.2f}".strip()
                assert cell in row, (dataset, method, cycle, cell, row)
    page = (tmp_path / "fig.html").read_text()
    assert all(f"Test accuracy against labeled-set size: {d}" in page for d in DATASETS)


@pytest.mark.slow
def test_cli_resume_of_a_finished_sweep_runs_nothing(dask_sweep, capsys):
    files = {p: snapshot(p) for p in dask_sweep.rglob("results.json")}
    assert main(["sweep", "--out", str(dask_sweep), "--resume"]) == 0
    assert "8 of 8 runs already finished: kept" in capsys.readouterr().out
    assert {p: snapshot(p) for p in dask_sweep.rglob("results.json")} == files
    sweep = Sweep.load(dask_sweep)
    assert sweep.data["sessions"][-1]["resume"] and sweep.data["sessions"][-1]["executor"] is None  # nothing started


@pytest.mark.slow
def test_bad_input_is_refused_clearly(tmp_path, capsys, monkeypatch):
    with pytest.raises(ValueError) as error:
        spec(datasets=("synthetic", "no-such-set"), methods=("random", "no-such-method"))
    assert "dataset 'no-such-set' is unknown" in str(error.value) and "method 'no-such-method' is unknown" in str(error.value)
    assert "valid:" in str(error.value)
    with pytest.raises(ValueError, match="overrides cannot set"):
        SweepSpec(datasets=("synthetic",), methods=("random",), preset="ci", overrides={"seed": 1})
    with pytest.raises(ValueError, match="no methods given"):
        SweepSpec(datasets=("synthetic",), methods=(), preset="ci")

    assert main(["sweep", "--datasets", "nope", "--methods", "random", "--preset", "ci",
                 "--out", str(tmp_path / "x")]) == 2
    assert "dataset 'nope' is unknown" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

    existing = tmp_path / "existing"
    Sweep.new(spec(), existing.resolve()).save()
    assert main(["sweep", "--datasets", "synthetic", "--methods", "random", "--preset", "ci",
                 "--out", str(existing)]) == 2
    err = capsys.readouterr().err
    assert "already holds a sweep" in err and "--resume" in err
    with pytest.raises(ResultsMismatchError, match="seed"):
        run_sweep(SweepSpec(datasets=DATASETS, methods=METHODS, trials=TRIALS, preset="ci", overrides=SMALL, seed=4),
                  existing, resume=True, log=None)
    with pytest.raises(ResultsMismatchError, match="grow, not shrink"):
        run_sweep(spec(methods=("random",)), existing, resume=True, log=None)

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a sweep directory"):
        run_sweep(spec(), other, log=None)
    with pytest.raises(FileNotFoundError, match="no sweep to resume"):
        run_sweep(None, tmp_path / "nothing", resume=True, log=None)
    with pytest.raises(ValueError, match="unknown executor"):
        run_sweep(spec(), tmp_path / "y", "slurm", log=None)

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the dask extra were not installed
    with pytest.raises(MissingExtraError, match=r"tavaal-nb\[dask\]"):
        run_sweep(spec(), tmp_path / "z", "dask", log=None)
    assert not (tmp_path / "z").exists()
    assert main(["sweep", "--datasets", "synthetic", "--methods", "random", "--preset", "ci", "--executor", "dask",
                 "--out", str(tmp_path / "z")]) == 2
    assert "tavaal-nb[dask]" in capsys.readouterr().err
    assert not (tmp_path / "z" / SWEEP_NAME).exists()


def test_an_unknown_task_id_is_a_key_error_naming_the_manifest(tmp_path):
    sweep = Sweep.new(spec(), tmp_path)
    sweep.plan(sweep.spec)
    assert sweep.task("synthetic/random/trial-0")["status"] == "pending"
    with pytest.raises(KeyError, match=r"no task 'synthetic/nope/trial-0' in .*sweep\.json \(8 tasks, e\.g\."):
        sweep.start_attempt("synthetic/nope/trial-0")
