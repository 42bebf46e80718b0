"""Issue 19, security: names that become paths are one path component; strings from results files
are escaped wherever they become HTML (widget panels, the static figure bundle, the report page,
the course site's frozen widgets), and JSON inside ``<script>`` cannot close the script.

The hostile results file is made honestly: a ci-preset run on the synthetic set of a plug-in
strategy registered under a harmless name (plus vaal, for discriminator scores), whose JSON is then
edited so that its method names and a class name are markup."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import ipywidgets
import pytest
import torch
from conftest import REPO, ci_config

from tavaal_nb import run_experiment
from tavaal_nb.cli import main
from tavaal_nb.data.datasets import DatasetSpec
from tavaal_nb.experiment_data import prepare_data
from tavaal_nb.markup import script_json, text
from tavaal_nb.names import inside, safe_name
from tavaal_nb.preflight import check_names
from tavaal_nb.results import ResultsFileError
from tavaal_nb.strategies import register_strategy, strategy_names, unregister_strategy
from tavaal_nb.sweep import SWEEP_NAME, Sweep, SweepSpec, run_sweep
from tavaal_nb.sweep.grid import SweepTask
from tavaal_nb.sweep.trials import _TrialsLedger

EVIL = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"
EVIL_CLASS = "<img src=y onerror=alert(3)>"
RAW = ("<img", "</script><script>", "onerror=alert(1)>")
"""What must never appear raw in any HTML made from the hostile file (escaped it reads the same)."""
BAD_NAMES = ("../../x", "/abs", "..", ".", "a/b", "a\\b", ".hidden", "a,b", "a\x00b", "", " spaced", "tab\t",
             "C:x")
GOOD_NAMES = ("my-method_2", "m.v2", "Top-Ranker", "x")
PLUGIN = "probe-plugin"


def cheapest_first(context):
    """Scores candidates by their index (a harmless plug-in)."""
    return -context.candidates.float()


# ------------------------------------------------------------------------------------ names
@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_register_strategy_refuses_a_name_that_is_not_one_path_component(name):
    before = strategy_names()
    with pytest.raises(ValueError) as caught:
        register_strategy(cheapest_first, name)
    message = str(caught.value)
    assert "\n" not in message and "valid:" in message and "one path component" in message
    assert strategy_names() == before


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_register_strategy_accepts_plain_names(name):
    try:
        assert register_strategy(cheapest_first, name).name == name
    finally:
        unregister_strategy(name)


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_every_place_a_name_becomes_a_path_refuses_it(name, tmp_path):
    for kind, make in (("dataset", lambda: DatasetSpec(name, "help", lambda *a: None)),
                       ("dataset", lambda: SweepTask(name, "random", 0)),
                       ("method", lambda: SweepTask("synthetic", name, 0)),
                       ("method", lambda: safe_name("method", name))):
        with pytest.raises(ValueError, match=f"^{kind} name .* is refused: .*valid: a non-empty name"):
            make()
    with pytest.raises(ValueError, match="trial"):
        SweepTask("synthetic", "random", "../x")  # type: ignore[arg-type]
    # a Config naming such a method (it could only be registered by editing the registry) is refused too
    config = ci_config(methods=("random",))
    object.__setattr__(config, "methods", (name,))
    with pytest.raises(ValueError, match="method name .* is refused"):
        check_names(config)
    assert list(tmp_path.iterdir()) == []


def test_a_parallel_trials_folder_is_named_by_an_integer_only(tmp_path):
    ledger = SimpleNamespace(root=tmp_path)
    assert _TrialsLedger.directory(ledger, 3) == tmp_path / "trials" / "trial-3"
    for bad in ("../x", -1, True, 1.5):
        with pytest.raises(ValueError, match="non-negative integer"):
            _TrialsLedger.directory(ledger, bad)


def test_inside_refuses_paths_out_of_the_folder(tmp_path):
    root = tmp_path / "sweep"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    assert inside(root, "synthetic/random/trial-0/results.json", "x") == root / "synthetic/random/trial-0/results.json"
    for bad in ("../outside/results.json", "/tmp/x/results.json", "a/../../b", "link/results.json", "", None,
                "C:\\x", "\\\\server\\share"):
        with pytest.raises(ValueError, match="refused"):
            inside(root, bad, "task path")


# ------------------------------------------------------------------------------------ sweep.json
def planned_sweep(directory: Path) -> Sweep:
    spec = SweepSpec(datasets=("synthetic",), methods=("random",), trials=1, preset="ci",
                     overrides={"device": "cpu"})
    sweep = Sweep.new(spec, directory)
    sweep.plan(spec)
    sweep.save()
    return sweep


@pytest.mark.parametrize("where", ["../outside", "/ABS", "symlink"])
def test_a_sweep_json_pointing_a_task_outside_is_refused_unopened(tmp_path, where, monkeypatch, capsys):
    out, outside = tmp_path / "sweep", tmp_path / "outside"
    outside.mkdir()
    planned_sweep(out)
    manifest = json.loads((out / SWEEP_NAME).read_text())
    if where == "symlink":
        (out / "elsewhere").symlink_to(outside)
        target = "elsewhere/results.json"
    else:
        target = (where.replace("/ABS", str(outside)) + "/results.json")
    manifest["tasks"][0]["path"] = target
    manifest["tasks"][0]["log"] = target.replace("results.json", "task.log")
    (out / SWEEP_NAME).write_text(json.dumps(manifest))
    before = (out / SWEEP_NAME).read_bytes()

    opened = []
    real_open = Path.open

    def watch(self, *args, **kwargs):
        opened.append(Path(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", watch)
    with pytest.raises(ResultsFileError) as caught:
        Sweep.load(out)
    message = str(caught.value)
    assert "refused" in message and "\n" not in message and target in message
    with pytest.raises(ResultsFileError, match="refused"):
        run_sweep(None, out, resume=True, log=None)
    monkeypatch.setattr(Path, "open", real_open)
    assert main(["sweep", "--resume", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "refused" in err and len(err.splitlines()) == 1, err
    assert not any(outside in p.parents or p == outside for p in opened)
    assert list(outside.iterdir()) == []  # nothing written there
    assert (out / SWEEP_NAME).read_bytes() == before  # the manifest is left as it was


def test_a_sweep_json_with_a_path_dataset_is_refused(tmp_path):
    out = tmp_path / "sweep"
    planned_sweep(out)
    manifest = json.loads((out / SWEEP_NAME).read_text())
    manifest["tasks"][0]["dataset"] = "../.."
    (out / SWEEP_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ResultsFileError, match="dataset name '../..' is refused"):
        Sweep.load(out)


def test_a_sane_sweep_json_still_loads(tmp_path):
    planned_sweep(tmp_path / "sweep")
    assert Sweep.load(tmp_path / "sweep").tasks[0]["path"] == "synthetic/random/trial-0/results.json"


# ------------------------------------------------------------------------------------ HTML
def test_script_json_cannot_close_a_script_and_reads_back_the_same():
    value = {"name": EVIL, "sep": "a\u2028b\u2029c", "amp": "&amp;"}
    encoded = script_json(value)
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in encoded
    assert json.loads(encoded) == value
    assert text(EVIL) == "&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;"
    assert text('"\'') == "&quot;&#x27;"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A finished ci run (synthetic, the plug-in and vaal, 2 trials of 2 cycles of 1 epoch: the views need two
    trials and a cycle 0, not the preset's length), then edited: both method names and a class name become
    markup. Returns ``(directory, {old name: new name}, data)``."""
    out = tmp_path_factory.mktemp("hostile")
    register_strategy(cheapest_first, PLUGIN)
    try:
        config = ci_config(methods=(PLUGIN, "vaal"), trials=2, cycles=2, epochs=1, milestones=(1,))
        run_experiment(config, out, progress=False)
        data = prepare_data(config, torch.device("cpu"))
    finally:
        unregister_strategy(PLUGIN)
    renamed = {PLUGIN: EVIL, "vaal": EVIL + "-2"}
    path = out / "results.json"
    raw = json.loads(path.read_text())
    for run in raw["runs"]:
        run["method"] = renamed[run["method"]]
    raw["config"]["methods"] = [renamed[m] for m in raw["config"]["methods"]]
    raw["dataset"]["class_names"][0] = EVIL_CLASS
    path.write_text(json.dumps(raw))
    data.class_names = list(raw["dataset"]["class_names"])
    return out, renamed, data


