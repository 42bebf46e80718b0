"""Nothing lost, nothing injected, part 3 (issue 29): types and markup; and one owner for the cycle record (issue 30).

6. What the package writes, it can read: a strategy's ``strategy_data`` is checked by that strategy's rules,
   at save time (one line naming the method and the key) and on load; not by the VAAL family's rules.
7. Every field is typed on load, nested ones too (the config's fields, the sessions').
9. Plotly's own markup (``<a href>``, ``<span>``, ``%{...}`` in hover templates) is escaped in every figure.
10. Terminal output from a results file has its control characters escaped.
Issue 30, section 2: the cycle record's fields are defined once; a new field is a one-file change.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import TWO_TRIALS, ci_config
from test_reliability import CI, one_error_line

import tavaal_nb.cycle_record as cycle_record_module
from tavaal_nb import run_experiment
from tavaal_nb.analysis.plots import learning_curves_figure
from tavaal_nb.analysis.report import accuracy_table
from tavaal_nb.cli import main
from tavaal_nb.errors import SelectionError
from tavaal_nb.experiment_data import prepare_data
from tavaal_nb.results import VERSION, Results, ResultsFileError
from tavaal_nb.schema import Field, is_number
from tavaal_nb.strategies import Strategy, register_strategy, select_by_scores, strategy_names, unregister_strategy
from tavaal_nb.strategies.vaal import DISCRIMINATOR_SCORES, SELECTION_THRESHOLD

SHORT = dict(cycles=2, epochs=1, milestones=(1,))


@pytest.fixture
def plugins():
    before = set(strategy_names())
    yield register_strategy
    for name in set(strategy_names()) - before:
        unregister_strategy(name)


def _document(path) -> dict:
    return json.loads(path.read_text())


# ------------------------------------------------------------------ 6. each strategy's data, by its own rules


class Wordy(Strategy):
    """A plug-in whose own keys share the VAAL family's names, with strings in them."""

    name = "wordy"

    def select(self, context):
        scores = -context.candidates.float()
        return select_by_scores(context, scores, strategy_data={DISCRIMINATOR_SCORES: ["low"] * len(scores),
                                                                SELECTION_THRESHOLD: "high"})


def test_a_plugins_own_keys_are_not_held_to_vaals_rules(plugins, tmp_path, capsys):
    plugins(Wordy())
    out = tmp_path / "run"
    run_experiment(ci_config(methods=("wordy",), **SHORT), out, progress=False)
    loaded = Results.load(out)  # what the package writes, it reads
    assert loaded.runs[0]["cycles"][0]["strategy_data"][SELECTION_THRESHOLD] == "high"
    assert main(["report", str(out), "--html", str(tmp_path / "report.html")]) == 0
    run_experiment(ci_config(methods=("wordy",), **SHORT), out, resume=True, progress=False)
    capsys.readouterr()


class Tempered(Strategy):
    name = "tempered"
    data_fields = {"temperature": Field(is_number, "a number")}

    def select(self, context):
        return select_by_scores(context, -context.candidates.float(), strategy_data={"temperature": "hot"})


def test_a_strategys_data_is_checked_at_save_time_by_its_rules(plugins, tmp_path, monkeypatch, capsys):
    plugins(Tempered())
    out = tmp_path / "run"
    with pytest.raises(SelectionError, match="method 'tempered' returned, in cycle 0, strategy_data.temperature must "
                                             "be a number, got str"):
        run_experiment(ci_config(methods=("tempered",), **SHORT), out, progress=False)
    assert not out.exists()  # refused before anything was saved
    code = main(["run", *CI, "--method", "tempered", "--cycles", "2", "--epochs", "1", "--milestones", "1",
                 "--out", str(out)])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and err.count("\n") == 1 and "'tempered'" in err and "temperature" in err


@pytest.mark.parametrize("version", [VERSION, 1])
def test_a_strategys_data_is_checked_on_load_by_that_strategys_rules(run_copy, version):
    path = run_copy / "results.json"
    document = _document(path)
    run = document["runs"][0]
    record = run["cycles"][0]
    record.pop("strategy_data")
    record[DISCRIMINATOR_SCORES] = [0.5, "high"]  # the shape of version 1, before strategy_data existed
    if version == VERSION:
        record["strategy_data"] = {DISCRIMINATOR_SCORES: record.pop(DISCRIMINATOR_SCORES)}
    document["version"] = version
    path.write_text(json.dumps(document))
    Results.load(path)  # a random run: VAAL's rules are not its rules
    run["method"] = "vaal"
    document["config"]["methods"] = ["vaal"]
    path.write_text(json.dumps(document))
    with pytest.raises(ResultsFileError, match=r"runs\[0\]\.cycles\[0\]\.strategy_data\.discriminator_scores "
                                               r"\(vaal, trial 0\) must be a list of numbers or null"):
        Results.load(path)


