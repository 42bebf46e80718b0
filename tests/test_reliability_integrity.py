"""Nothing lost, nothing injected, part 2 (issue 19): data loss and integrity.

1. A symbolic link placed where tavaal-nb writes (lock file, results file, task log, backups, the
   HTML report) is refused or replaced, never written through.
2. A results folder removed (or replaced) during a run is not recreated: the run stops with one line.
3. A strategy cannot change the data other methods read: a plug-in gets a private copy, the built-ins
   are checked here never to write into the shared one.
4. A strategy's selection is checked before it is used: one ``error:`` line naming the method and the cycle.
5. ``--resume`` of a file whose stored indices cannot be replayed leaves the file untouched.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import ALL_METHODS, CI_BUDGET, ci_config
from test_reliability import CI, no_training, one_error_line

from tavaal_nb import run_experiment
from tavaal_nb.callbacks import Callback
from tavaal_nb.cli import main
from tavaal_nb.errors import LinkRefusedError, ResultsSaveError, SelectionError
from tavaal_nb.experiment_data import prepare_data
from tavaal_nb.outdir import LOCK_NAME, claim_folder, move_aside
from tavaal_nb.results import Results
from tavaal_nb.strategies import register_strategy, strategy_names, unregister_strategy
from tavaal_nb.strategies.base import Selection, Strategy, check_selection
from tavaal_nb.sweep.task import append_log

SHORT = ["--cycles", "2", "--epochs", "1", "--milestones", "1"]
REFUSED = "is a symbolic link; refusing to write through it"


def short_config(methods=("random",)):
    return ci_config(methods=methods, cycles=2, epochs=1, milestones=(1,))


def one_line(err: str) -> str:
    """One ``error:`` line, no traceback."""
    assert one_error_line(err).count("\n") == 1, err
    return err


@pytest.fixture
def plugins():
    """Register strategies for one test; they are removed afterwards."""
    before = set(strategy_names())
    yield lambda strategy, name: register_strategy(strategy, name)
    for name in set(strategy_names()) - before:
        unregister_strategy(name)


def precious(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("someone else's file\n")
    return target


# ------------------------------------------------------------------------ 1. never through a link


def test_a_linked_lock_file_is_refused_and_its_target_untouched(run_copy, tmp_path, monkeypatch, capsys):
    target = precious(tmp_path)
    (run_copy / LOCK_NAME).symlink_to(target)
    no_training(monkeypatch)
    code = main(["run", *CI, "--method", "random", *SHORT, "--out", str(run_copy), "--resume"])
    err = one_line(capsys.readouterr().err)
    assert code == 2 and f"{run_copy / LOCK_NAME} {REFUSED}" in err
    assert target.read_text() == "someone else's file\n"
    assert (run_copy / LOCK_NAME).is_symlink()  # left as it was found


def test_a_lock_link_to_a_missing_file_creates_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(tmp_path / "would-be-created")
    with pytest.raises(LinkRefusedError, match=REFUSED):
        claim_folder(out, "run")
    assert not (tmp_path / "would-be-created").exists()


def test_a_linked_results_file_is_replaced_not_written_through(run_copy, tmp_path):
    target = tmp_path / "elsewhere.json"
    shutil.move(run_copy / "results.json", target)
    before = target.read_bytes()
    (run_copy / "results.json").symlink_to(target)
    run_experiment(short_config(), run_copy, resume=True, progress=False)
    assert target.read_bytes() == before
    assert not (run_copy / "results.json").is_symlink()
    assert len(Results.load(run_copy).data["sessions"]) == 2


def test_a_linked_task_log_is_refused(tmp_path):
    target = precious(tmp_path)
    log = tmp_path / "task.log"
    log.symlink_to(target)
    with pytest.raises(LinkRefusedError, match=REFUSED):
        append_log(log, "a line")
    assert target.read_text() == "someone else's file\n"


@pytest.mark.parametrize("to", ["file", "folder"])
def test_overwrite_moves_a_link_aside_as_a_link(tmp_path, to):
    target = precious(tmp_path)
    if to == "folder":
        target = tmp_path / "someone-elses-folder"
        target.mkdir()
    link = tmp_path / "out" / "results.json"
    link.parent.mkdir()
    link.symlink_to(target)
    backup = move_aside(link)
    assert backup.is_symlink() and backup.readlink() == target
    assert not link.exists() and not link.is_symlink()
    assert target.exists() and sorted(p.name for p in link.parent.iterdir()) == [backup.name]


def test_a_linked_report_page_is_replaced_not_written_through(run_copy, tmp_path):
    target = precious(tmp_path)
    page = tmp_path / "report.html"
    page.symlink_to(target)
    assert main(["report", str(run_copy), "--html", str(page), "--overwrite"]) == 0
    assert target.read_text() == "someone else's file\n"
    assert not page.is_symlink() and "<html" in page.read_text().lower()


# ------------------------------------------------------------------------ 2. a removed folder is not recreated


class ReplaceFolderAfterFirstCycle(Callback):
    """Removes the results folder after cycle 0 and puts another writer's folder in its place."""

    def __init__(self, out):
        self.out = out

    def on_cycle_end(self, method, trial, record, selection):
        if record["cycle"] == 0:
            shutil.rmtree(self.out)
            self.out.mkdir()
            (self.out / "another-run.txt").write_text("another writer's folder\n")


