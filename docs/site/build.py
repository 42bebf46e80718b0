"""Build the course site: every ``notebooks/NN_*.ipynb`` executed at a preset, rendered by Sphinx + myst-nb.

    python docs/site/build.py --preset ci            # -> build/site/ci/html/index.html
    python docs/site/build.py --preset cpu           # the real one (minutes per notebook on a CPU)

Steps, each a function below:

1. **Execute** each notebook with nbclient in the notebooks' folder (as nbval does), at ``TAVAAL_PRESET``,
   with ``TAVAAL_STATIC_WIDGETS=1`` (every view draws a static figure in an Output widget) and plotly's
   ``plotly_mimetype`` renderer. Cells nbval skips (tag ``nbval-skip``, first line ``# NBVAL_SKIP``) are
   skipped here too; a cell error fails the build, as it fails ``--nbval-lax``: this execution *is* the
   notebook check when CI builds the site. Executed notebooks are cached under ``OUT/executed/``, keyed by
   the notebook, the preset and the package's sources, so a rebuild after a prose edit re-executes nothing.
2. **Freeze the widgets**: each widget output is replaced by what its Output widgets hold (the static
   figure), read from the widget state nbclient saved; the widget state is then dropped, so the page needs
   no widget manager from a CDN. Every plotly figure gets an HTML rendering that draws with the site's own
   copy of plotly.js (``_static/plotly.min.js``): figures stay interactive (zoom, hover) and offline.
3. **Assemble** a Sphinx source folder with the repository's layout (``notebooks/``, ``docs/teaching/``,
   ``docs/*.md``), so that relative links between these files work on GitHub and on the site alike, and a
   landing page made from :data:`tavaal_nb.classroom.course.LESSONS` (the course map, badges, links).
4. **Render** with ``sphinx-build -W`` (a broken cross-reference or a missing page is an error) and the
   configuration in ``docs/site/conf.py``.

The site is self-contained: MathJax 2 (Debian's libjs-mathjax), plotly.js and the badges are
local files, so it works offline (a classroom, a USB stick) and its check can forbid every outside request.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import plotly.io as pio
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the package is used from the checkout, installed or not
    sys.path.insert(0, str(REPO))

from tavaal_nb.classroom.course import LESSONS, binder_url, colab_url  # noqa: E402

CONF_DIR = Path(__file__).resolve().parent
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
PRESETS = ("ci", "cpu", "paper", "authors-code")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
SKIP_TAG, RAISES_TAG = "skip-execution", "raises-exception"  # nbclient's own tags
CELL_TIMEOUT_S = 3600
FROZEN_NOTE = ("<p class='tavaal-frozen'><small><i>A static copy of an interactive view: its controls "
               "work in Jupyter, Colab or Binder.</i></small></p>")


# ------------------------------------------------------------------------------ 1. execute
def discover_notebooks(repo: Path = REPO) -> list[Path]:
    """Every ``notebooks/NN_topic.ipynb`` of the checkout, in course order."""
    found = sorted((repo / "notebooks").glob(NOTEBOOK_GLOB))
    if not found:
        raise ValueError(f"no notebooks matching notebooks/{NOTEBOOK_GLOB} under {repo}")
    return found


def package_digest(repo: Path = REPO) -> str:
    """A digest of every source file of ``tavaal_nb``: executed notebooks are stale when it changes."""
    digest = hashlib.sha256()
    for path in sorted((repo / "tavaal_nb").rglob("*.py")):
        digest.update(path.relative_to(repo).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def execution_key(notebook: Path, preset: str, packages: str) -> str:
    """What an executed notebook depends on: its own cells, the preset, the package's sources."""
    return hashlib.sha256(notebook.read_bytes() + preset.encode() + packages.encode()).hexdigest()


