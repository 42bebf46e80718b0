"""Nothing lost, ever (issue 14): one writer per results folder, unique backups, the output folder checked
before training, malformed files refused cleanly, one clear ``error:`` line for every user mistake.

Concurrency is tested with real processes (``python -m tavaal_nb`` and small lock holders). Read-only
folders and full disks are made with a read-only bind mount and a 64 KiB tmpfs where this machine lets
the tests mount (as root); elsewhere a read-only folder is ``chmod 555`` (non-root) and a full disk is
simulated by making the atomic writer raise ``ENOSPC``. A case that can be made neither way is skipped
with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FINISHED_RUN, REPO, ci_config, wait_for

import tavaal_nb.experiment_data as experiment_data
import tavaal_nb.files as files_module
import tavaal_nb.loop as loop_module
import tavaal_nb.outdir as outdir_module
import tavaal_nb.results as results_module
from tavaal_nb import Config, make_config, run_experiment
from tavaal_nb.analysis.plots import learning_curves_figure
from tavaal_nb.analysis.report import write_report
from tavaal_nb.cli import main
from tavaal_nb.errors import FolderBusyError, OutputFolderError, ResultsSaveError
from tavaal_nb.experiment_data import prepare_data
from tavaal_nb.loop import open_results
from tavaal_nb.outdir import LOCK_NAME, claim_folder, move_aside
from tavaal_nb.results import Results, ResultsFileError
from tavaal_nb.sweep import SweepSpec, run_sweep

CI = ["--preset", "ci", "--dataset", "synthetic", "--device", "cpu", "--no-progress"]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "TAVAAL_TEST_THREADS": "1", "OMP_NUM_THREADS": "1"}


def cli(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tavaal_nb", *argv], cwd=REPO, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def holder_of(folder: Path) -> str:
    try:
        return (folder / LOCK_NAME).read_text()
    except FileNotFoundError:
        return ""


def one_error_line(err: str) -> str:
    """The CLI's stderr must be one ``error:`` message and no traceback."""
    assert "Traceback" not in err, err
    assert err.startswith("error: "), err
    return err


