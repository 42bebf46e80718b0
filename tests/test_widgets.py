"""The widget toolkit (tavaal_nb.classroom.widgets), headless: every view is built from a real ci-preset
run, its controls are moved from Python, and the figures are checked against numbers computed
here by hand from the raw results.json (never from the plotting code under test)."""

from __future__ import annotations

import json
import math
import statistics

import ipywidgets
import plotly.graph_objects as go
import pytest
import torch

from tavaal_nb import make_config, run_experiment
from tavaal_nb.analysis.figure_data import histogram_counts
from tavaal_nb.analysis.grouping import merge_results
from tavaal_nb.classroom.widgets import (
    ClassEntropyView,
    DiscriminatorHistogram,
    ImageExportError,
    ImbalanceBuilder,
    LatentExplorer,
    LearningCurves,
    LiveDashboard,
    RankingLossExplorer,
    SelectionGallery,
    _base,
    set_static,
)
from tavaal_nb.config import Config
from tavaal_nb.experiment_data import prepare_data
from tavaal_nb.results import Results

METHODS = ("random", "lloss", "vaal", "tavaal")
TRIALS = 2


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def widget_run(tmp_path_factory):
    """A finished ci run (synthetic data, 4 methods, 2 trials) written to disk, watched by a
    LiveDashboard. Returns ``(directory, raw_json, dashboard)``."""
    out = tmp_path_factory.mktemp("widgets-run")
    config = make_config("ci", dataset="synthetic", methods=METHODS, trials=TRIALS, device="cpu")
    dashboard = LiveDashboard(min_interval=0.0)
    run_experiment(config, out, callbacks=[dashboard], progress=False)
    raw = json.loads((out / "results.json").read_text())
    return out, raw, dashboard


@pytest.fixture(scope="session")
def run_data(widget_run):
    """The train pool the run indexed into (rebuilt from the stored config)."""
    _, raw, _ = widget_run
    return prepare_data(Config.from_dict(raw["config"]), torch.device("cpu"))


@pytest.fixture(params=[False, True], ids=["figurewidget", "static"])
def static(request):
    return request.param


@pytest.fixture
def reset_static():
    yield
    set_static(None)


def entropy_by_hand(counts) -> float:
    total = float(sum(counts))
    return -sum(c / total * math.log(c / total) for c in counts if c)


def trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, f"expected one trace named {name!r}, got {[t.name for t in fig.data]}"
    return found[0]


def check_display(view):
    bundle = view._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id
    assert bundle["text/plain"].startswith(f"<{type(view).__name__}")
    assert view.controls in view.widget.children
    if view.static:
        assert not isinstance(view.figure, go.FigureWidget)
        assert isinstance(view.widget.children[-1], ipywidgets.Output)
        assert "Static figure" in view.widget.children[-2].value
        data = view.widget.children[-1].outputs[0]["data"]
        assert data["application/vnd.plotly.v1+json"]["data"] == json.loads(view.figure.to_json())["data"]
        assert "Plotly.newPlot" in data["text/html"]
    else:
        assert isinstance(view.figure, go.FigureWidget)
        assert view.figure in view.widget.children


# ------------------------------------------------------------------------------------ learning curves
def test_learning_curves_band_is_mean_plus_minus_std(widget_run, static):
    out, raw, _ = widget_run
    view = LearningCurves(out, static=static)
    check_display(view)
    for method in METHODS:
        by_size: dict[int, list[float]] = {}
        for run in raw["runs"]:
            if run["method"] == method:
                for record in run["cycles"]:
                    by_size.setdefault(record["labeled_size"], []).append(record["test_accuracy"])
        sizes = sorted(by_size)
        assert sizes == [20, 40, 60] and all(len(by_size[s]) == TRIALS for s in sizes)
        means = [sum(by_size[s]) / TRIALS for s in sizes]
        stds = [math.sqrt(sum((v - m) ** 2 for v in by_size[s]) / (TRIALS - 1)) for s, m in zip(sizes, means)]
        line = trace(view.figure, method)
        assert list(line.x) == sizes
        assert list(line.y) == pytest.approx(means)
        band = trace(view.figure, f"{method} +-1 std")
        upper = [m + s for m, s in zip(means, stds)]
        lower = [m - s for m, s in zip(means, stds)]
        assert list(band.y) == pytest.approx(upper + lower[::-1])
        assert list(band.x) == sizes + sizes[::-1]
        assert band.mode == "lines"  # no stray markers at the band's corners
        for text, size in zip(line.customdata, sizes):  # hover lists every trial's value
            assert sorted(float(v) for v in text.split(", ")) == pytest.approx(sorted(by_size[size]), abs=0.006)