def html_strings(widget) -> list[str]:
    """Every string of ``widget``'s tree that a frontend renders as HTML: HTML widgets' values and
    the text/html of outputs held by Output widgets."""
    found = []
    if isinstance(widget, (ipywidgets.HTML, ipywidgets.HTMLMath)):
        found.append(widget.value)
    if isinstance(widget, ipywidgets.Output):
        found += [o.get("data", {}).get("text/html", "") for o in widget.outputs]
    for child in getattr(widget, "children", ()):
        found += html_strings(child)
    return found


def assert_safe(markup: str) -> None:
    for raw in RAW:
        assert raw not in markup, f"raw {raw!r} in {markup[:300]!r}"


def hovertemplates(fig) -> list[str]:
    return [t.hovertemplate for t in fig.data if getattr(t, "hovertemplate", None)]


def views(hostile_run, static):
    from tavaal_nb.classroom.widgets import (
        ClassDiscriminatorHistogram,
        ClassEntropyView,
        DiscriminatorHistogram,
        LearningCurves,
        PairedComparisonView,
        SelectionGallery,
    )
    out, renamed, data = hostile_run
    evil, evil2 = renamed[PLUGIN], renamed["vaal"]
    made = {
        "LearningCurves": LearningCurves(out, static=static),
        "ClassEntropyView": ClassEntropyView(out, static=static),
        "DiscriminatorHistogram": DiscriminatorHistogram(out, static=static),
        "PairedComparisonView": PairedComparisonView(out, method_a=evil, method_b=evil2, static=static),
        "SelectionGallery": SelectionGallery(data, results=out, method=evil, trial=0, cycle=0, static=static),
    }
    from tavaal_nb.strategies.base import Selection
    candidates = torch.argsort(data.train_labels, stable=True)[:40]  # class 0 first: it has the lowest D
    selection = Selection(indices=candidates[:10], scores=torch.zeros(40), candidates=candidates,
                          strategy_data={"discriminator_scores": torch.linspace(0, 1, 40)})
    made["ClassDiscriminatorHistogram"] = ClassDiscriminatorHistogram(
        {evil: selection}, data.train_labels, class_names=data.class_names, question=EVIL, static=static)
    return made