def test_a_folder_replaced_mid_run_is_left_alone(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ResultsSaveError) as info:
        run_experiment(short_config(), out, progress=False, callbacks=[ReplaceFolderAfterFirstCycle(out)])
    assert str(info.value) == (f"the results folder {out} was removed or replaced during the run; "
                               "nothing more is written there")
    assert sorted(p.name for p in out.iterdir()) == ["another-run.txt"]


def test_a_folder_removed_mid_run_is_one_line_and_not_recreated(tmp_path, plugins, capsys):
    out = tmp_path / "out"

    def vanish(context):
        shutil.rmtree(out)
        return torch.rand(context.candidates.numel(), generator=context.generator)

    plugins(vanish, "vanish")
    code = main(["run", *CI, "--method", "vanish", *SHORT, "--out", str(out)])
    err = one_line(capsys.readouterr().err)
    assert code == 2 and "was removed or replaced during the run; nothing more is written there" in err
    assert not out.exists()


# ------------------------------------------------------------------------ 3. strategies cannot change others' data


def comparable(results, method):
    keys = ("cycle", "labeled_size", "test_accuracy", "labeled_class_counts", "selected_indices",
            "selected_class_counts")
    run = results.run(method, 0)
    return run["initial_indices"], [{k: c[k] for k in keys} for c in run["cycles"]]


def snapshot(data):
    return [t.clone() for t in (data.train_images, data.train_labels, data.test_images, data.test_labels)]


def unchanged(data, copies):
    return all(torch.equal(t, c) for t, c in
               zip((data.train_images, data.train_labels, data.test_images, data.test_labels), copies))


def test_a_plugin_writing_into_the_data_changes_no_other_methods_records(plugins):
    def vandal(context):
        context.data.train_labels.zero_()
        context.data.train_images.zero_()
        context.data.test_images.zero_()
        context.augmenter.mean.add_(1.0)
        context.labeled.zero_()  # its own copy: the loop's labeled set is its own
        return torch.rand(context.candidates.numel(), generator=context.generator)

    plugins(vandal, "vandal")
    data = prepare_data(short_config())
    copies = snapshot(data)
    alone = run_experiment(short_config(("random",)), progress=False, data=data)
    both = run_experiment(short_config(("vandal", "random")), progress=False, data=data)
    assert unchanged(data, copies)
    assert comparable(both, "random") == comparable(alone, "random")


@pytest.mark.slow
def test_built_in_strategies_never_write_into_the_shared_data():
    """The built-ins get the shared data (no copy): none may change it."""
    data = prepare_data(short_config())
    copies = snapshot(data)
    run_experiment(short_config(ALL_METHODS), progress=False, data=data)
    assert unchanged(data, copies)


# ------------------------------------------------------------------------ 4. selections are checked


def bad_selection(kind, context):
    candidates = context.candidates.cpu()
    labeled = context.labeled.cpu()
    budget = context.budget
    indices = {
        "too many": lambda: candidates[:budget + 5],
        "too few": lambda: candidates[:budget - 1],
        "float": lambda: candidates[:budget].float(),
        "repeated": lambda: torch.cat([candidates[:budget - 1], candidates[:1]]),
        "out of range": lambda: torch.cat([candidates[:budget - 1], torch.tensor([context.data.train_size + 3])]),
        "labeled": lambda: torch.cat([candidates[:budget - 1], labeled[:1]]),
        "a list": lambda: candidates[:budget].tolist(),
    }[kind]()
    return Selection(indices=indices, scores=torch.zeros(candidates.numel()), candidates=candidates)


