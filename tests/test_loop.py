"""The active-learning loop: determinism, paired initial sets, resuming, results-file safety, NaN."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil

import pytest
from conftest import CI_CYCLES, ci_config

import tavaal_nb.loop as loop_module
from tavaal_nb import Callback, run_experiment
from tavaal_nb.errors import NonFiniteLossError, ResultsMismatchError
from tavaal_nb.results import Results, ResultsFileError

PAIR = ("tavaal", "random")


def without_timings(runs: list[dict]) -> list[dict]:
    """The runs' records with the wall-clock fields removed (the only thing allowed to differ)."""
    runs = copy.deepcopy(runs)
    for run in runs:
        for record in run["cycles"]:
            record.pop("timings_s")
    return runs


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """An uninterrupted run of TA-VAAL and random (ci preset, synthetic, seed 0), written to disk: a whole
    experiment, so the tests using it are marked slow."""
    out = tmp_path_factory.mktemp("baseline")
    results = run_experiment(ci_config(methods=PAIR), out, progress=False)
    return results, out


@pytest.fixture
def baseline_copy(baseline, tmp_path):
    _, out = baseline
    target = tmp_path / "copy"
    shutil.copytree(out, target)
    return target


def reload(out) -> dict:
    return json.loads((out / "results.json").read_text())


# ----------------------------------------------------------------------------- determinism


@pytest.mark.slow
def test_same_seed_same_records(baseline):
    results, _ = baseline
    again = run_experiment(ci_config(methods=PAIR), progress=False)
    assert without_timings(again.runs) == without_timings(results.runs)
    # the records that matter, named: same initial set, same picks, same accuracies
    for a, b in zip(again.runs, results.runs):
        assert a["initial_indices"] == b["initial_indices"]
        assert [r["selected_indices"] for r in a["cycles"]] == [r["selected_indices"] for r in b["cycles"]]
        assert [r["test_accuracy"] for r in a["cycles"]] == [r["test_accuracy"] for r in b["cycles"]]


def test_adding_methods_changes_no_records(baseline, synthetic_run):
    # synthetic_run has all seven methods, baseline two: the shared ones must agree exactly.
    results, _ = baseline
    everything, _ = synthetic_run
    for method in PAIR:
        assert without_timings([everything.run(method, 0)]) == without_timings([results.run(method, 0)])


@pytest.mark.slow
def test_another_seed_differs(baseline):
    results, _ = baseline
    other = run_experiment(ci_config(methods=("tavaal",), seed=1), progress=False)
    mine, theirs = results.run("tavaal", 0), other.run("tavaal", 0)
    assert mine["initial_indices"] != theirs["initial_indices"]
    assert [r["selected_indices"] for r in mine["cycles"]] != [r["selected_indices"] for r in theirs["cycles"]]


def test_every_method_of_a_trial_starts_from_the_same_labeled_set():
    results = run_experiment(ci_config(methods=("random", "entropy", "coreset"), trials=2, cycles=1, epochs=1, milestones=(1,)), progress=False)
    initial = {(run["method"], run["trial"]): run["initial_indices"] for run in results.runs}
    assert len(initial) == 6
    for trial in (0, 1):
        assert initial[("random", trial)] == initial[("entropy", trial)] == initial[("coreset", trial)]
        assert len(initial[("random", trial)]) == 20
    assert initial[("random", 0)] != initial[("random", 1)]
    # the initial set is also the labeled set of cycle 0: same class counts for every method
    counts = {run["method"]: run["cycles"][0]["labeled_class_counts"] for run in results.runs if run["trial"] == 1}
    assert counts["random"] == counts["entropy"] == counts["coreset"]


# ----------------------------------------------------------------------------- resume