def test_learning_curves_toggles_hide_and_show_methods(widget_run, static):
    out, _, _ = widget_run
    view = LearningCurves(out, static=static)
    view.toggles["random"].value = False
    view.toggles["vaal"].value = False
    assert sorted({t.legendgroup for t in view.figure.data}) == ["lloss", "tavaal"]
    assert view.methods == ["lloss", "tavaal"]
    view.toggles["random"].value = True
    assert sorted({t.legendgroup for t in view.figure.data}) == ["lloss", "random", "tavaal"]


def test_learning_curves_pool_run_dirs_and_find_a_sweep(widget_run, tmp_path):
    out, raw, _ = widget_run
    sweep = tmp_path / "sweep"
    # one directory per method (as `--method random` / `--method tavaal` runs would write) ...
    for method in ("random", "tavaal"):
        part = dict(raw, runs=[r for r in raw["runs"] if r["method"] == method])
        part["config"] = dict(raw["config"], methods=[method])
        (sweep / f"ci-{method}").mkdir(parents=True)
        (sweep / f"ci-{method}" / "results.json").write_text(json.dumps(part))
    # ... and another experiment (other epochs) further down: a different group
    other = dict(raw, config=dict(raw["config"], epochs=3))
    (sweep / "deeper" / "epochs3").mkdir(parents=True)
    (sweep / "deeper" / "epochs3" / "results.json").write_text(json.dumps(other))
    view = LearningCurves(sweep, static=True)
    assert len(view.group_selector.options) == 2
    labels = {label: view.groups[label] for label in view.group_selector.options}
    pooled = next(label for label in labels if "epochs=2" in label)
    view.group_selector.value = pooled
    assert sorted({t.legendgroup for t in view.figure.data}) == ["random", "tavaal"]
    first = [rec["test_accuracy"] for run in raw["runs"] if run["method"] == "random" for rec in run["cycles"]
             if rec["labeled_size"] == 20]
    assert trace(view.figure, "random").y[0] == pytest.approx(sum(first) / len(first))
    view.group_selector.value = next(label for label in labels if "epochs=3" in label)
    assert sorted({t.legendgroup for t in view.figure.data}) == sorted(METHODS)
    assert "epochs=3" in view.figure.layout.title.text


# ------------------------------------------------------------------------------------ class entropy
def test_class_entropy_bars_are_entropies_of_selected_counts(widget_run, static):
    out, raw, _ = widget_run
    view = ClassEntropyView(Results.load(out), static=static)
    check_display(view)
    for method in METHODS:
        by_size: dict[int, list[float]] = {}
        for run in raw["runs"]:
            if run["method"] != method:
                continue
            for record in run["cycles"]:
                counts = record["selected_class_counts"]
                if counts:
                    assert sum(counts) == 20
                    by_size.setdefault(record["labeled_size"] + 20, []).append(entropy_by_hand(counts))
        sizes = sorted(by_size)
        assert sizes == [40, 60]
        bars = trace(view.figure, method)
        assert list(bars.x) == [str(s) for s in sizes]
        assert list(bars.y) == pytest.approx([statistics.mean(by_size[s]) for s in sizes])
        assert list(bars.error_y.array) == pytest.approx([statistics.stdev(by_size[s]) for s in sizes])
    (line,) = view.figure.layout.shapes
    assert line.y0 == pytest.approx(entropy_by_hand(raw["dataset"]["class_counts"]))