@pytest.mark.parametrize(("kind", "named"), [
    ("too many", f"returned {CI_BUDGET + 5} indices in cycle 0"),
    ("too few", f"returned {CI_BUDGET - 1} indices in cycle 0"),
    ("float", "returned float32 indices in cycle 0"),
    ("repeated", "returned a repeated index in cycle 0"),
    ("out of range", "returned 1 index(es) that are not candidates of cycle 0"),
    ("labeled", "returned 1 index(es) that are not candidates of cycle 0"),
    ("a list", "returned indices of type list in cycle 0"),
])
def test_a_bad_selection_is_one_line_naming_the_method_and_cycle(kind, named, plugins, tmp_path, capsys):
    class Bad(Strategy):
        def select(self, context):
            return bad_selection(kind, context)

    plugins(Bad, "bad")
    out = tmp_path / "out"
    code = main(["run", *CI, "--method", "bad", *SHORT, "--out", str(out)])
    err = one_line(capsys.readouterr().err)
    assert code == 2
    assert f"method 'bad' {named}" in err
    assert f"it must return exactly {CI_BUDGET} distinct candidate indices" in err
    assert not out.exists()  # the first query failed: no cycle was finished, nothing is left


def test_the_last_query_may_have_fewer_candidates_than_the_budget():
    candidates = torch.tensor([3, 5, 8])
    assert check_selection(Selection(torch.tensor([8, 3, 5]), torch.zeros(3), candidates),
                           candidates, 20, "m", 4).tolist() == [8, 3, 5]
    with pytest.raises(SelectionError, match="method 'm' returned 2 indices in cycle 4; it must return exactly 3 "):
        check_selection(Selection(torch.tensor([8, 3]), torch.zeros(3), candidates), candidates, 20, "m", 4)


# ------------------------------------------------------------------------ 5. resume checks stored indices first


@pytest.mark.parametrize(("change", "named"), [
    (lambda run, size: run["initial_indices"].__setitem__(0, size + 7),
     "run 0 (random, trial 0), initial_indices: pool indices must lie in"),
    (lambda run, size: run["cycles"][0]["selected_indices"].__setitem__(1, run["cycles"][0]["selected_indices"][0]),
     "run 0 (random, trial 0), cycle 0, selected_indices: an index was selected twice"),
    (lambda run, size: run["cycles"][0]["selected_indices"].__setitem__(0, run["initial_indices"][0]),
     "run 0 (random, trial 0), cycle 0, selected_indices: indices already labeled"),
])
def test_resume_with_bad_indices_leaves_the_file_untouched(run_copy, change, named, monkeypatch, capsys):
    path = run_copy / "results.json"
    document = json.loads(path.read_text())
    run = document["runs"][0]
    run["finished"] = False
    change(run, document["dataset"]["train_size"])
    path.write_text(json.dumps(document))
    before = path.read_bytes()
    no_training(monkeypatch)
    code = main(["run", *CI, "--method", "random", *SHORT, "--out", str(run_copy), "--resume"])
    err = one_line(capsys.readouterr().err)
    assert code == 2 and f"{path}: {named}" in err and "left untouched" in err
    assert path.read_bytes() == before
    assert sorted(p.name for p in run_copy.iterdir()) == ["results.json"]


def test_a_sweep_folder_removed_mid_sweep_stops_the_sweep_and_its_manifest_is_not_written_again(tmp_path):
    from tavaal_nb.sweep import SweepSpec, run_sweep

    out = tmp_path / "sweep"
    spec = SweepSpec(datasets=("synthetic",), methods=("random",), trials=1, preset="ci",
                     overrides={"cycles": 2, "epochs": 1, "device": "cpu"}, seed=0)

    def remove_when_planned(message: str) -> None:
        if "run(s) to do" in message:  # sweep.json is written; the tasks have not run yet
            shutil.rmtree(out)

    with pytest.raises(ResultsSaveError, match="was removed or replaced during the run; nothing more is written"):
        run_sweep(spec, out, log=remove_when_planned)
    assert not (out / "sweep.json").exists()  # the task's run may have made the folder again: no manifest in it