def mark_nbval_cells(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Translate nbval's markers into nbclient's tags: skipped cells are skipped, expected errors allowed."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        first = cell.source.lstrip().splitlines()[0].strip() if cell.source.strip() else ""
        if "nbval-skip" in tags or first.startswith("# NBVAL_SKIP"):
            tags.append(SKIP_TAG)
        if "nbval-raises-exception" in tags or first.startswith("# NBVAL_RAISES_EXCEPTION"):
            tags.append(RAISES_TAG)
    return nb


def execute_notebook(notebook: Path, preset: str) -> nbformat.NotebookNode:
    """Run ``notebook`` top to bottom in its own folder at ``preset``; raise on the first cell error."""
    nb = mark_nbval_cells(nbformat.read(notebook, as_version=4))
    env = dict(os.environ, TAVAAL_PRESET=preset, TAVAAL_STATIC_WIDGETS="1", PLOTLY_RENDERER="plotly_mimetype",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=False,
                            store_widget_state=True, resources={"metadata": {"path": str(notebook.parent)}})
    client.execute(env=env)
    return nb


def executed_notebooks(preset: str, cache: Path, repo: Path = REPO) -> list[Path]:
    """Execute every notebook whose cached copy is stale; return the executed copies, in course order."""
    cache.mkdir(parents=True, exist_ok=True)
    packages = package_digest(repo)
    done = []
    for notebook in discover_notebooks(repo):
        target, stamp = cache / notebook.name, cache / f"{notebook.stem}.key"
        key = execution_key(notebook, preset, packages)
        if target.is_file() and stamp.is_file() and stamp.read_text() == key:
            print(f"site: {notebook.name}: executed copy is current", flush=True)
        else:
            start = time.monotonic()
            print(f"site: executing {notebook.name} at preset {preset}", flush=True)
            nbformat.write(execute_notebook(notebook, preset), target)
            stamp.write_text(key)
            print(f"site: {notebook.name} took {time.monotonic() - start:.0f} s", flush=True)
        done.append(target)
    return done


# ------------------------------------------------------------------------------ 2. freeze widgets
def plotly_html(figure: dict) -> str:
    """HTML that draws ``figure`` with the page's plotly.js (loaded once by the site, not per figure)."""
    return pio.to_html(figure, include_plotlyjs=False, full_html=False, config={"responsive": True})


def with_plotly_html(output: dict) -> dict:
    """An output whose plotly figure also comes as HTML for the site (other outputs unchanged)."""
    data = output.get("data", {})
    if PLOTLY_MIME not in data:
        return output
    figure = {key: value for key, value in data[PLOTLY_MIME].items() if key in ("data", "layout", "frames")}
    return {**output, "data": {"text/html": plotly_html(figure), "text/plain": data.get("text/plain", "")}}


def widget_outputs(model_id: str, state: dict) -> list[dict]:
    """The outputs held by the Output widgets inside widget ``model_id`` (depth first), [] if none."""
    model = state.get(model_id)
    if model is None:
        return []
    fields = model.get("state", {})
    if model.get("model_name") == "OutputModel":
        return list(fields.get("outputs", []))
    found = []
    for child in fields.get("children", []):
        if isinstance(child, str) and child.startswith("IPY_MODEL_"):
            found.extend(widget_outputs(child.removeprefix("IPY_MODEL_"), state))
    return found


def widget_html(model_id: str, state: dict) -> str:
    """The final look of a widget without an Output inside (a progress bar: text, bar, text) as HTML; the
    controls (sliders, buttons, menus) give nothing, since they do nothing on a static page."""
    model = state.get(model_id, {})
    name, fields = model.get("model_name", ""), model.get("state", {})
    if name in ("HBoxModel", "VBoxModel", "BoxModel"):
        children = [widget_html(child.removeprefix("IPY_MODEL_"), state) for child in fields.get("children", [])
                    if isinstance(child, str)]
        return " ".join(child for child in children if child)
    if name == "HTMLModel":  # already HTML: the views escape every string from a results file they put in one
        return str(fields.get("value", ""))
    if name == "LabelModel":
        return html.escape(str(fields.get("value", "")))
    if name in ("FloatProgressModel", "IntProgressModel"):
        value, most = (html.escape(str(fields.get(key, default)), quote=True) for key, default in (("value", 0), ("max", 100)))
        return f'<progress value="{value}" max="{most}"></progress>'
    return ""


def freeze_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without widgets: each widget output becomes its static figures (see module doc)."""
    nb = copy.deepcopy(nb)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(with_plotly_html(output))
                continue
            held = widget_outputs(view.get("model_id", ""), state)
            if held:
                outputs.append(nbformat.v4.new_output("display_data", data={"text/html": FROZEN_NOTE}))
                outputs.extend(with_plotly_html(item) for item in held)
            elif markup := widget_html(view.get("model_id", ""), state):  # a progress bar, as it ended
                outputs.append(nbformat.v4.new_output("display_data", data={
                    "text/html": f"<div class='tavaal-frozen-widget'>{markup}</div>"}))
        cell["outputs"] = [nbformat.from_dict(output) for output in outputs]
    nb.metadata.pop("widgets", None)
    return nb


# ------------------------------------------------------------------------------ 3. assemble
BADGE_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{text}">
<rect width="{width}" height="20" rx="3" fill="{colour}"/>
<text x="{middle}" y="14" fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"
 text-anchor="middle">{text}</text></svg>
"""
BADGES = {  # address used by the notebooks -> (local file, text, colour)
    "https://colab.research.google.com/assets/colab-badge.svg": ("colab-badge.svg", "Open in Colab", "#e8710a"),
    "https://mybinder.org/badge_logo.svg": ("binder-badge.svg", "Open in Binder", "#579aca"),
}


def write_badges(folder: Path) -> None:
    """Local badge images (drawn here), so that no page loads an image from another site."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text, colour in BADGES.values():
        width = 7 * len(text) + 16
        (folder / name).write_text(BADGE_SVG.format(width=width, middle=width / 2, text=text, colour=colour))


def localise_badges(text: str) -> str:
    """Point the badge images of a markdown text at the site's local copies (``/_static/badges/``)."""
    for address, (name, _, _) in BADGES.items():
        text = text.replace(f"]({address})", f"](/_static/badges/{name})")
    return text


def lesson_title(notebook: nbformat.NotebookNode, stem: str) -> str:
    """The title of a notebook page: the course table's (tavaal_nb.classroom.course), else its first heading."""
    for lesson in LESSONS:
        if lesson.stem == stem:
            return f"{stem[:2]} {lesson.title}"
    for cell in notebook.cells:
        match = re.search(r"^#\s+(.+)$", cell.source, flags=re.MULTILINE) if cell.cell_type == "markdown" else None
        if match:
            return match.group(1).strip()
    return stem


SMOKE_TEST_BANNER = (
    "```{warning}\n"
    "This site was built at the `ci` preset: a smoke test that runs every cell on a few images for an epoch or two.\n"
    "Its numbers and figures mean nothing about the method (each figure drawn from a run says so on its face).\n"
    "The site to read is built from the shipped results at the `cpu` preset: `make site PRESET=cpu`.\n"
    "```"
)
"""What the landing page of a ``ci`` build says first."""


def landing_page(stems: list[str], titles: dict[str, str], teaching: list[str], reference: list[str],
                 preset: str = "cpu") -> str:
    """``index.md``: what the course is, the course map (one row per notebook found), where to go next."""
    lessons = {lesson.stem: lesson for lesson in LESSONS}
    rows = []
    for stem in stems:
        lesson = lessons.get(stem)
        teaches = lesson.teaches if lesson else ""
        minutes = f"{lesson.cpu_minutes} / {lesson.gpu_minutes}" if lesson else ""
        badges = (f"[![Open in Colab](/_static/badges/colab-badge.svg)]({colab_url(stem)}) "
                  f"[![Open in Binder](/_static/badges/binder-badge.svg)]({binder_url(stem)})")
        rows.append(f"| [{titles[stem]}](notebooks/{stem}.ipynb) | {teaches} | {minutes} | {badges} |")
    toctree = lambda caption, names: "\n".join(  # noqa: E731
        ["```{toctree}", ":hidden:", f":caption: {caption}", "", *names, "```"])
    return "\n".join([
        "# TA-VAAL: an interactive course",
        "",
        *([SMOKE_TEST_BANNER, ""] if preset == "ci" else []),
        "An interactive course on **Task-Aware Variational Adversarial Active Learning** (TA-VAAL, Kim et al.,",
        "CVPR 2021) and the small, fast Python package `tavaal_nb` that implements it. Each notebook computes one",
        "piece of the method with the package, with the paper's equations beside the code, checks, exercises and",
        "questions. The pages below are the notebooks executed at the preset this site was built with",
        "(see the foot of each page); the interactive views are shown as static, zoomable figures. Open a",
        "notebook in Colab or Binder to move their controls.",
        "",
        "## Course map",
        "",
        "| notebook | what it teaches | minutes: CPU (`cpu` preset) / GPU (`paper` preset) | open |",
        "|---|---|---|---|",
        *rows,
        "",
        "Read them in order: 00 runs the whole method once; 01 shows active learning's basic ideas on 2-D toy",
        "pools; 02-04 build TA-VAAL's three pieces (the ranker, the conditional VAE, the discriminator); 05 makes",
        "the imbalanced pools; 06 runs the loop live; 07 scales it to the paper; 08 shows what the paper does not;",
        "09 is an appendix on operations.",
        "",
        "## Teaching and reference",
        "",
        "- [The instructor's kit](docs/teaching/README.md): a syllabus for three 90-minute sessions, a question",
        "  bank with answers, a rubric for the research projects, and the bibliography.",
        "- [References](references.md): every paper the course cites.",
        *[f"- [{name.removeprefix('docs/').removesuffix('.md').capitalize()}]({name})" for name in reference],
        "",
        toctree("Notebooks", [f"notebooks/{stem}" for stem in stems]),
        "",
        toctree("Teaching", [name.removesuffix(".md") for name in teaching]),
        "",
        toctree("Reference", ["references", *[name.removesuffix(".md") for name in reference]]),
        "",
    ])


REFERENCES_PAGE = """# References

The papers the course and its notebooks cite (`docs/teaching/references.bib`).

```{bibliography}
:all:
```
"""


MATHJAX_DIR = Path(os.environ.get("TAVAAL_MATHJAX_DIR", "/usr/share/javascript/mathjax"))
"""MathJax 2 with its TeX fonts: Debian's libjs-mathjax (``make site`` installs it when root)."""
MATHJAX_PARTS = ("MathJax.js", "config/TeX-AMS-MML_HTMLorMML.js", "extensions", "jax/input/TeX", "jax/element",
                 "jax/output/HTML-CSS", "fonts/HTML-CSS/TeX/woff", "fonts/HTML-CSS/TeX/otf")
"""What the site's pages use of it (about 3 MB of its 40): TeX input, HTML-CSS output, the TeX web fonts."""


def copy_mathjax(target: Path, source: Path = MATHJAX_DIR) -> None:
    """Copy the parts of MathJax 2 the site uses (symbolic links followed: Debian links the fonts)."""
    if not (source / "MathJax.js").is_file():
        raise ValueError(f"MathJax 2 not found in {source}: install Debian's libjs-mathjax "
                         "(`sudo apt-get install libjs-mathjax`) or set TAVAAL_MATHJAX_DIR to a MathJax 2.7 folder")
    for part in MATHJAX_PARTS:
        origin, copy_to = source / part, target / part
        copy_to.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, copy_to, ignore=shutil.ignore_patterns("imageFonts.js", "STIX*", "Asana*",
                                                                          "Gyre*", "Latin-Modern", "Neo-Euler"))
        else:
            shutil.copy(origin, copy_to)


