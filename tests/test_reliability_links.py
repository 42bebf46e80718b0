"""Nothing lost, nothing injected, part 3 (issue 29): files, environment and plug-ins.

1. A hard link planted where tavaal-nb writes in a folder it shares (the lock file, a task's log) is refused;
   its target is never truncated or written.
2. A sweep's task folder is checked before its task runs (a link planted mid-sweep, a task added on --resume).
3. A results path that is not a regular file is refused, never written into.
4. A worker's error is one line in the parent.
5. --resume checks counts, not only values.
8. A number too big for its use is one error line.
11. Provenance never fails a run (non-UTF-8 folder names and git output).
12. A plug-in that exits on import is a failed plug-in.
13. The student-edition publisher reports git's failures in one line and refuses --branch HEAD.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import ci_config
from test_reliability import CI, no_training, one_error_line
from test_reliability_errors import plugin_folder  # noqa: F401 - fixture

import tavaal_nb.provenance as provenance
from tavaal_nb import run_experiment
from tavaal_nb.callbacks import Callback
from tavaal_nb.cli import main
from tavaal_nb.errors import LinkRefusedError, ResultsSaveError
from tavaal_nb.outdir import LOCK_NAME, claim_folder
from tavaal_nb.sweep import SweepSpec, run_sweep
from tavaal_nb.sweep.grid import SweepTask
from tavaal_nb.sweep.task import append_log

SHORT = ["--cycles", "2", "--epochs", "1", "--milestones", "1"]
HARD = "has another hard link"
SOMEONE_ELSES = "someone else's file\n"


def one_line(err: str) -> str:
    assert one_error_line(err).count("\n") == 1, err
    return err


def precious(tmp_path: Path) -> Path:
    target = tmp_path / "precious.txt"
    target.write_text(SOMEONE_ELSES)
    return target


# ----------------------------------------------------------------------------- 1. hard links


def test_a_hard_link_at_the_lock_name_is_refused_and_its_target_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = precious(tmp_path)
    os.link(target, out / LOCK_NAME)
    with pytest.raises(LinkRefusedError, match=HARD):
        claim_folder(out, "run")
    assert target.read_text() == SOMEONE_ELSES
    assert (out / LOCK_NAME).stat().st_nlink == 2  # left as it was found


def test_a_hard_link_at_the_lock_name_is_one_line_from_the_cli(run_copy, tmp_path, monkeypatch, capsys):
    target = precious(tmp_path)
    os.link(target, run_copy / LOCK_NAME)
    no_training(monkeypatch)
    code = main(["run", *CI, "--method", "random", *SHORT, "--out", str(run_copy), "--resume"])
    err = one_line(capsys.readouterr().err)
    assert code == 2 and f"{run_copy / LOCK_NAME} {HARD}" in err
    assert target.read_text() == SOMEONE_ELSES


def test_a_hard_linked_task_log_is_refused(tmp_path):
    target = precious(tmp_path)
    log = tmp_path / "task.log"
    os.link(target, log)
    with pytest.raises(LinkRefusedError, match=HARD):
        append_log(log, "a line")
    assert target.read_text() == SOMEONE_ELSES


def test_a_fifo_at_the_lock_name_is_refused_without_blocking(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / LOCK_NAME)
    with pytest.raises(LinkRefusedError, match="not a regular file"):
        claim_folder(out, "run")
    assert stat.S_ISFIFO(os.lstat(out / LOCK_NAME).st_mode)


# ------------------------------------------------------------------ 2. paths checked before writing

SPEC = dict(datasets=("synthetic",), trials=1, preset="ci", overrides={"cycles": 2, "epochs": 1, "device": "cpu"})


@pytest.mark.parametrize("when", ["planted-mid-sweep", "added-on-resume"])
def test_a_task_folder_that_is_a_link_is_refused_before_its_task_runs(tmp_path, when):
    out, elsewhere = tmp_path / "sweep", tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = out / SweepTask("synthetic", "entropy", 0).directory
    messages: list[str] = []
    if when == "added-on-resume":
        run_sweep(SweepSpec(methods=("random",), **SPEC), out, log=None)
        victim.parent.mkdir(parents=True)
        victim.symlink_to(elsewhere, target_is_directory=True)
        log = messages.append
    else:
        def log(message: str) -> None:
            messages.append(message)
            if "run(s) to do" in message:  # planned and saved; no task has run yet
                victim.parent.mkdir(parents=True, exist_ok=True)
                victim.symlink_to(elsewhere, target_is_directory=True)
    sweep = run_sweep(SweepSpec(methods=("random", "entropy"), **SPEC), out, resume=when == "added-on-resume", log=log)
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    assert sweep.failed == ["synthetic/entropy/trial-0"] and "synthetic/random/trial-0" in sweep.finished
    failure = sweep.task("synthetic/entropy/trial-0")["failure"]["error"]
    assert ("symlink" in failure or "symbolic link" in failure) and "entropy" in failure
    assert any("entropy/trial-0 FAILED" in m and "refus" in m for m in messages)


# ------------------------------------------------------------------ 3. a results path that is not a file


class _ReplaceByFolder(Callback):
    def __init__(self, path: Path) -> None:
        self.path = path

    def on_cycle_end(self, method, trial, record, selection) -> None:
        if record["cycle"] == 0:
            self.path.unlink()
            self.path.mkdir()


def test_a_results_file_replaced_by_a_folder_mid_run_is_refused_not_written_into(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ResultsSaveError, match="is a directory, not a results file"):
        run_experiment(ci_config(methods=("random",), cycles=2, epochs=1, milestones=(1,)), out, progress=False,
                       callbacks=[_ReplaceByFolder(out / "results.json")])
    assert (out / "results.json").is_dir() and list((out / "results.json").iterdir()) == []


def test_saving_onto_a_fifo_is_refused(tmp_path):
    from tavaal_nb.results import Results
    os.mkfifo(tmp_path / "results.json")
    results = Results.new({"dataset": "synthetic"}, {"name": "synthetic"})
    with pytest.raises(ResultsSaveError, match="not a regular file"):
        results.save(tmp_path / "results.json")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "results.json").st_mode)


# ---------------------------------------------------------------------- 4. a worker's error, one line


@pytest.mark.slow
def test_a_parallel_trials_worker_error_is_one_line_in_the_parent(tmp_path, capsys):
    out = tmp_path / "out"
    trial = out / "trials" / "trial-0"
    trial.mkdir(parents=True)
    target = precious(tmp_path)
    (trial / LOCK_NAME).symlink_to(target)
    code = main(["run", *CI, "--method", "random", *SHORT, "--trials", "1", "--parallel-trials", "2",
                 "--out", str(out), "--resume"])
    err = one_line(capsys.readouterr().err)
    assert code != 0 and "trial 0" in err and "is a symbolic link; refusing to write through it" in err
    assert "task.log" in err  # where the worker's traceback is
    assert target.read_text() == SOMEONE_ELSES


# ---------------------------------------------------------------------------- 5. counts on resume


@pytest.mark.parametrize(("change", "named"), [
    (lambda run: run["initial_indices"].pop(), "initial_indices holds 19 indices, the configuration's initial is 20"),
    (lambda run: run["cycles"][0]["selected_indices"].pop(),
     "cycle 0, selected_indices holds 19 indices, the configuration's budget is 20"),
])
def test_resume_checks_the_stored_counts(run_copy, monkeypatch, capsys, change, named):
    path = run_copy / "results.json"
    document = json.loads(path.read_text())
    document["runs"][0]["finished"] = False
    change(document["runs"][0])
    path.write_text(json.dumps(document))
    before = path.read_bytes()
    no_training(monkeypatch)
    code = main(["run", *CI, "--method", "random", *SHORT, "--out", str(run_copy), "--resume"])
    err = one_line(capsys.readouterr().err)
    assert code == 2 and named in err and "left untouched" in err
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------- 8. numbers too big


@pytest.mark.parametrize("argv", [["sweep", "--dataset", "synthetic", "--method", "random", "--workers"],
                                  ["run", "--method", "random", "--parallel-trials"]], ids=["sweep", "run"])
def test_a_worker_count_too_big_is_one_line(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        main([*argv, str(10**20), "--preset", "ci", "--device", "cpu", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in err and "at most" in err, err
    assert not (tmp_path / "out").exists()


def test_run_sweep_refuses_a_worker_count_too_big(tmp_path):
    with pytest.raises(ValueError, match="at most"):
        run_sweep(SweepSpec(methods=("random",), **SPEC), tmp_path / "out", workers=10**20)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- 11. provenance


def _git_checkout(folder: Path) -> Path:
    package = folder / "tavaal_nb"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", "-C", str(folder), *args], check=True, env=env, capture_output=True)
    return package


def test_provenance_reads_a_checkout_whose_folder_name_is_not_utf8(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    package = _git_checkout(tmp_path / os.fsdecode(b"caf\xe9-\xff"))
    found = provenance.source_commit(package)
    assert isinstance(found["git_commit"], str) and len(found["git_commit"]) == 40 and found["git_dirty"] is False


def test_provenance_survives_a_git_that_prints_bytes_that_are_not_utf8(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_bytes(b"#!/bin/sh\nprintf '\\377\\376 not utf-8'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert provenance.source_commit() == {"git_commit": None, "git_dirty": None}


def test_provenance_never_stops_a_run(monkeypatch):
    import torch

    def broken(*_args, **_kwargs):
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    monkeypatch.setattr(provenance, "_git", broken)
    entry = provenance.session_entry(torch.device("cpu"))
    assert entry["git_commit"] is None and entry["git_dirty"] is None


# ---------------------------------------------------------------------------- 12. plug-ins that exit


@pytest.mark.parametrize(("source", "named"), [("import sys\nsys.exit(0)\n", "SystemExit"),
                                               ("raise KeyboardInterrupt\n", "KeyboardInterrupt")])
def test_a_plugin_that_exits_on_import_is_a_failed_plugin(plugin_folder, capsys, source, named):  # noqa: F811
    (plugin_folder / "exitplug.py").write_text(source)
    code = main(["methods", "--plugin", "./exitplug.py"])
    err = one_line(capsys.readouterr().err)
    assert code == 2 and "plugin './exitplug.py' failed to import" in err and named in err


# ---------------------------------------------------------------------------- 13. the publisher


@pytest.fixture
def bare_repository(tmp_path):
    """A git repository with one commit and no notebooks/."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    _git_checkout(tmp_path / "repo")
    return tmp_path / "repo"


def test_the_publisher_reports_a_source_without_notebooks_in_one_line(bare_repository, capsys):
    from tavaal_nb.classroom.student_edition import main as student_main
    head = subprocess.run(["git", "-C", str(bare_repository), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout
    code = student_main(["publish", "--root", str(bare_repository)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1, err
    assert "notebooks" in err
    assert subprocess.run(["git", "-C", str(bare_repository), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout == head


@pytest.mark.parametrize("branch", ["HEAD", "-x", "a..b"])
def test_the_publisher_refuses_a_branch_name_git_refuses(bare_repository, capsys, branch):
    from tavaal_nb.classroom.student_edition import main as student_main
    code = student_main(["publish", "--root", str(bare_repository), f"--branch={branch}"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1 and "branch name" in err, err
    refs = subprocess.run(["git", "-C", str(bare_repository), "for-each-ref"], capture_output=True, text=True,
                          check=True).stdout
    assert "student" not in refs and "refs/heads/HEAD" not in refs