@pytest.mark.parametrize("static", [False, True], ids=["figurewidget", "static"])
def test_every_view_of_a_hostile_results_file_escapes_its_names(hostile_run, static):
    out, renamed, _ = hostile_run
    escaped = text(EVIL)
    for name, view in views(hostile_run, static).items():
        markup = html_strings(view.widget)
        for value in markup:
            assert_safe(value)
        for template in hovertemplates(view.figure):
            assert_safe(template)
        if name in ("DiscriminatorHistogram", "ClassDiscriminatorHistogram"):
            assert any(escaped in value for value in markup), name  # still readable, escaped
        if name in ("SelectionGallery", "ClassDiscriminatorHistogram"):
            assert any(text(EVIL_CLASS) in value for value in markup), name
        if name == "LearningCurves":
            assert any(escaped in t for t in hovertemplates(view.figure))
        if static:
            bundle = view.widget.children[-1].outputs[0]["data"]["text/html"]
            assert_safe(bundle)
            # the name, escaped for plotly (tavaal_nb.markup.plotly_safe), as JSON the script reads
            assert "\\u0026lt;img src=x onerror=alert(1)\\u0026gt;" in bundle
            for raw in ("</script><script>alert", "<img"):
                assert raw not in bundle


def test_paired_view_escapes_an_error_naming_the_method(hostile_run):
    from tavaal_nb.classroom.widgets import PairedComparisonView
    out, renamed, _ = hostile_run
    view = PairedComparisonView(out, method_a=renamed[PLUGIN], method_b=renamed["vaal"], static=True)
    view.method_b.value = view.method_a.value
    assert_safe(view.table.value)
    view.method_b.value = renamed["vaal"]
    assert_safe(view.table.value)


def test_live_dashboard_escapes_the_method_it_is_told(hostile_run):
    from tavaal_nb.classroom.widgets import LiveDashboard
    config = ci_config()
    for static in (False, True):
        dashboard = LiveDashboard(min_interval=0.0, static=static)
        dashboard.on_run_start(EVIL, 0, config)
        dashboard.on_epoch_end(EVIL, 0, 0, 0, 1.5)
        dashboard.on_cycle_end(EVIL, 0, {"cycle": 0, "labeled_size": 20, "test_accuracy": 10.0}, None)
        for value in html_strings(dashboard.widget):
            assert_safe(value)
        assert text(EVIL) in dashboard.status.value


def test_static_bundle_of_a_figure_named_with_markup_is_safe():
    import plotly.graph_objects as go

    from tavaal_nb.classroom.widgets._base import static_bundle
    bundle = static_bundle(go.Figure(go.Scatter(x=[1], y=[2], name=EVIL), layout={"title": EVIL}))
    page = bundle["data"]["text/html"]
    assert_safe(page)
    assert page.count("</script>") == 1 and page.endswith("</script>")
    assert bundle["data"]["application/vnd.plotly.v1+json"]["data"][0]["name"] == EVIL  # the data is unchanged


def test_report_page_of_a_hostile_results_file_is_safe(hostile_run, tmp_path):
    pytest.importorskip("plotly")
    from tavaal_nb.analysis.report import write_report
    out, _, _ = hostile_run
    page = write_report(out, tmp_path / "report.html").read_text()
    # the embedded plotly.js library has "<img" and "onerror" in its own code: check the page without it
    library = page.index("/**\n* plotly.js v")
    page = page[:library] + page[page.index("window.PLOTLYENV", library):]
    assert_safe(page)
    assert "onerror=alert(3)>" not in page
    assert text(EVIL) in page  # the accuracy table names the method, escaped


def _site_build():
    path = REPO / "docs" / "site" / "build.py"
    spec = importlib.util.spec_from_file_location("tavaal_site_build_for_security", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except ImportError as error:  # the site's extras (nbclient) are not installed here
        pytest.skip(f"docs/site/build.py needs {error.name}")
    return module


@pytest.mark.slow
def test_site_freezes_hostile_widgets_safely(hostile_run):
    build = _site_build()
    import plotly.graph_objects as go
    page = build.plotly_html(go.Figure(go.Scatter(x=[1], y=[2], name=EVIL)).to_dict())
    assert_safe(page)
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_html", "IPY_MODEL_bar"]}},
        "html": {"model_name": "HTMLModel", "state": {"value": f"<small>{text(EVIL)}</small>"}},
        "bar": {"model_name": "IntProgressModel", "state": {"value": '"><img src=x onerror=alert(1)>', "max": 3}},
    }
    assert_safe(build.widget_html("box", state))