# -------------------------------------------------------------------------- 7. every field typed on load


@pytest.mark.parametrize(("where", "value", "named"), [
    (("config", "dataset"), 3, "config.dataset must be a string, got int 3"),
    (("config", "methods"), "random", "config.methods must be a list of strings, got str"),
    (("config", "trials"), "2", "config.trials must be an integer, got str"),
    (("config", "vae_iterations"), 1.5, "config.vae_iterations must be an integer or null, got float 1.5"),
    (("sessions", 0, "wall_time_s"), "12 s", "sessions[0].wall_time_s must be a number of seconds >= 0, got str"),
    (("sessions", 0, "git_dirty"), "yes", "sessions[0].git_dirty must be true, false or null, got str"),
])
def test_every_nested_field_is_typed_on_load(run_copy, capsys, where, value, named):
    path = run_copy / "results.json"
    document = _document(path)
    target = document
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    path.write_text(json.dumps(document))
    before = path.read_bytes()
    with pytest.raises(ResultsFileError, match="left untouched") as info:
        Results.load(path)
    assert named in str(info.value)
    code = main(["report", str(run_copy), "--html", str(run_copy / "report.html")])
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and named in err and err.count("\n") == 1
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------------- 9. plotly's markup

LINK = "<a href='https://example.org'>random</a>"
TEMPLATE = "vaal %{y}"
STYLED_CLASS = "<span style='color:red'>c0</span>"


@pytest.fixture(scope="module")
def marked_up_run(tmp_path_factory, two_trial_run):
    """A copy of conftest's finished ci run (random and vaal, 2 trials) whose method names and first class name are
    then plotly markup."""
    out = tmp_path_factory.mktemp("markup") / "run"
    shutil.copytree(two_trial_run.path.parent, out)
    config = ci_config(**TWO_TRIALS)
    renamed = {"random": LINK, "vaal": TEMPLATE}
    path = out / "results.json"
    document = _document(path)
    for run in document["runs"]:
        run["method"] = renamed[run["method"]]
    document["config"]["methods"] = list(renamed.values())
    document["dataset"]["class_names"][0] = STYLED_CLASS
    path.write_text(json.dumps(document))
    data = prepare_data(config, torch.device("cpu"))
    data.class_names = list(document["dataset"]["class_names"])
    return out, data


def strings(value, key=""):
    """Every (key, string) of a figure's JSON."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from strings(item, name)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item, key)


def assert_escaped(fig, where: str) -> None:
    """No markup anywhere in ``fig``, and no name's ``%{...}`` in a template (elsewhere plotly substitutes nothing)."""
    found = [(key, s) for key, s in strings(fig.to_plotly_json())
             if "<a href" in s or "<span style" in s or (key.endswith("template") and TEMPLATE in s)]
    assert not found, f"{where}: raw markup {found[:3]}"


@pytest.mark.parametrize("static", [False, True], ids=["figurewidget", "static"])
def test_plotly_markup_in_names_is_escaped_in_every_figure(marked_up_run, static):
    from tavaal_nb.classroom.widgets import (
        ClassDiscriminatorHistogram,
        ClassEntropyView,
        DiscriminatorHistogram,
        LearningCurves,
        PairedComparisonView,
        SelectionGallery,
    )
    from tavaal_nb.strategies.base import Selection
    out, data = marked_up_run
    candidates = torch.argsort(data.train_labels, stable=True)[:40]
    selection = Selection(indices=candidates[:10], scores=torch.zeros(40), candidates=candidates,
                          strategy_data={DISCRIMINATOR_SCORES: torch.linspace(0, 1, 40)})
    views = {
        "LearningCurves": LearningCurves(out, static=static),
        "ClassEntropyView": ClassEntropyView(out, static=static),
        "DiscriminatorHistogram": DiscriminatorHistogram(out, static=static),
        "PairedComparisonView": PairedComparisonView(out, method_a=LINK, method_b=TEMPLATE, static=static),
        "SelectionGallery": SelectionGallery(data, results=out, method=LINK, trial=0, cycle=0, static=static),
        "ClassDiscriminatorHistogram": ClassDiscriminatorHistogram({TEMPLATE: selection}, data.train_labels,
                                                                   class_names=data.class_names, static=static),
    }
    for name, view in views.items():
        assert_escaped(view.figure, name)
    legend = [trace.name for trace in views["LearningCurves"].figure.data]
    assert "&lt;a href='https://example.org'&gt;random&lt;/a&gt;" in legend  # still readable, as text
    hovers = " ".join(t.hovertemplate or "" for t in views["LearningCurves"].figure.data)
    assert "vaal &#37;{y}" in hovers
    paired = views["PairedComparisonView"]
    paired.method_b.value = paired.method_a.value  # the error figure names the methods
    assert_escaped(paired.figure, "PairedComparisonView (error)")