def test_class_entropy_selector_switches_dataset(widget_run, tmp_path):
    out, raw, _ = widget_run
    other = json.loads(json.dumps(raw))
    other["config"]["dataset"] = "synthetic-grey"
    other["dataset"]["name"] = "synthetic-grey"
    other["dataset"]["class_counts"] = [10] * 9 + [30]
    (tmp_path / "grey").mkdir()
    (tmp_path / "grey" / "results.json").write_text(json.dumps(other))
    view = ClassEntropyView([out, tmp_path / "grey"], static=True)
    assert list(view.group_selector.options) == ["synthetic", "synthetic-grey"]
    view.group_selector.value = "synthetic-grey"
    assert view.figure.layout.shapes[0].y0 == pytest.approx(entropy_by_hand([10] * 9 + [30]))
    assert "synthetic-grey" in view.figure.layout.title.text


# ------------------------------------------------------------------------------------ discriminator
def bins_by_hand(scores, bins):
    counts = [0] * bins
    for s in scores:
        k = int(s * bins)
        counts[min(k, bins - 1)] += 1
    return counts


def test_discriminator_histogram_counts_threshold_and_controls(widget_run, static):
    out, raw, _ = widget_run
    view = DiscriminatorHistogram(out, bins=20, static=static)
    check_display(view)
    assert (view.cycle.min, view.cycle.max, view.cycle.value) == (0, 1, 1)  # the last query first (Fig. 7)
    assert list(view.method.options) == ["all", "vaal", "tavaal"]
    runs = {(r["method"], r["trial"]): r for r in raw["runs"]}
    for cycle in (1, 0):
        view.cycle.value = cycle
        for trial in (0, 1):
            view.trial.value = trial
            for method in ("vaal", "tavaal"):
                view.method.value = method
                record = runs[(method, trial)]["cycles"][cycle]
                vaal = record["strategy_data"]
                (bars,) = view.figure.data
                assert bars.name == method
                assert list(bars.y) == bins_by_hand(vaal["discriminator_scores"], 20)
                assert sum(bars.y) == record["candidate_count"] == 100
                (line,) = view.figure.layout.shapes
                assert line.x0 == pytest.approx(vaal["selection_threshold"])
                # eq. 9 takes the 20 lowest D: the threshold is the 20th smallest score
                assert sorted(vaal["discriminator_scores"])[19] == pytest.approx(vaal["selection_threshold"], abs=1e-6)
                assert f"cycle {cycle}" in view.figure.layout.title.text
            view.method.value = "all"
            assert sorted(t.name for t in view.figure.data) == ["tavaal", "vaal"]
            assert len(view.figure.layout.shapes) == 2
            view.zoom.value = True  # bins over the scores' own range: still every candidate once
            scores = [s for m in ("vaal", "tavaal")
                      for s in runs[(m, trial)]["cycles"][cycle]["strategy_data"]["discriminator_scores"]]
            low, high = view.figure.layout.xaxis.range
            assert low <= min(scores) and max(scores) <= high and high - low < 1.0
            for bars in view.figure.data:
                assert sum(bars.y) == 100
                assert low <= min(bars.x) and max(bars.x) <= high
            view.zoom.value = False
            assert tuple(view.figure.layout.xaxis.range) == (0, 1)


# ------------------------------------------------------------------------------------ ranking losses
def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


@pytest.fixture(scope="module")
def ranking_explorers():
    """One RankingLossExplorer per mode, made by the first case that asks and shared by the others: every case
    sets all four controls, so none depends on the one before (and a curve kept from an earlier case with the
    same order and margin is checked point by point again)."""
    return {}