def no_training(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("a model was trained although the run should have stopped before")
    monkeypatch.setattr(loop_module, "train_task_model", refuse)


def finished_config() -> Config:
    """The config of conftest's ``finished_run`` (the run that ``run_copy`` copies)."""
    return ci_config(**FINISHED_RUN)


# ------------------------------------------------------------------------ 1. one writer per folder


@pytest.mark.slow
def test_a_second_run_on_a_busy_folder_is_refused_at_once_naming_the_holder(tmp_path):
    out = tmp_path / "busy"
    # a first run that lasts (many epochs); the second must be refused while it runs
    first = cli("run", *CI, "--method", "tavaal", "--epochs", "400", "--out", str(out))
    try:
        wait_for(lambda: f"pid {first.pid} " in holder_of(out) or first.poll() is not None, "the first run's lock")
        assert first.poll() is None, first.communicate()
        assert "running `python -m tavaal_nb run" in holder_of(out)
        second = subprocess.run([sys.executable, "-m", "tavaal_nb", "run", *CI, "--method", "random", "--out", str(out)],
                                cwd=REPO, env=ENV, text=True, capture_output=True, timeout=240)
        assert second.returncode == 2
        assert "being written by another tavaal-nb process" in one_error_line(second.stderr)
        assert f"pid {first.pid} " in second.stderr
        assert first.poll() is None  # refused while the first still runs: at once, not after it
        # SIGTERM stops the first like Ctrl-C does, with the same line, and releases the folder
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
        assert first.returncode == 128 + signal.SIGTERM
        assert "interrupted: finished cycles are saved; continue with --resume" in err and "Traceback" not in err
        assert not (out / LOCK_NAME).exists()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


HOLD = ("import sys, time; from tavaal_nb.outdir import claim_folder; c = claim_folder(sys.argv[1], sys.argv[2]); "
        "print('held', flush=True); time.sleep(600)")


@contextlib.contextmanager
def held(folder: Path, kind: str):
    """A real process holding ``folder``'s lock until the block ends (then killed with SIGKILL)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), kind], cwd=REPO, env=ENV, text=True,
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_a_second_sweep_and_a_resumed_one_are_refused(tmp_path, monkeypatch, capsys):
    no_training(monkeypatch)
    out = tmp_path / "sweep"
    with held(out, "sweep") as holder:
        for extra in ([], ["--resume"]):
            code = main(["sweep", "--datasets", "synthetic", "--methods", "random", "--preset", "ci",
                         "--out", str(out), *extra])
            err = capsys.readouterr().err
            assert code == 2 and f"pid {holder.pid} " in one_error_line(err) and "one writer at a time" in err
        assert not (out / "sweep.json").exists()  # nothing of the refused sweeps was written
    # the holder was killed (SIGKILL): the OS released its lock, its stale file blocks nothing
    assert (out / LOCK_NAME).exists()
    with claim_folder(out, "sweep"):
        pass


@pytest.mark.slow
def test_a_run_refuses_a_folder_a_sweep_task_is_writing(tmp_path, monkeypatch):
    no_training(monkeypatch)
    out = tmp_path / "task"
    with held(out, "run"), pytest.raises(FolderBusyError, match="one writer at a time"):
        run_experiment(finished_config(), out, progress=False)


def test_runs_and_sweeps_never_share_a_folder(tmp_path, run_copy, monkeypatch):
    no_training(monkeypatch)
    with pytest.raises(FileExistsError, match="holds a run"):
        run_sweep(SweepSpec(datasets=["synthetic"], methods=["random"], trials=1, preset="ci"), run_copy,
                  log=None)
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    (sweep_dir / "sweep.json").write_text("{}")
    with pytest.raises(FileExistsError, match="holds a sweep"):
        run_experiment(finished_config(), sweep_dir, progress=False)
    assert not (sweep_dir / "results.json").exists()


def test_one_process_cannot_write_a_folder_twice(tmp_path):
    with claim_folder(tmp_path / "f", "run"), pytest.raises(FolderBusyError, match="this same process"):
        claim_folder(tmp_path / "f", "run")
    assert not (tmp_path / "f").exists()  # created by the claim, nothing saved: removed again


# ------------------------------------------------------------------------ 2. backups are never replaced


def test_overwrites_within_one_second_keep_every_backup(run_copy, monkeypatch):
    monkeypatch.setattr(outdir_module, "_stamp", lambda: "20260102-030405")  # every overwrite in the same second
    config = finished_config()
    data = prepare_data(config)
    originals = []
    path = run_copy / "results.json"
    text = path.read_text()
    for k in range(3):
        path.write_text(text[:-1] + f',"mark":{k}}}')
        originals.append(path.read_bytes())
        open_results(config, data, run_copy, resume=False, overwrite=True)
    backups = sorted(run_copy.glob("results.json.replaced-*"))
    assert [b.name for b in backups] == ["results.json.replaced-20260102-030405",
                                         "results.json.replaced-20260102-030405-2",
                                         "results.json.replaced-20260102-030405-3"]
    assert [b.read_bytes() for b in backups] == originals


def test_a_folder_backup_never_lands_on_an_existing_one(tmp_path, monkeypatch):
    monkeypatch.setattr(outdir_module, "_stamp", lambda: "20260102-030405")
    for k in range(2):
        (tmp_path / "trials").mkdir()
        (tmp_path / "trials" / "k").write_text(str(k))
        move_aside(tmp_path / "trials")
    kept = sorted(p / "k" for p in tmp_path.glob("trials.replaced-*"))
    assert [p.read_text() for p in kept] == ["0", "1"]


# ------------------------------------------------------------------------ 3. the output folder, before training


def test_a_path_under_a_file_fails_before_training(tmp_path, monkeypatch, capsys):
    no_training(monkeypatch)
    (tmp_path / "file").write_text("x")
    code = main(["run", *CI, "--method", "random", "--out", str(tmp_path / "file" / "out")])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and "cannot create the output folder" in err


@contextlib.contextmanager
def read_only_folder(path: Path):
    """``path`` made read-only for everyone, root included; skips when this machine cannot."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only folder as root here (mount --bind failed: {mounted.stderr.strip()})")
    try:
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
        yield path
    finally:
        subprocess.run(["umount", str(path)])


@pytest.mark.slow
def test_a_read_only_folder_fails_before_training(tmp_path, monkeypatch, capsys):
    no_training(monkeypatch)
    folder = tmp_path / "ro"
    with read_only_folder(folder):
        code = main(["run", *CI, "--method", "random", "--out", str(folder / "out")])
        err = one_error_line(capsys.readouterr().err)
        assert code == 2 and "output folder" in err
        with pytest.raises(OutputFolderError):
            run_experiment(finished_config(), folder, progress=False)