def test_report_figures_escape_plotly_markup(marked_up_run):
    out, _ = marked_up_run
    results = Results.load(out)
    assert_escaped(learning_curves_figure([results], title=f"curves of {LINK}"), "learning_curves_figure")
    from tavaal_nb.analysis.plots import class_entropy_figure, discriminator_histogram_figure
    assert_escaped(class_entropy_figure(results, title=TEMPLATE), "class_entropy_figure")
    fig = discriminator_histogram_figure(results, 0)
    assert_escaped(fig, "discriminator_histogram_figure")
    assert any("threshold" in (note.text or "") for note in fig.layout.annotations)


# ------------------------------------------------------------------------------ 10. terminal output


def test_terminal_output_from_a_results_file_escapes_control_characters(run_copy, capsys):
    path = run_copy / "results.json"
    document = _document(path)
    forged = "random\n9999      99.99+-0.00"
    escape = "\x1b[2J\x1b[31mred\u202e"
    document["runs"][0]["method"] = forged
    document["runs"].append({**document["runs"][0], "method": escape})
    document["config"]["methods"] = [forged, escape]
    path.write_text(json.dumps(document))
    table = accuracy_table([Results.load(path)])
    assert "\x1b" not in table and "\u202e" not in table and table.count("\n") == 2  # a header and two rows
    assert "random\\n9999" in table and "\\x1b[2J" in table
    assert main(["report", str(run_copy)]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\n9999" not in printed


def test_a_malformed_file_names_its_run_with_control_characters_escaped(run_copy):
    path = run_copy / "results.json"
    document = _document(path)
    document["runs"][0]["method"] = "x\x1b[31m"
    document["runs"][0]["initial_indices"] = []
    path.write_text(json.dumps(document))
    with pytest.raises(ResultsFileError) as info:
        Results.load(path)
    assert "\x1b" not in str(info.value) and "(x\\x1b[31m, trial 0)" in str(info.value)


# ------------------------------------------------- issue 30: the cycle record's fields, defined once


def test_a_new_cycle_field_is_one_entry_in_cycle_fields(run_copy, monkeypatch, tmp_path):
    """A field added to CYCLE_FIELDS alone is built into every record, checked on load, and read from older files
    with its ``before`` value: no other file changes."""
    old = _document(run_copy / "results.json")  # written before the field existed
    monkeypatch.setitem(cycle_record_module.CYCLE_FIELDS, "labeled_fraction",
                        Field(lambda v: v is None or is_number(v), "a number or null",
                              lambda c: c.labeled.numel() / c.labels.numel(), before=None))
    out = tmp_path / "new"
    results = run_experiment(ci_config(methods=("random",), **SHORT), out, progress=False)
    assert [r["labeled_fraction"] for r in results.runs[0]["cycles"]] == [20 / 400, 40 / 400]
    assert Results.load(out).runs[0]["cycles"][1]["labeled_fraction"] == 40 / 400
    document = _document(out / "results.json")
    document["runs"][0]["cycles"][0]["labeled_fraction"] = "a tenth"
    (out / "results.json").write_text(json.dumps(document))
    with pytest.raises(ResultsFileError, match=r"runs\[0\]\.cycles\[0\]\.labeled_fraction \(random, trial 0\) must "
                                               "be a number or null, got str"):
        Results.load(out)
    assert "labeled_fraction" not in old["runs"][0]["cycles"][0]
    assert Results.load(run_copy).runs[0]["cycles"][0]["labeled_fraction"] is None  # an older file: its before value


def test_a_version_1_file_is_upgraded_on_load_and_saved_as_today_version(run_copy):
    path = run_copy / "results.json"
    document = _document(path)
    document["version"] = 1
    for run in document["runs"]:
        for record in run["cycles"]:
            del record["strategy_data"], record["candidate_scores"]
    path.write_text(json.dumps(document))
    loaded = Results.load(path)
    assert loaded.data["version"] == VERSION == 2
    assert all(r["strategy_data"] == {} and r["candidate_scores"] is None for r in loaded.runs[0]["cycles"])
    shutil.copy(path, run_copy / "old.json")
    loaded.save(path)
    assert _document(path)["version"] == 2 and _document(run_copy / "old.json")["version"] == 1
    document["version"] = 3
    path.write_text(json.dumps(document))
    with pytest.raises(ResultsFileError, match="format version 3, this tavaal-nb reads versions 1 to 2"):
        Results.load(path)
