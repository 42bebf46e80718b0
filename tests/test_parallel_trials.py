"""Parallel trials (``run --parallel-trials N``): the trials of one experiment in N worker processes.

Each trial is an ordinary one-trial run in ``OUT/trials/trial-<k>/``; the parent merges them into
``OUT/results.json``. Everything here is compared with the same experiment made by the ordinary
engine in this process, trial after trial: records must be equal field by field except timings
(and the session entries, which say how the run was made). All on the CPU with one torch thread
(the workers use one; torch's CPU kernels sum in a thread-count-dependent order), on a ci preset
made smaller still: 2 trials of 2 methods, each run well under a second. Failures (a worker
that exits or hangs after a cycle) are injected by monkeypatching (``tests/faults.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
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
from tavaal_nb.results import Results, load_results
from tavaal_nb.sweep import TRIALS_DIR, run_parallel_trials

REPO = Path(__file__).resolve().parents[1]
METHODS = ("random", "tavaal")
TRIALS = 2
SEED = 3  # not the default, so that a seed that is not passed on to the workers shows
SMALL = {"cycles": 3, "initial": 10, "budget": 10, "subset": 30, "epochs": 1, "vae_iterations": 2,
         "train_limit": 120, "test_limit": 40, "device": "cpu"}
FLAGS = ["run", "--preset", "ci", "--dataset", "synthetic", "--method", ",".join(METHODS), "--trials", str(TRIALS),
         "--seed", str(SEED), "--no-progress", *[f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]]
DEADLINE_S = 300  # a state must be reached within this long, or the test fails instead of hanging


def config(**extra):
    values = {"dataset": "synthetic", "methods": METHODS, "trials": TRIALS, "seed": SEED, **SMALL, **extra}
    return make_config("ci", **values)


def strip(runs: list[dict]) -> list[dict]:
    """Runs without what legitimately differs between two executions (cycle timings)."""
    return [{**run, "cycles": [{k: v for k, v in c.items() if k != "timings_s"} for c in run["cycles"]]}
            for run in runs]


def load_or_none(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(one_thread) -> Results:
    """The same experiment made sequentially in this process (one thread), not written to disk."""
    results = run_experiment(config(), progress=False)
    assert len(results.runs) == TRIALS * len(METHODS)
    return results


def assert_same_as_sequential(out: Path, reference: Results, sessions: int = 1) -> dict:
    stored = json.loads((out / "results.json").read_text())
    assert set(stored) == set(reference.data), "the merged file has other sections than a sequential run's"
    assert stored["format"] == reference.data["format"] and stored["version"] == reference.data["version"]
    assert stored["config"] == reference.data["config"]
    assert stored["dataset"] == reference.data["dataset"]
    assert stored["status"] == "finished"
    assert [(r["method"], r["trial"]) for r in stored["runs"]] == [(r["method"], r["trial"]) for r in reference.runs]
    assert strip(stored["runs"]) == strip(reference.runs)
    assert len(stored["sessions"]) == sessions
    assert Results.load(out).is_finished()
    assert not (out / TRIALS_DIR).exists(), "the per-trial runs are kept after everything was merged"
    return stored


@pytest.mark.slow
def test_parallel_trials_give_the_records_of_a_sequential_run(tmp_path, reference, capsys):
    out = tmp_path / "parallel"
    assert main([*FLAGS, "--out", str(out), "--parallel-trials", "2"]) == 0
    assert "2 trials at a time" in capsys.readouterr().out
    stored = assert_same_as_sequential(out, reference)
    session = stored["sessions"][0]
    assert session["parallel_trials"] == 2 and session["device"] == "cpu"
    assert sorted(session["trial_wall_time_s"]) == ["0", "1"]
    assert session["cuda_graphs"] is False and session["eager_fallbacks"] == {}  # as the trials' processes recorded
    # every cycle was really computed (timings are there, and positive)
    assert all(c["timings_s"]["total"] > 0 for r in stored["runs"] for c in r["cycles"])


@pytest.mark.slow
def test_more_workers_than_trials_and_first_trial(tmp_path, one_thread):
    """Trials 2..3 (first_trial=2) with 3 workers: the records are those of trials 2 and 3 of a longer run."""
    out = tmp_path / "later"
    results = run_parallel_trials(config(first_trial=2), out, 3, progress=False)
    sequential = run_experiment(config(first_trial=2), progress=False)
    assert [r["trial"] for r in results.runs] == [2, 2, 3, 3]
    assert strip(results.runs) == strip(sequential.runs)
    assert results.path == out / "results.json"
    # without a directory the trials run in a temporary one, and nothing is left behind
    detached = run_parallel_trials(config(first_trial=2, trials=1, methods=("random",)), None, 2, progress=False)
    assert detached.path is None and strip(detached.runs) == strip(sequential.runs[:1])


def hang_script(out: Path) -> str:
    """A parent whose worker of trial 1 hangs after its first saved cycle (exit 130 on Ctrl-C)."""
    return textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / "tests")!r})
        from faults import inject
        from tavaal_nb import make_config
        from tavaal_nb.sweep import run_parallel_trials
        config = make_config("ci", dataset="synthetic", methods={METHODS!r}, trials={TRIALS}, seed={SEED},
                             **{SMALL!r})
        inject(None, {{"trial-1": {{"action": "hang", "after_cycle": 0}}}})
        try:
            run_parallel_trials(config, {str(out)!r}, 2, progress=False)
        except KeyboardInterrupt:
            sys.exit(130)
    """)