@pytest.mark.parametrize("pred_i,pred_j,i_greater,margin", [
    (0.3, 0.8, True, 1.0),   # wrong order: both losses push l^_i up
    (2.0, 0.5, True, 1.0),   # right order, ahead by more than the margin: eq. 1 is 0
    (0.2, -0.3, False, 0.5),
    (-1.0, 1.5, False, 1.0),
])
def test_ranking_loss_explorer_matches_hand_formulas(static, ranking_explorers, pred_i, pred_j, i_greater, margin):
    if static not in ranking_explorers:
        ranking_explorers[static] = RankingLossExplorer(static=static)
    view = ranking_explorers[static]
    check_display(view)
    with view.hold():
        view.pred_i.value, view.pred_j.value = pred_i, pred_j
        view.order.value, view.margin.value = i_greater, margin
    gap = pred_i - pred_j
    sign = 1.0 if i_greater else -1.0
    eq1 = max(0.0, -sign * gap + margin)
    eq1_grad = -sign if -sign * gap + margin > 0 else 0.0
    target = 1.0 if i_greater else 0.0
    eq4 = -(target * math.log(sig(gap)) + (1 - target) * math.log(1 - sig(gap)))
    eq4_grad = sig(gap) - target
    v = view.values
    assert v["eq1"] == pytest.approx(eq1) and v["eq1_grad_i"] == pytest.approx(eq1_grad)
    assert v["eq1_grad_j"] == pytest.approx(-eq1_grad)
    assert v["eq4"] == pytest.approx(eq4) and v["eq4_grad_i"] == pytest.approx(eq4_grad)
    assert v["eq4_grad_j"] == pytest.approx(-eq4_grad)
    fig = view.figure
    assert trace(fig, "eq1 now").x[0] == pytest.approx(gap)
    assert trace(fig, "eq1 now").y[0] == pytest.approx(eq1)
    assert trace(fig, "eq4 now").y[0] == pytest.approx(eq4)
    assert trace(fig, "eq1 gradient now").y[0] == pytest.approx(eq1_grad)
    assert trace(fig, "eq4 gradient now").y[0] == pytest.approx(eq4_grad)
    curve = trace(fig, "eq. 4 Ranker BCE (TA-VAAL)")  # the whole curve, point by point
    for x, y in zip(curve.x[::20], curve.y[::20]):
        assert y == pytest.approx(-(target * math.log(sig(x)) + (1 - target) * math.log(1 - sig(x))))
    curve = trace(fig, "eq. 1 margin ranking (Learning Loss)")
    for x, y in zip(curve.x[::20], curve.y[::20]):
        assert y == pytest.approx(max(0.0, -sign * x + margin))


# ------------------------------------------------------------------------------------ imbalance
def test_imbalance_builder_presets_sliders_and_apply(static):
    view = ImbalanceBuilder(static=static)
    check_display(view)
    view.presets["entropy-1.65"].click()
    assert view.counts == [3000, 3000, 4000, 5000, 50, 100, 100, 100, 200, 1000]
    assert view.entropy == pytest.approx(1.657, abs=5e-4)  # Table 1, first row
    assert list(view.figure.data[0].y) == view.counts
    assert "1.657" in view.figure.layout.title.text
    view.presets["entropy-2.11"].click()
    assert view.entropy == pytest.approx(2.115, abs=5e-4)
    view.presets["balanced"].click()
    assert view.entropy == pytest.approx(math.log(10))
    view.sliders[0].value = 100
    expected = [100] + [5000] * 9
    assert list(view.figure.data[0].y) == expected
    assert view.entropy == pytest.approx(entropy_by_hand(expected))
    view.set_counts([3, 0, 1, 2, 0, 0, 0, 0, 0, 4])
    labels = torch.arange(10).repeat(6)  # six images of each class
    keep = view.apply(labels, seed=3)
    assert [int((labels[keep] == c).sum()) for c in range(10)] == [3, 0, 1, 2, 0, 0, 0, 0, 0, 4]
    assert torch.equal(keep, view.apply(labels, seed=3))