class StopAt(Callback):
    """Simulates Ctrl-C: after cycle ``cycle`` of ``method`` ends, or during an epoch of it."""

    def __init__(self, method: str, cycle: int, during: bool) -> None:
        self.method, self.cycle, self.during = method, cycle, during

    def on_cycle_end(self, method, trial, record, selection):
        if not self.during and method == self.method and record["cycle"] == self.cycle:
            raise KeyboardInterrupt

    def on_epoch_end(self, method, trial, cycle, epoch, loss):
        if self.during and method == self.method and cycle == self.cycle:
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    "method,cycle,during,saved",
    [
        ("tavaal", 1, False, 2),  # after cycle 1 of the first method: cycles 0 and 1 are saved
        ("random", 2, True, 2),  # in the middle of the last cycle of the second method
    ],
)
@pytest.mark.slow
def test_resume_gives_the_uninterrupted_records(baseline, tmp_path, method, cycle, during, saved):
    results, _ = baseline
    out = tmp_path / "interrupted"
    config = ci_config(methods=PAIR)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, out, callbacks=[StopAt(method, cycle, during)], progress=False)
    stored = reload(out)
    partial = next(run for run in stored["runs"] if run["method"] == method)
    assert len(partial["cycles"]) == saved and partial["finished"] is False
    resumed = run_experiment(config, out, resume=True, progress=False)
    assert without_timings(resumed.runs) == without_timings(results.runs)
    on_disk = reload(out)
    assert without_timings(on_disk["runs"]) == without_timings(results.runs)
    assert on_disk["status"] == "finished" and len(on_disk["sessions"]) == 2


@pytest.mark.slow
def test_resuming_a_finished_run_adds_nothing(baseline, baseline_copy):
    results, _ = baseline
    resumed = run_experiment(ci_config(methods=PAIR), baseline_copy, resume=True, progress=False)
    assert without_timings(resumed.runs) == without_timings(results.runs)
    assert all(len(run["cycles"]) == CI_CYCLES for run in reload(baseline_copy)["runs"])


# ----------------------------------------------------------------------------- results-file safety


@pytest.mark.slow
def test_existing_results_are_refused(baseline_copy):
    before = (baseline_copy / "results.json").read_bytes()
    with pytest.raises(FileExistsError) as info:
        run_experiment(ci_config(methods=PAIR), baseline_copy, progress=False)
    assert "--resume" in str(info.value) and "--overwrite" in str(info.value)
    assert (baseline_copy / "results.json").read_bytes() == before