def assemble_source(executed: list[Path], preset: str, src: Path, repo: Path = REPO) -> Path:
    """Write the Sphinx source folder ``src`` (replaced): notebooks, teaching kit, docs, landing page."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    write_badges(src / "_static" / "badges")
    stems, titles = [], {}
    for path in executed:
        nb = freeze_widgets(nbformat.read(path, as_version=4))
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = localise_badges(cell.source)
        titles[path.stem] = lesson_title(nb, path.stem)
        nb.metadata["tavaal_site"] = {"preset": preset}
        nbformat.write(nb, src / "notebooks" / path.name)
        stems.append(path.stem)
    teaching_dir = repo / "docs" / "teaching"
    teaching = []
    if teaching_dir.is_dir():
        shutil.copytree(teaching_dir, src / "docs" / "teaching")
        teaching = sorted(p.relative_to(src).as_posix() for p in (src / "docs" / "teaching").glob("*.md"))
        teaching.sort(key=lambda name: not name.endswith("/README.md"))  # the kit's index first
    reference = []
    for page in sorted((repo / "docs").glob("*.md")):
        shutil.copy(page, src / "docs" / page.name)
        reference.append(f"docs/{page.name}")
    (src / "index.md").write_text(landing_page(stems, titles, teaching, reference, preset))
    shutil.copy(CONF_DIR / "conf.py", src / "conf.py")
    static = src / "_static"
    shutil.copy(Path(pio.__file__).parents[1] / "package_data" / "plotly.min.js", static / "plotly.min.js")
    copy_mathjax(static / "mathjax")
    (src / "references.md").write_text(REFERENCES_PAGE)
    return src


# ------------------------------------------------------------------------------ 4. render
def render(src: Path, html_dir: Path, preset: str) -> None:
    """``sphinx-build -W`` of ``src`` (which holds a copy of docs/site/conf.py) into ``html_dir``."""
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", str(src), str(html_dir)]
    subprocess.run(command, check=True, env=dict(os.environ, TAVAAL_SITE_PRESET=preset))


def build(preset: str, out: Path, repo: Path = REPO) -> Path:
    """Execute, freeze, assemble, render; return the folder of the HTML pages."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; the site is built at one of {', '.join(PRESETS)}")
    start = time.monotonic()
    executed = executed_notebooks(preset, out / "executed", repo)
    src = assemble_source(executed, preset, out / "src", repo)
    html_dir = out / "html"
    render(src, html_dir, preset)
    print(f"site: built {html_dir / 'index.html'} in {time.monotonic() - start:.0f} s", flush=True)
    return html_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="ci", help=f"the preset the notebooks run at ({', '.join(PRESETS)})")
    parser.add_argument("--out", default=None, help="build folder (default build/site/<preset>)")
    args = parser.parse_args(argv)
    build(args.preset, Path(args.out) if args.out else REPO / "build" / "site" / args.preset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
