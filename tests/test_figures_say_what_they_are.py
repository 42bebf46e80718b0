"""Figures say what they are: a ``ci``-preset run is marked a smoke test on the figure's face, and a
learning curve of one trial never claims a standard deviation."""

from __future__ import annotations

import copy
import json

import pytest

from tavaal_nb.analysis.plots import (
    SMOKE_TEST_NOTE,
    class_entropy_figure,
    discriminator_histogram_figure,
    entropy_readings_figure,
    learning_curves_figure,
    mark_smoke_test,
    trials_in,
)
from tavaal_nb.classroom.widgets import ClassEntropyView, DiscriminatorHistogram, LearningCurves, PairedComparisonView
from tavaal_nb.results import Results


def smoke_notes(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations if a.name == "smoke-test"]


def as_preset(results: Results, preset: str, trials: int | None = None) -> Results:
    """A copy of ``results`` that says it ran at ``preset`` (and keeps only trials below ``trials``)."""
    data = copy.deepcopy(results.data)
    data["config"]["preset"] = preset
    if trials is not None:
        data["runs"] = [run for run in data["runs"] if run["trial"] < trials]
    return Results(data)


@pytest.fixture
def two_trials(two_trial_run):
    """conftest's finished ci run of random and vaal, 2 trials of 2 cycles (shared with other test modules)."""
    return two_trial_run


def test_every_figure_of_a_ci_run_says_it_is_a_smoke_test(two_trials):
    assert two_trials.config["preset"] == "ci"
    figures = [learning_curves_figure([two_trials]), class_entropy_figure(two_trials),
               discriminator_histogram_figure(two_trials, 0), entropy_readings_figure(two_trials)]
    for fig in figures:
        assert smoke_notes(fig) == [SMOKE_TEST_NOTE], fig.layout.title.text
        assert fig.layout.title.text.startswith("SMOKE TEST (ci preset): ")


def test_a_figure_of_another_preset_is_not_marked(two_trials):
    cpu = as_preset(two_trials, "cpu")
    for fig in (learning_curves_figure([cpu]), class_entropy_figure(cpu), entropy_readings_figure(cpu)):
        assert smoke_notes(fig) == [] and "SMOKE" not in fig.layout.title.text
    # one ci member among several results is enough to mark the figure
    assert smoke_notes(learning_curves_figure([cpu, two_trials])) == [SMOKE_TEST_NOTE]


def test_marking_twice_marks_once(two_trials):
    fig = mark_smoke_test(learning_curves_figure([two_trials]), two_trials)
    assert smoke_notes(fig) == [SMOKE_TEST_NOTE]
    assert fig.layout.title.text.count("SMOKE TEST") == 1


def test_the_views_of_a_ci_run_are_marked_too(two_trials, tmp_path):
    for view in (LearningCurves(two_trials.path, static=True), ClassEntropyView(two_trials.path, static=True),
                 DiscriminatorHistogram(two_trials.path, static=True),
                 PairedComparisonView(two_trials.path, static=True)):
        assert smoke_notes(view.figure) == [SMOKE_TEST_NOTE], type(view).__name__
    cpu_file = tmp_path / "cpu" / "results.json"
    cpu_file.parent.mkdir()
    cpu_file.write_text(json.dumps(as_preset(two_trials, "cpu").data))
    assert smoke_notes(LearningCurves(cpu_file, static=True).figure) == []


def test_one_trial_draws_no_band_and_says_so_two_trials_say_std(two_trials):
    cpu = as_preset(two_trials, "cpu")
    assert trials_in([cpu]) == 2
    fig = learning_curves_figure([cpu])
    assert fig.layout.title.text == "Test accuracy against labeled-set size (mean +- 1 std over 2 trials)"
    assert {t.name for t in fig.data} >= {"random +-1 std", "vaal +-1 std"}
    single = as_preset(two_trials, "cpu", trials=1)
    assert trials_in([single]) == 1
    fig = learning_curves_figure([single])
    assert fig.layout.title.text == "Test accuracy against labeled-set size (1 trial: no spread)"
    assert not any("std" in (t.name or "") for t in fig.data)
    assert "std" not in fig.layout.title.text