# ------------------------------------------------------------------------------------ latent explorer
def test_latent_explorer_projection_is_pca(static):
    gen = torch.Generator().manual_seed(0)
    mu_l = torch.randn(30, 5, generator=gen) * torch.tensor([3.0, 1.0, 0.5, 0.2, 0.1])
    mu_c = torch.randn(50, 5, generator=gen) * torch.tensor([3.0, 1.0, 0.5, 0.2, 0.1]) + 1.0
    view = LatentExplorer(mu_labeled=mu_l, mu_candidates=mu_c, selected=[0, 3, 7], static=static)
    check_display(view)
    names = [t.name for t in view.figure.data]
    assert names == ["labeled (30)", "unlabeled candidates (47)", "selected (3)"]
    # by hand: numpy SVD of the centred stack; components agree up to sign
    import numpy as np

    stacked = np.concatenate([mu_l.numpy(), mu_c.numpy()]).astype(np.float64)
    centred = stacked - stacked.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ vt[:2].T
    drawn = np.concatenate([np.c_[view.figure.data[0].x, view.figure.data[0].y],
                            np.c_[view.figure.data[1].x, view.figure.data[1].y],
                            np.c_[view.figure.data[2].x, view.figure.data[2].y]])
    order = list(range(30)) + [30 + k for k in range(50) if k not in (0, 3, 7)] + [30, 33, 37]
    for component in range(2):
        a, b = drawn[:, component], projected[order, component]
        assert min(np.abs(a - b).max(), np.abs(a + b).max()) < 1e-9
    assert view.explained == pytest.approx(list((s[:2] ** 2) / (s ** 2).sum()))
    assert [o[1] for o in view.color_by.options] == ["pool"]  # no r without TA-VAAL


def test_latent_explorer_from_a_tavaal_selection(widget_run, static):
    _, raw, dashboard = widget_run
    trial, cycle, selection = dashboard.selections["tavaal"]
    assert (trial, cycle) == (TRIALS - 1, 1)  # the last query of the last trial
    view = LatentExplorer(selection, static=static)
    record = next(r for r in raw["runs"] if r["method"] == "tavaal" and r["trial"] == trial)["cycles"][cycle]
    labeled = record["labeled_size"]
    assert [t.name for t in view.figure.data] == [f"labeled ({labeled})", "unlabeled candidates (80)", "selected (20)"]
    view.color_by.value = "r"
    r_sel = selection.extras["r_candidates"][torch.isin(selection.candidates, selection.indices)]
    assert list(view.figure.data[2].marker.color) == pytest.approx(r_sel.tolist())
    assert view.figure.layout.coloraxis.colorbar.title.text == "r"
    with pytest.raises(ValueError, match="latent means"):
        LatentExplorer(dashboard.selections["lloss"][2])


# ------------------------------------------------------------------------------------ gallery
def test_selection_gallery_shows_the_selected_images_and_classes(widget_run, run_data, static):
    out, raw, _ = widget_run
    view = SelectionGallery(run_data, results=out, method="vaal", trial=1, cycle=0, max_images=12, columns=5,
                            static=static)
    check_display(view)
    record = next(r for r in raw["runs"] if r["method"] == "vaal" and r["trial"] == 1)["cycles"][0]
    chosen = record["selected_indices"][:12]
    labels = run_data.train_labels.tolist()
    expected = [raw["dataset"]["class_names"][labels[i]] for i in chosen]
    assert view.captions == expected
    assert [a.text for a in view.figure.layout.annotations] == expected
    z = view.figure.data[0].z
    z = z if hasattr(z, "shape") else __import__("numpy").asarray(z)
    h = w = 32
    row_gap = h // 3
    for k in (0, 6, 11):  # tile k at row k // 5, column k % 5
        r, c = divmod(k, 5)
        tile = z[r * (h + row_gap): r * (h + row_gap) + h, c * (w + 2): c * (w + 2) + w]
        assert (tile == run_data.train_images[chosen[k]].permute(1, 2, 0).numpy()).all()
    assert "20 selected" in view._info.value
    view.method.value = "random"
    view.cycle.value = 1
    record = next(r for r in raw["runs"] if r["method"] == "random" and r["trial"] == 1)["cycles"][1]
    assert view.captions == [raw["dataset"]["class_names"][labels[i]] for i in record["selected_indices"][:12]]