def start_hanging_run(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", hang_script(out)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    merged, trial1 = out / "results.json", out / TRIALS_DIR / "trial-1" / "results.json"

    def midway() -> bool:
        if process.poll() is not None:
            return True
        stored, sub = load_or_none(merged), load_or_none(trial1)
        trial0_done = stored is not None and sum(1 for r in stored["runs"] if r["trial"] == 0 and r["finished"]) == 2
        return trial0_done and sub is not None and any(len(r["cycles"]) >= 1 for r in sub["runs"])

    wait_for(midway, "trial 0 to finish and trial 1 to save its first cycle")
    assert process.poll() is None, process.stdout.read().decode()
    return process


LINUX_ONLY = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads worker processes from /proc")


@pytest.mark.slow
@LINUX_ONLY
def test_an_interrupted_parallel_run_is_refused_then_resumed(tmp_path, reference, capsys):
    out = tmp_path / "interrupted"
    process = start_hanging_run(out)
    workers = children(process.pid)
    try:
        process.send_signal(signal.SIGINT)  # Ctrl-C to the parent only: it stops its workers itself
        output = process.communicate(timeout=DEADLINE_S)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, output
    wait_for(lambda: not any(alive(pid) for pid in workers), "the workers to exit")
    stored = json.loads((out / "results.json").read_text())
    assert "status" not in stored  # like a sequential run stopped by Ctrl-C
    progress = {(r["method"], r["trial"]): (r["finished"], len(r["cycles"])) for r in stored["runs"]}
    assert progress[("random", 0)] == progress[("tavaal", 0)] == (True, 3)
    assert progress[("random", 1)] == (False, 1)  # merged after the interruption: the hung worker's saved cycle
    assert ("tavaal", 1) not in progress
    assert (out / TRIALS_DIR / "trial-1" / "results.json").is_file()
    finished_trial = [r for r in stored["runs"] if r["trial"] == 0]

    capsys.readouterr()
    assert main([*FLAGS, "--out", str(out), "--parallel-trials", "2"]) == 2  # neither --resume nor --overwrite
    assert "--resume" in capsys.readouterr().err
    with pytest.raises(ResultsMismatchError, match="epochs"):  # other settings cannot continue it
        run_parallel_trials(config(epochs=2), out, 2, resume=True, progress=False)

    assert main([*FLAGS, "--out", str(out), "--parallel-trials", "2", "--resume"]) == 0
    resumed = assert_same_as_sequential(out, reference, sessions=2)
    assert [r for r in resumed["runs"] if r["trial"] == 0] == finished_trial  # kept, timings and all


@pytest.mark.slow
@LINUX_ONLY
def test_a_killed_parent_leaves_no_worker_and_its_directory_resumes(tmp_path, reference):
    out = tmp_path / "killed"
    process = start_hanging_run(out)
    workers = children(process.pid)
    assert workers, "the parent has no worker processes"
    process.kill()  # no chance to clean up: the workers notice their parent is gone
    process.wait()
    process.stdout.close()
    wait_for(lambda: not any(alive(pid) for pid in workers), "the orphaned workers to exit")
    assert (out / TRIALS_DIR / "trial-1" / "results.json").is_file()
    # resumed by `run --resume` without --parallel-trials: the leftover trials are continued in one worker process
    assert main([*FLAGS, "--out", str(out), "--resume"]) == 0
    assert_same_as_sequential(out, reference, sessions=2)


@pytest.mark.slow
def test_a_failing_worker_stops_the_run_and_resume_finishes_it(tmp_path, reference, monkeypatch):
    out = tmp_path / "failing"
    inject(monkeypatch, {"trial-1": {"action": "exit", "after_cycle": 1, "code": 9}})
    with pytest.raises(RuntimeError, match="trial 1 failed in its worker process") as info:
        run_parallel_trials(config(), out, 2, progress=False)
    assert "exited with code 9" in str(info.value) and "--resume" in str(info.value)
    stored = json.loads((out / "results.json").read_text())
    assert stored["status"].startswith("stopped: trial 1 failed in its worker process")
    assert any(r["trial"] == 1 and len(r["cycles"]) == 2 and not r["finished"] for r in stored["runs"])
    monkeypatch.undo()  # the cause is gone
    run_parallel_trials(config(), out, 2, resume=True, progress=False)
    assert_same_as_sequential(out, reference, sessions=2)


@pytest.mark.slow
def test_existing_directories_are_refused_or_overwritten(tmp_path, reference, one_thread):
    out = tmp_path / "existing"
    run_experiment(config(trials=1, methods=("random",)), out, progress=False)  # any earlier run
    with pytest.raises(FileExistsError, match="--resume"):
        run_parallel_trials(config(), out, 2, progress=False)
    (out / TRIALS_DIR / "trial-0").mkdir(parents=True)
    (out / "results.json").unlink()
    with pytest.raises(FileExistsError, match="interrupted --parallel-trials run"):  # only trials/ is left
        run_parallel_trials(config(), out, 2, progress=False)
    with pytest.raises(ValueError, match="contradict"):
        run_parallel_trials(config(), out, 2, resume=True, overwrite=True, progress=False)
    run_parallel_trials(config(), out, 2, overwrite=True, progress=False)
    assert len(list(out.glob(f"{TRIALS_DIR}.replaced-*"))) == 1  # the old per-trial runs, kept aside
    assert_same_as_sequential(out, reference)


def test_bad_arguments_are_refused_clearly(tmp_path, capsys):
    with pytest.raises(ValueError, match="parallel trials must be auto or a positive integer"):
        run_parallel_trials(config(), tmp_path / "a", 0)
    with pytest.raises(ValueError, match="method 'bald' is unknown"):
        run_parallel_trials(config(methods=("random", "bald")), tmp_path / "b", 2)
    with pytest.raises(SystemExit):
        main([*FLAGS, "--out", str(tmp_path / "c"), "--parallel-trials", "0"])
    assert "positive integer" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_load_results_counts_a_parallel_runs_trial_files_once(tmp_path):
    # <run>/trials/trial-k/results.json are merged into <run>/results.json: a parent folder lists the run once
    run_dir = tmp_path / "runs" / "a"
    config = make_config("ci", dataset="synthetic", methods=("random",), **dict(SMALL, cycles=2))
    run_experiment(config, run_dir, progress=False)
    shutil.copytree(run_dir, run_dir / "trials" / "trial-0", ignore=shutil.ignore_patterns("trials"))
    assert len(load_results(tmp_path / "runs")) == 1
    (run_dir / "results.json").unlink()  # an orphaned trial file (no merged file) is still found
    assert len(load_results(tmp_path / "runs")) == 1