@pytest.mark.slow
def test_overwrite_keeps_a_backup(baseline_copy, capsys):
    before = (baseline_copy / "results.json").read_bytes()
    new = run_experiment(ci_config(methods=("random",), cycles=1), baseline_copy, overwrite=True, progress=False)
    backups = sorted(baseline_copy.glob("results.json.replaced-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == before
    assert str(backups[0]) in capsys.readouterr().out
    assert reload(baseline_copy)["config"]["methods"] == ["random"] == new.config["methods"]


@pytest.mark.slow
def test_resume_and_overwrite_together_is_an_error(baseline_copy):
    with pytest.raises(ValueError, match="contradict"):
        run_experiment(ci_config(methods=PAIR), baseline_copy, resume=True, overwrite=True, progress=False)


@pytest.mark.slow
def test_resume_with_another_config_names_the_difference(baseline_copy):
    before = (baseline_copy / "results.json").read_bytes()
    with pytest.raises(ResultsMismatchError) as info:
        run_experiment(ci_config(methods=PAIR, budget=10), baseline_copy, resume=True, progress=False)
    listed = [line[4:] for line in str(info.value).splitlines() if line.startswith("  - ")]
    assert len(listed) == 1, listed  # only the differing field is listed
    assert listed[0].startswith("budget") and "20" in listed[0] and "10" in listed[0]
    assert (baseline_copy / "results.json").read_bytes() == before
    assert not list(baseline_copy.glob("results.json.replaced-*"))


@pytest.mark.parametrize(
    "content",
    [b'{"format": "tavaal-nb/results", "runs": [', b'{"some": "other json"}', b"\xff\xfe not text"],
    ids=["truncated", "not-ours", "binary"],
)
def test_a_results_file_that_does_not_parse_is_left_untouched(tmp_path, content):
    out = tmp_path / "broken"
    out.mkdir()
    (out / "results.json").write_bytes(content)
    with pytest.raises(ResultsFileError) as info:
        run_experiment(ci_config(methods=("random",)), out, resume=True, progress=False)
    assert "untouched" in str(info.value) and str(out / "results.json") in str(info.value)
    with pytest.raises(FileExistsError):
        run_experiment(ci_config(methods=("random",)), out, progress=False)
    assert (out / "results.json").read_bytes() == content
    assert sorted(p.name for p in out.iterdir()) == ["results.json"]


@pytest.mark.slow
def test_results_load_round_trip(baseline):
    results, out = baseline
    loaded = Results.load(out)
    assert loaded.data == json.loads(json.dumps(results.data))
    assert loaded.is_finished() and loaded.methods == list(PAIR)


# ----------------------------------------------------------------------------- non-finite losses


@pytest.mark.slow
def test_nan_in_the_task_model_stops_after_saving_finished_cycles(baseline, tmp_path, monkeypatch):
    calls = []
    real = loop_module.train_task_model

    def absurd_second_cycle(task, data, labeled, config, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # cycle 1: a learning rate of 1e30 blows the weights up after one step
            config = dataclasses.replace(config, lr=1e30)
        return real(task, data, labeled, config, *args, **kwargs)

    monkeypatch.setattr(loop_module, "train_task_model", absurd_second_cycle)
    out = tmp_path / "nan"
    config = ci_config(methods=("random",))
    with pytest.raises(NonFiniteLossError) as info:
        run_experiment(config, out, progress=False)
    error = info.value
    assert error.model == "task model"
    assert error.step >= 1  # step 0 runs on the fresh weights, before any update: its loss is finite
    assert "task model" in str(error) and f"step {error.step}" in str(error) and "--resume" in str(error)
    stored = reload(out)
    run = stored["runs"][0]
    assert [r["cycle"] for r in run["cycles"]] == [0] and run["finished"] is False
    assert stored["status"].startswith("stopped")
    # with the cause removed, --resume finishes the run exactly as an uninterrupted one
    monkeypatch.undo()
    resumed = run_experiment(config, out, resume=True, progress=False)
    results, _ = baseline
    assert without_timings([resumed.run("random", 0)]) == without_timings([results.run("random", 0)])


def test_nan_in_the_vae_names_it(tmp_path):
    out = tmp_path / "nan-vae"
    with pytest.raises(NonFiniteLossError) as info:
        run_experiment(ci_config(methods=("vaal",), vae_lr=1e30, disc_lr=1e30), out, progress=False)
    assert info.value.model in ("conditional VAE", "discriminator")
    assert info.value.model in str(info.value) and f"step {info.value.step}" in str(info.value)
    stored = reload(out)
    assert stored["status"].startswith("stopped") and stored["runs"][0]["cycles"] == []


def test_too_many_cycles_for_the_pool(tmp_path):
    out = tmp_path / "too-many"
    # 30 cycles: 20 initial + 29 queries x 20 = 600 images, but the ci pool has 400
    with pytest.raises(ValueError) as info:
        run_experiment(ci_config(methods=("random",), cycles=30), out, progress=False)
    assert "600" in str(info.value) and "400" in str(info.value)
    assert not (out / "results.json").exists()


@pytest.mark.slow
def test_the_eval_batch_size_changes_no_record(baseline):
    """``eval_batch_size`` is an execution field (not compared on resume): how many images one inference pass
    takes changes no test accuracy, no score and no selection (eval mode: each image's outputs are its own)."""
    results, _ = baseline
    assert results.config["eval_batch_size"] == 128  # the ci preset's: every inference here is one or two batches
    small = run_experiment(ci_config(methods=PAIR, eval_batch_size=7), progress=False)
    # a convolution over 7 images may sum in another order than over 128: float outputs (scores, and the VAE's
    # losses, which see the Ranker's r) agree to float precision (the file keeps 6 digits, so the last one may
    # differ); every count, index and selection exactly
    assert_close(without_timings(small.runs), without_timings(results.runs))


def assert_close(a, b, path="runs"):
    """``a == b`` with floats compared to 1e-5 (absolute or relative); everything else exactly."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-5), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    else:
        assert a == b, path