def test_selection_gallery_from_indices_and_grey_images():
    images = torch.zeros(4, 1, 6, 6, dtype=torch.uint8)
    images[2] = 200
    view = SelectionGallery(images, torch.tensor([0, 1, 1, 0]), indices=[2, 0], class_names=["cat", "dog"],
                            static=True)
    assert view.captions == ["dog", "cat"]
    z = view.figure.data[0].z
    assert int(z[0][0][0]) == 200 and int(z[0][8][0]) == 0  # first tile is image 2, in RGB
    with pytest.raises(ValueError, match="either results"):
        SelectionGallery(images, torch.tensor([0, 1, 1, 0]))


# ------------------------------------------------------------------------------------ dashboard
def test_dashboard_followed_the_run(widget_run):
    _, raw, dashboard = widget_run
    total = len(METHODS) * TRIALS * 3
    assert dashboard.progress.max == total and dashboard.progress.value == total
    assert dashboard.cycles_done == total
    by_name = {}
    for t in dashboard.figure.data:
        by_name.setdefault(t.name, []).append(t)
    for run in raw["runs"]:
        loss_trace, acc_trace = by_name[f"{run['method']} trial {run['trial']}"]
        assert list(acc_trace.x) == [rec["labeled_size"] for rec in run["cycles"]]
        assert list(acc_trace.y) == pytest.approx([rec["test_accuracy"] for rec in run["cycles"]])
        losses = [v for rec in run["cycles"] for v in rec["train_loss"]]
        assert list(loss_trace.y) == pytest.approx(losses, abs=1e-5)
        assert list(loss_trace.x) == list(range(1, len(losses) + 1))
    assert "finished" in dashboard.status.value


def test_dashboard_throttles_redraws(static):
    now = [0.0]
    dashboard = LiveDashboard(min_interval=0.5, static=static, clock=lambda: now[0])
    check_display(dashboard)
    config = make_config("ci", methods=("random",), epochs=500, milestones=(400,))
    dashboard.on_run_start("random", 0, config)
    start = dashboard.redraws
    for epoch in range(500):  # 500 epochs in "no time": at most one redraw
        dashboard.on_epoch_end("random", 0, 0, epoch, 1.0 / (epoch + 1))
    assert dashboard.redraws - start <= 1
    now[0] = 0.6
    dashboard.on_epoch_end("random", 0, 1, 0, 0.5)  # the clock moved on: redraw now
    assert dashboard.redraws - start <= 2
    dashboard.on_cycle_end("random", 0, {"cycle": 0, "labeled_size": 20, "test_accuracy": 12.5}, None)
    dashboard.on_run_end("random", 0, {})  # a run's end always draws everything
    loss, acc = dashboard.figure.data
    assert len(loss.y) == 501 and loss.y[-1] == 0.5 and loss.y[0] == 1.0
    assert list(acc.x) == [20] and list(acc.y) == [12.5]
    assert dashboard.redraws - start <= 3


