"""docs/site/build.py without a browser: nbval's markers, frozen widgets, notebook discovery, the landing page.

The executed notebooks of the site are what CI's notebook check runs (``make site-test`` replaces nbval
there), so the execution's semantics are checked here too: a cell error fails, a skipped cell is not run.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("myst_nb", reason="the site extra: pip install -e '.[site]'")
nbformat = pytest.importorskip("nbformat")
from nbclient.exceptions import CellExecutionError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("site_build", REPO / "docs" / "site" / "build.py")
site_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site_build)

FIGURE = {"data": [{"type": "bar", "x": ["a", "b"], "y": [3, 5]}], "layout": {"title": {"text": "two bars"}}}


def widget_state(models: dict) -> dict:
    return {"widgets": {site_build.WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": models}}}


def view_output(model_id: str) -> dict:
    return nbformat.v4.new_output("display_data", data={
        site_build.WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
        "text/plain": "<SomeView: two bars>"})


def test_nbval_markers_become_nbclient_tags():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("# NBVAL_SKIP\nlong_run()"),
        nbformat.v4.new_code_cell("colab()", metadata={"tags": ["colab-setup", "nbval-skip"]}),
        nbformat.v4.new_code_cell("  # NBVAL_RAISES_EXCEPTION\n1 / 0"),
        nbformat.v4.new_markdown_cell("# NBVAL_SKIP is only a code-cell marker"),
    ])
    site_build.mark_nbval_cells(nb)
    tags = [cell.metadata.get("tags", []) for cell in nb.cells]
    assert tags == [[], ["skip-execution"], ["colab-setup", "nbval-skip", "skip-execution"],
                    ["raises-exception"], []]


def test_a_view_becomes_its_static_figure_and_a_progress_bar_its_final_state():
    models = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_controls", "IPY_MODEL_out"]}},
        "controls": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_slider"]}},
        "slider": {"model_name": "FloatSliderModel", "state": {"value": 0.5}},
        "out": {"model_name": "OutputModel", "state": {"outputs": [
            {"output_type": "display_data", "metadata": {},
             "data": {site_build.PLOTLY_MIME: FIGURE, "text/html": "<script>cdn()</script>", "text/plain": "fig"}}]}},
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_left", "IPY_MODEL_fill", "IPY_MODEL_right"]}},
        "left": {"model_name": "HTMLModel", "state": {"value": "cycles: 60%"}},
        "fill": {"model_name": "FloatProgressModel", "state": {"value": 3.0, "max": 5.0}},
        "right": {"model_name": "HTMLModel", "state": {"value": " 3/5"}},
    }
    cell = nbformat.v4.new_code_cell("view", outputs=[view_output("box"), view_output("bar"), view_output("gone"),
                                                      nbformat.v4.new_output("stream", text="done\n")])
    nb = nbformat.v4.new_notebook(cells=[cell], metadata=widget_state(models))
    frozen = site_build.freeze_widgets(nb)

    assert "widgets" not in frozen.metadata and "widgets" in nb.metadata  # a copy; the state is dropped
    outputs = frozen.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data", "display_data", "display_data", "stream"]
    assert "static copy of an interactive view" in outputs[0].data["text/html"]
    figure_html = outputs[1].data["text/html"]
    assert 'class="plotly-graph-div"' in figure_html and "Plotly.newPlot" in figure_html
    assert "cdn()" not in figure_html and "two bars" in figure_html and site_build.PLOTLY_MIME not in outputs[1].data
    assert '<progress value="3.0" max="5.0"></progress>' in outputs[2].data["text/html"]
    assert "cycles: 60%" in outputs[2].data["text/html"] and "3/5" in outputs[2].data["text/html"]
    assert all(site_build.WIDGET_VIEW not in o.get("data", {}) for o in outputs)  # "gone" had no state: dropped


def test_a_plain_plotly_output_gets_html_drawn_by_the_page_plotly():
    output = {"output_type": "display_data", "metadata": {}, "data": {site_build.PLOTLY_MIME: FIGURE}}
    html = site_build.with_plotly_html(output)["data"]["text/html"]
    assert "Plotly.newPlot" in html and "cdn.plot.ly" not in html and "<script src" not in html
    stream = {"output_type": "stream", "name": "stdout", "text": "x"}
    assert site_build.with_plotly_html(stream) is stream


def test_notebooks_are_discovered_in_course_order(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    with pytest.raises(ValueError, match="no notebooks matching"):
        site_build.discover_notebooks(tmp_path)
    for name in ("10_later.ipynb", "00_first.ipynb", "scratch.ipynb", "01_sandbox.ipynb", "01_sandbox.py"):
        (folder / name).write_text("{}")
    assert [p.name for p in site_build.discover_notebooks(tmp_path)] == [
        "00_first.ipynb", "01_sandbox.ipynb", "10_later.ipynb"]


def test_the_landing_page_maps_every_notebook_found_even_one_the_course_table_lacks():
    stems = ["00_quickstart", "99_new_topic"]
    page = site_build.landing_page(stems, {"00_quickstart": "00 Quickstart", "99_new_topic": "A new topic"},
                                   ["docs/teaching/README.md", "docs/teaching/syllabus.md"], ["docs/settings.md"])
    assert "[00 Quickstart](notebooks/00_quickstart.ipynb)" in page
    assert "[A new topic](notebooks/99_new_topic.ipynb)" in page
    assert "notebooks/99_new_topic\n" in page and "docs/teaching/syllabus\n" in page
    assert "colab.research.google.com/github/" in page and "/_static/badges/binder-badge.svg" in page
    assert "(docs/teaching/README.md)" in page


def test_a_ci_build_says_first_that_it_is_a_smoke_test():
    args = (["00_quickstart"], {"00_quickstart": "00 Quickstart"}, ["docs/teaching/README.md"], ["docs/settings.md"])
    ci, cpu = site_build.landing_page(*args, preset="ci"), site_build.landing_page(*args, preset="cpu")
    assert site_build.SMOKE_TEST_BANNER in ci and "smoke test" in ci.split("## Course map")[0]
    assert site_build.SMOKE_TEST_BANNER not in cpu and "smoke test" not in cpu


def test_badges_point_at_local_images():
    text = "[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.x/y)"
    assert site_build.localise_badges(text) == "[![Open in Colab](/_static/badges/colab-badge.svg)](https://colab.x/y)"


def test_the_execution_key_follows_the_notebook_and_the_preset(tmp_path):
    notebook = tmp_path / "00_a.ipynb"
    notebook.write_text("{}")
    first = site_build.execution_key(notebook, "ci", "pkg")
    assert first == site_build.execution_key(notebook, "ci", "pkg")
    assert first != site_build.execution_key(notebook, "cpu", "pkg")
    assert first != site_build.execution_key(notebook, "ci", "pkg2")
    notebook.write_text(json.dumps({"cells": []}))
    assert first != site_build.execution_key(notebook, "ci", "pkg")


@pytest.mark.slow
def test_execution_skips_nbval_skipped_cells_sets_the_preset_and_fails_on_an_error(tmp_path):
    good = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nprint(os.environ['TAVAAL_PRESET'], os.environ['TAVAAL_STATIC_WIDGETS'])"),
        nbformat.v4.new_code_cell("# NBVAL_SKIP\nraise RuntimeError('a skipped cell ran')"),
        nbformat.v4.new_code_cell("raise RuntimeError('a broken cell')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = tmp_path / "00_good.ipynb"
    nbformat.write(good, path)
    with pytest.raises(CellExecutionError, match="a broken cell"):
        site_build.execute_notebook(path, "ci")
    good.cells.pop()
    nbformat.write(good, path)
    executed = site_build.execute_notebook(path, "cpu")
    assert executed.cells[0].outputs[0]["text"] == "cpu 1\n"
    assert executed.cells[1].outputs == []