@contextlib.contextmanager
def tiny_tmpfs(path: Path):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)])


@pytest.mark.slow
def test_a_full_disk_fails_before_training(tmp_path, monkeypatch, capsys):
    no_training(monkeypatch)
    with tiny_tmpfs(tmp_path / "small") as small:
        with contextlib.suppress(OSError), open(small / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 1024)
                filler.flush()
        code = main(["run", *CI, "--method", "random", "--out", str(small / "out")])
        err = one_error_line(capsys.readouterr().err)
        assert code == 2 and "no space left on device" in err and "nothing was run" in err


def test_a_save_that_fails_mid_run_ends_with_one_line_and_resume_continues(tmp_path, monkeypatch, capsys):
    out = tmp_path / "full"
    real = results_module.atomic_write_text
    calls = []

    def full_after_the_first_cycle(path, text):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, text)

    monkeypatch.setattr(results_module, "atomic_write_text", full_after_the_first_cycle)
    argv = ["run", *CI, "--method", "random", "--cycles", "2", "--epochs", "1", "--milestones", "1", "--out", str(out)]
    code = main(argv)
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and "no space left on device" in err and "--resume continues from the last saved cycle" in err
    assert err.count("\n") == 1
    assert len(json.loads((out / "results.json").read_text())["runs"][0]["cycles"]) == 1
    monkeypatch.setattr(results_module, "atomic_write_text", real)
    assert main([*argv, "--resume"]) == 0
    resumed = Results.load(out)
    assert [c["cycle"] for c in resumed.runs[0]["cycles"]] == [0, 1] and resumed.runs[0]["finished"]


def test_the_save_error_names_the_file_and_resume(tmp_path):
    results = Results.new({}, {}, tmp_path / "gone" / "deeper" / "results.json")
    (tmp_path / "gone").write_text("a file where the folder should be")
    with pytest.raises(ResultsSaveError, match="--resume"):
        loop_module.save_results(results)


# ------------------------------------------------------------------------ 4. malformed records


@pytest.mark.parametrize(("where", "field", "named"), [
    ("cycle", "selected_indices", "cycle 0 lacks its 'selected_indices' field"),
    ("cycle", "test_accuracy", "cycle 0 lacks its 'test_accuracy' field"),
    ("cycle", "labeled_size", "cycle 0 lacks its 'labeled_size' field"),
    ("run", "initial_indices", "run 0 (random, trial 0) lacks its 'initial_indices' field"),
    ("run", "method", "run 0 lacks its 'method' field"),
])
def test_a_malformed_file_is_refused_naming_the_problem_and_left_untouched(run_copy, where, field, named):
    path = run_copy / "results.json"
    document = json.loads(path.read_text())
    run = document["runs"][0]
    run["finished"] = False
    del (run["cycles"][0] if where == "cycle" else run)[field]
    path.write_text(json.dumps(document))
    before = path.read_bytes()
    with pytest.raises(ResultsFileError) as info:
        run_experiment(finished_config(), run_copy, resume=True, progress=False)
    assert named in str(info.value) and "left untouched" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in run_copy.iterdir()) == ["results.json"]


def test_the_cli_refuses_a_malformed_file_with_one_line(run_copy, capsys):
    path = run_copy / "results.json"
    document = json.loads(path.read_text())
    del document["runs"][0]["cycles"][1]["test_accuracy"]
    path.write_text(json.dumps(document))
    before = path.read_bytes()
    code = main(["run", *CI, "--method", "random", "--cycles", "2", "--epochs", "1", "--milestones", "1",
                 "--out", str(run_copy), "--resume"])
    assert code == 2 and "cycle 1 lacks its 'test_accuracy' field" in one_error_line(capsys.readouterr().err)
    assert path.read_bytes() == before