# ------------------------------------------------------------------------------------ static fallback
def test_static_fallback_switches(reset_static, monkeypatch):
    assert ImbalanceBuilder().static is False  # anywidget is installed here: FigureWidget
    set_static(True)
    view = ImbalanceBuilder()
    assert view.static and "asked for" in view.static_reason
    set_static(None)
    monkeypatch.setenv("TAVAAL_STATIC_WIDGETS", "1")
    assert ImbalanceBuilder().static
    monkeypatch.delenv("TAVAAL_STATIC_WIDGETS")
    # Colab: detected, explained in one line, no traceback
    monkeypatch.setitem(__import__("sys").modules, "google.colab", type(__import__("sys"))("google.colab"))
    view = RankingLossExplorer()
    assert view.static and "Colab" in view.static_reason
    assert "Colab" in view.widget.children[1].value and "Traceback" not in view.widget.children[1].value
    monkeypatch.delitem(__import__("sys").modules, "google.colab")
    # a FigureWidget that cannot be created falls back too
    def broken(*args, **kwargs):
        raise ImportError("Please install anywidget to use the FigureWidget class")
    monkeypatch.setattr(go, "FigureWidget", broken)
    view = RankingLossExplorer()
    assert view.static and "anywidget" in view.static_reason
    view.pred_i.value = 1.0  # the controls still redraw the static figure
    data = view.widget.children[-1].outputs[0]["data"]["application/vnd.plotly.v1+json"]["data"]
    assert [t for t in data if t["name"] == "eq1 now"][0]["x"][0] == pytest.approx(1.0)
    set_static(False)
    assert RankingLossExplorer(static=True).static  # the argument wins over the session setting
    with pytest.raises(ValueError):
        set_static("yes")


def test_replace_figure_removes_layout_it_no_longer_has():
    """A FigureWidget relayout merges: keys the new figure lacks must be sent as null to the browser."""
    target = go.FigureWidget(go.Figure(go.Bar(y=[1]), layout={"shapes": [{"type": "line", "x0": 0, "x1": 1}],
                                                              "barmode": "group"}))
    sent = []
    original = target._send_relayout_msg
    target._send_relayout_msg = lambda data, *a, **k: (sent.append(dict(data)), original(data, *a, **k))
    _base.replace_figure(target, go.Figure(go.Scatter(y=[2, 3]), layout={"title": {"text": "new"}}))
    assert any(m.get("shapes", 0) is None and m.get("barmode", 0) is None for m in sent)
    assert len(target.layout.shapes) == 0 and target.layout.barmode is None
    assert target.layout.title.text == "new" and [t.type for t in target.data] == ["scatter"]


# ------------------------------------------------------------------------------------ export
def test_export_html(widget_run, tmp_path):
    out, raw, _ = widget_run
    view = DiscriminatorHistogram(out)
    path = view.export(tmp_path / "fig7")
    assert path.suffix == ".html"
    text = path.read_text()
    assert "<html>" in text and "Plotly.newPlot" in text and view.figure.layout.title.text in text
    with pytest.raises(ValueError, match="cannot export"):
        view.export(tmp_path / "fig.txt")


@pytest.fixture(scope="module")
def kaleido_works(tmp_path_factory):
    try:
        go.Figure(go.Bar(y=[1])).write_image(str(tmp_path_factory.mktemp("kaleido") / "probe.png"))
    except Exception as error:  # no kaleido, or no Chrome for it
        return f"{type(error).__name__}: {error}"
    return None


@pytest.mark.slow  # kaleido starts a Chrome process to draw the image
def test_export_png(tmp_path, kaleido_works):
    if kaleido_works is not None:
        pytest.skip(f"kaleido cannot write images here ({kaleido_works})")
    view = ImbalanceBuilder(static=True)
    path = view.export(tmp_path / "counts.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_image_error_is_clear(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("Kaleido requires Google Chrome to be installed")
    monkeypatch.setattr(go.Figure, "write_image", fail)
    with pytest.raises(ImageExportError, match=r"kaleido.*\.html"):
        ImbalanceBuilder(static=True).export(tmp_path / "counts.png")


# ------------------------------------------------------------------------------------ plots helpers
def test_histogram_counts_and_merge(widget_run):
    assert histogram_counts([0.0, 0.05, 0.1, 0.99, 1.0, 1.2, -0.1], bins=10) == [3, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert histogram_counts([None, 0.2, None, 0.7], bins=2) == [1, 1]  # a stored score may be null: not counted
    out, raw, _ = widget_run
    a, b = Results.load(out), Results.load(out)
    merged = merge_results([a, b])
    assert sorted(r["trial"] for r in merged.runs if r["method"] == "vaal") == [0, 1, 2, 3]
    assert merged.config["trials"] == 2 * TRIALS
