"""JupyterLab + Chromium: open notebooks/06_active_loop.ipynb, run every cell, move a widget
slider, and check that the plotly widgets rendered and redrew.

Runs with ``make browser-test``. It starts its own JupyterLab (127.0.0.1, a free port, a token,
``TAVAAL_PRESET=ci``, settings and workspaces in a temporary directory) on a *copy* of the
notebook, so nothing is saved into the repository, and drives /usr/bin/chromium through
playwright's sync API. Screenshots go to ``artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import CHROMIUM, chromium_context, free_port

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "06_active_loop.ipynb"
ARTIFACTS = REPO / "artifacts" / "browser"
RUN_ALL_TIMEOUT_S = 420


def write_settings(folder: Path) -> None:
    """JupyterLab user settings: render every cell (no windowing), no news or update checks."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none",
                                                                       "autoStartDefaultKernel": True},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                            "checkForUpdates": False},
    }
    for name, value in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the notebook; yields ``(base_url, token, root)``."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (or set TAVAAL_CHROMIUM)")
    root = tmp_path_factory.mktemp("lab-root")
    state = tmp_path_factory.mktemp("lab-state")
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    write_settings(state / "settings")
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, TAVAAL_PRESET="ci", JUPYTER_CONFIG_DIR=str(state / "config"),
               JUPYTER_RUNTIME_DIR=str(state / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"), PYTHONUNBUFFERED="1")
    log = (state / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
         "--LabApp.news_url=", "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start; its log:\n{(state / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium_context(tmp_path_factory.mktemp("chromium-profile")) as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            page.screenshot(path=str(ARTIFACTS / "zz-final-viewport.png"))


def code_cells() -> int:
    return sum(cell["cell_type"] == "code" for cell in json.loads(NOTEBOOK.read_text())["cells"])


def prompts(page) -> list[str]:
    return page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent.trim())")


def test_notebook_runs_and_widgets_render(lab, page):
    base, token, _ = lab
    page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", state="visible", timeout=120_000)
    page.wait_for_timeout(3000)
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and "Select Kernel" in dialog.first.inner_text():  # should not come (autoStartDefaultKernel)
        dialog.locator("button", has_text="Select").click()
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.wait_for_function("() => document.querySelector('.jp-Toolbar-kernelName')?.textContent.includes('Python')",
                           timeout=60_000)
    # Run > Run All Cells
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_text("Run All Cells", exact=True).click()
    wanted = code_cells()
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    while True:  # every code cell has an execution count and the kernel is idle
        labels = prompts(page)
        numbered = [p for p in labels if p.startswith("[") and p[1:-2].strip().isdigit()]
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0
        if len(numbered) == wanted and idle:
            break
        if page.locator(".jp-Dialog").count():
            page.screenshot(path=str(ARTIFACTS / "dialog.png"))
            pytest.fail(f"a dialog blocks the run: {page.locator('.jp-Dialog').first.inner_text()}")
        if time.monotonic() > deadline:
            page.screenshot(path=str(ARTIFACTS / "timeout.png"))
            pytest.fail(f"the notebook did not finish in {RUN_ALL_TIMEOUT_S} s; prompts: {labels}")
        time.sleep(1)
    page.wait_for_timeout(2000)  # let the last widgets draw

    outputs = page.eval_on_selector_all(".jp-OutputArea-output", "els => els.map(e => e.innerText)")
    text = "\n".join(outputs)
    assert "Error displaying widget" not in text
    assert page.get_by_text("Error displaying widget").count() == 0
    assert "Traceback" not in text
    assert "fig7-discriminator.html" in text, "the last cell did not run"

    views = page.locator(".tavaal-view")
    assert views.count() == 6  # curves, entropy, histogram, histogram by class, latent, gallery
    for k in range(views.count()):
        view = views.nth(k)
        view.scroll_into_view_if_needed()
        view.locator(".js-plotly-plot .main-svg").first.wait_for(state="attached", timeout=30_000)
        name = view.get_attribute("class").split("tavaal-")[-1].split()[0]
        view.screenshot(path=str(ARTIFACTS / f"{k + 1:02d}-{name}.png"))
    assert page.locator(".js-plotly-plot").count() >= 6
    assert page.locator(".tavaal-view .js-plotly-plot svg.main-svg").count() >= 6
    # the histogram by class drew stacked bars, and the gallery and the latent view carry their questions
    by_class = page.locator(".tavaal-classdiscriminatorhistogram .js-plotly-plot")
    assert by_class.locator("g.trace.bars").count() >= 1
    assert page.locator(".tavaal-question").count() == 2

    # move the histogram's cycle slider: the plot must change
    histogram = page.locator(".tavaal-discriminatorhistogram")
    histogram.scroll_into_view_if_needed()
    plot = histogram.locator(".js-plotly-plot")
    title_before = plot.locator(".gtitle").text_content()
    bars_before = plot.locator("g.point path").evaluate_all("els => els.map(e => e.getAttribute('d')).join('|')")
    readout = histogram.locator(".tavaal-cycle-slider .widget-readout")
    assert readout.inner_text().strip() == "1" and "cycle 1" in title_before
    histogram.screenshot(path=str(ARTIFACTS / "histogram-before.png"))
    handle = histogram.locator(".tavaal-cycle-slider .noUi-handle")
    handle.click()
    handle.press("ArrowLeft")
    if readout.inner_text().strip() != "0":  # keyboard not taken: drag the handle to the left end instead
        box = handle.bounding_box()
        track = histogram.locator(".tavaal-cycle-slider .noUi-target").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] - 20, box["y"] + box["height"] / 2, steps=8)
        page.mouse.up()
    assert readout.inner_text().strip() == "0"
    page.wait_for_function(
        "el => el.querySelector('.gtitle') && el.querySelector('.gtitle').textContent.includes('cycle 0')",
        arg=plot.element_handle(), timeout=30_000)
    page.wait_for_timeout(1000)
    bars_after = plot.locator("g.point path").evaluate_all("els => els.map(e => e.getAttribute('d')).join('|')")
    histogram.screenshot(path=str(ARTIFACTS / "histogram-after.png"))
    assert "cycle 0" in plot.locator(".gtitle").text_content()
    assert bars_after and bars_after != bars_before, "the histogram's bars did not change with the cycle"
    assert page.get_by_text("Error displaying widget").count() == 0