def test_a_null_accuracy_is_a_gap_in_reports_and_views(run_copy, tmp_path, capsys):
    path = run_copy / "results.json"
    document = json.loads(path.read_text())
    document["runs"][0]["cycles"][1]["test_accuracy"] = None  # what the package writes for NaN
    path.write_text(json.dumps(document))
    assert main(["report", str(run_copy), "--html", str(tmp_path / "r.html")]) == 0
    table = capsys.readouterr().out.splitlines()[1].split()
    assert table[0] == "random" and table[2] == "n/a" and "nan" not in table[1]  # the null point is a gap
    assert (tmp_path / "r.html").stat().st_size > 0
    curve = next(t for t in learning_curves_figure([Results.load(run_copy)]).data if t.name == "random")
    assert curve.y[0] == document["runs"][0]["cycles"][0]["test_accuracy"] and curve.y[1] != curve.y[1]  # NaN
    assert list(curve.customdata)[1] == "n/a"


def test_a_string_version_is_named_as_one(run_copy):
    path = run_copy / "results.json"
    document = json.loads(path.read_text())
    document["version"] = "1"
    path.write_text(json.dumps(document))
    with pytest.raises(ResultsFileError) as info:
        Results.load(run_copy)
    assert "version '1'" in str(info.value) and "reads versions 1 to 2 (an integer)" in str(info.value)


# ------------------------------------------------------------------------ 5. one clear line, nothing left behind


@pytest.mark.parametrize(("flags", "named"), [
    (["--epochs", str(10**20)], "epochs must be a positive integer up to"),
    (["--seed", str(10**20)], "seed must be an integer in 0.."),
])
def test_huge_values_are_refused_and_leave_nothing(tmp_path, capsys, flags, named):
    out = tmp_path / "out"
    assert main(["run", *CI, "--method", "random", "--out", str(out), *flags]) == 2
    assert named in one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_an_unreadable_data_dir_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "data"

    def unreadable(*_args, **_kwargs):  # what reading a chmod 000 folder raises (root would read it anyway)
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(data_dir / "x"))

    monkeypatch.setattr(experiment_data, "load_dataset", unreadable)
    out = tmp_path / "out"
    assert main(["run", *CI, "--method", "random", "--data-dir", str(data_dir), "--out", str(out)]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "data directory cannot be read" in err and str(data_dir / "x") in err
    assert not out.exists()


def test_a_run_failing_before_its_first_cycle_leaves_nothing(tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("broken training")

    monkeypatch.setattr(loop_module, "train_task_model", broken)
    out = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError, match="broken training"):
        run_experiment(finished_config(), out, progress=False)
    assert not (tmp_path / "a").exists()


def test_report_onto_a_folder_is_one_line(run_copy, tmp_path, capsys):
    (tmp_path / "page").mkdir()
    assert main(["report", str(run_copy), "--html", str(tmp_path / "page"), "--overwrite"]) == 2
    assert "is a folder" in one_error_line(capsys.readouterr().err)
    with pytest.raises(ValueError, match="is a folder"):
        write_report([run_copy], tmp_path / "page")


# ------------------------------------------------------------------------ 6. the Python API


def test_the_api_raises_value_errors_with_the_cli_messages():
    with pytest.raises(ValueError, match="lr must be a number, got '0.1'"):
        make_config("ci", lr="0.1")
    with pytest.raises(ValueError, match="seed must be an integer"):
        make_config("ci", seed=1.5)
    assert Config(methods="tavaal").methods == ("tavaal",)
    assert Config(methods="tavaal, random").methods == ("tavaal", "random")
    with pytest.raises(ValueError, match="methods must be method names"):
        Config(methods=3)
    for bad in ({"preset": "ci"}, None):
        with pytest.raises(ValueError, match="a run needs a Config"):
            run_experiment(bad)


def test_a_stale_lock_file_never_blocks(tmp_path):
    (tmp_path / LOCK_NAME).write_text("pid 1 on nowhere, since long ago\n")  # left by a crash: nobody holds it
    started = time.monotonic()
    with claim_folder(tmp_path, "run"):
        assert f"pid {os.getpid()} " in holder_of(tmp_path)
    assert time.monotonic() - started < 5 and not (tmp_path / LOCK_NAME).exists()


def test_a_failed_write_leaves_the_old_file(run_copy, monkeypatch):
    path = run_copy / "results.json"
    before = path.read_bytes()

    def crash(_fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(files_module.os, "fsync", crash)
    with pytest.raises(OSError):
        files_module.atomic_write_text(path, "torn")
    assert path.read_bytes() == before
    assert sorted(p.name for p in run_copy.iterdir()) == ["results.json"]  # no temporary file left