def test_static_fallback_renders_in_jupyterlab(lab, page):
    """The fallback path (as on Colab): a static figure in an Output widget, redrawn by the controls."""
    import nbformat

    base, token, root = lab
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "from tavaal_nb.classroom.widgets import RankingLossExplorer\nview = RankingLossExplorer(static=True)\nview")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(notebook, root / "static_fallback.ipynb")
    page.goto(f"{base}/lab/workspaces/static/tree/static_fallback.ipynb?token={token}")  # a workspace of its own
    page.wait_for_function("() => document.querySelector('.lm-DockPanel-tabBar .lm-mod-current')"
                           "?.textContent.includes('static_fallback')", timeout=120_000)
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first
    cell.wait_for(state="visible", timeout=120_000)
    page.wait_for_function("() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                           ".jp-Toolbar-kernelName')].some(e => e.textContent.includes('Python'))", timeout=60_000)
    cell.locator(".jp-InputPrompt").click()  # focus this notebook
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.get_by_text("Run All Cells", exact=True).click()
    view = page.locator(".tavaal-rankinglossexplorer")
    try:
        view.locator(".js-plotly-plot .main-svg").first.wait_for(state="attached", timeout=120_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "static-fallback-failed.png"))
        raise
    assert "Static figure (static figures were asked for)" in view.inner_text()
    plot = view.locator(".js-plotly-plot")
    before = plot.locator(".gtitle").text_content()
    assert "gap +0.50" in before
    handle = view.locator(".widget-slider .noUi-handle").first  # l^_i
    handle.click()
    for _ in range(4):
        handle.press("ArrowRight")
    page.wait_for_function(
        "el => el.querySelector('.gtitle') && el.querySelector('.gtitle').textContent.includes('gap +0.70')",
        arg=view.element_handle(), timeout=30_000)
    after = view.locator(".js-plotly-plot .gtitle").text_content()
    view.screenshot(path=str(ARTIFACTS / "static-fallback-jupyterlab.png"))
    assert after != before and "gap +0.70" in after
    assert page.get_by_text("Error displaying widget").count() == 0


def test_static_html_loads_plotly_before_drawing(page):
    """The HTML of the fallback (what Colab shows) fetches plotly.js itself and then draws; the CDN
    request is answered here with plotly's own bundled copy, as the machine is offline."""
    import plotly

    from tavaal_nb.analysis.model_figures import imbalance_figure
    from tavaal_nb.classroom.widgets._base import static_bundle

    bundle = static_bundle(imbalance_figure([5, 10, 20], ["a", "b", "c"]))
    page = page.context.new_page()
    local = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    page.route("https://cdn.plot.ly/**", lambda route: route.fulfill(path=str(local), content_type="text/javascript"))
    page.set_content(f"<html><body><div style='width:900px'>{bundle['data']['text/html']}</div></body></html>")
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    page.wait_for_function("() => getComputedStyle(document.querySelector('.main-svg')).position === 'absolute'"
                           " && document.querySelector('.gtitle')", timeout=30_000)  # plotly's styles are in
    page.wait_for_timeout(500)
    assert page.locator(".js-plotly-plot g.point").count() == 3
    assert "35 images" in page.locator(".gtitle").text_content()
    page.screenshot(path=str(ARTIFACTS / "static-html.png"))
