"""What every view shares: a plotly figure, a control panel, display, export, and the static fallback.

A view shows a live ``plotly.graph_objects.FigureWidget`` where the frontend can draw one
(JupyterLab, Notebook 7, VS Code: plotly >= 6 draws it through anywidget). Where it cannot
(Google Colab, or anywidget missing) the same figure is redrawn as a static plot inside an
``ipywidgets.Output`` with a one-line note, so the controls still work. The choice is made
per view (``static=`` argument), for the session (:func:`set_static`), or from
``$TAVAAL_STATIC_WIDGETS=1``; by default it is detected.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs_version

from tavaal_nb.analysis.grouping import group_results, merge_results
from tavaal_nb.analysis.plots import mark_smoke_test
from tavaal_nb.markup import plotly_safe, script_json, text
from tavaal_nb.results import Results, load_results

__all__ = ["View", "ImageExportError", "set_static", "static_reason"]

_STATIC: bool | None = None
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".svg", ".pdf")


class ImageExportError(RuntimeError):
    """A figure could not be written as an image (no kaleido, or no browser for it)."""


def set_static(value: bool | None) -> None:
    """Force static figures (``True``), force ``FigureWidget`` (``False``) or detect (``None``, the default)
    for the views created from now on."""
    global _STATIC
    if value not in (True, False, None):
        raise ValueError(f"set_static takes True, False or None, got {value!r}")
    _STATIC = value


def _figure_widget_problem() -> str | None:
    """Why a FigureWidget would not be drawn here, or None when it would."""
    if "google.colab" in sys.modules:
        return "Colab does not draw plotly's FigureWidget"
    if importlib.util.find_spec("anywidget") is None:  # plotly >= 6 draws FigureWidget through anywidget
        return "plotly's FigureWidget needs the anywidget package, which is not installed"
    return None


def static_reason(static: bool | None = None) -> str | None:
    """Why a view made now would be static (a short phrase), or None if it gets a FigureWidget."""
    if static is None:
        static = _STATIC
    if static is None and os.environ.get("TAVAAL_STATIC_WIDGETS", "").lower() in ("1", "true", "yes"):
        return "TAVAAL_STATIC_WIDGETS is set"
    if static is True:
        return "static figures were asked for"
    if static is False:
        return None
    return _figure_widget_problem()


def _plotly_js_url() -> str:
    return f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"


def static_bundle(fig: go.Figure) -> dict[str, Any]:
    """A display_data output for ``fig``: plotly's mimetype (JupyterLab, VS Code) and HTML that
    loads plotly.js itself before drawing (Colab's output frames)."""
    spec = json.loads(fig.to_json())
    div = f"tavaal-{uuid.uuid4().hex[:12]}"
    height = spec.get("layout", {}).get("height") or 450
    html = (
        f'<div id="{div}" style="height:{int(height)}px;width:100%"></div><script>(function(){{'
        f'var spec={script_json(spec)};'
        f'function draw(){{window.Plotly.newPlot("{div}",spec.data,spec.layout,{{responsive:true}});}}'
        f'if(window.Plotly){{draw();}}else{{var s=document.createElement("script");s.src="{_plotly_js_url()}";'
        f's.onload=draw;document.head.appendChild(s);}}}})();</script>'
    )
    title = (spec.get("layout", {}).get("title") or {}).get("text", "")
    return {
        "output_type": "display_data",
        "metadata": {},
        "data": {"application/vnd.plotly.v1+json": {**spec, "config": {"responsive": True}},
                 "text/html": html, "text/plain": f"<plotly figure: {title}>"},
    }


def replace_figure(target: go.FigureWidget, source: go.Figure) -> None:
    """Make ``target`` (a FigureWidget on screen) show ``source``: new traces, new layout, and the
    layout keys that ``source`` lacks removed (a plain relayout would leave them drawn)."""
    new_layout = source.layout.to_plotly_json()
    stale = set(target.layout.to_plotly_json()) - set(new_layout)
    if stale:
        target.plotly_relayout({key: None for key in stale})
    target.update(data=list(source.data), layout=source.layout, overwrite=True)


class View:
    """Base of the views: ``.figure``, ``.controls``, ``.widget``, ``.redraw()``, ``.export(path)``.

    Subclasses build their controls, call :meth:`_finish` with them, and implement
    :meth:`_build` (return the current ``go.Figure``); :meth:`redraw` runs after every
    control change. In static mode ``.figure`` is a new ``go.Figure`` after each redraw.
    """

    def __init__(self, static: bool | None = None) -> None:
        reason = static_reason(static)
        self.figure: go.Figure
        if reason is None:
            try:
                self.figure = go.FigureWidget()
            except Exception as error:  # anywidget/plotly mismatch: fall back rather than fail
                reason = f"plotly's FigureWidget could not be created ({type(error).__name__}: {error})"
        self.static = reason is not None
        self.static_reason = reason
        self._holding = 0
        self.redraws = 0
        if self.static:
            self.figure = go.Figure()
            self._output = widgets.Output()
            self._note = widgets.HTML(
                f"<small><i>Static figure ({text(reason)}): it is redrawn when you move the controls.</i></small>")

    # ------------------------------------------------------------------ building
    def _finish(self, controls: Sequence[widgets.Widget]) -> None:
        self.controls = widgets.VBox(list(controls))
        self.controls.add_class("tavaal-controls")
        body = [self._note, self._output] if self.static else [self.figure]
        self.widget = widgets.VBox([self.controls, *body])
        self.widget.add_class("tavaal-view")
        self.widget.add_class("tavaal-" + type(self).__name__.lower())
        self.redraw()

    def _build(self) -> go.Figure:
        raise NotImplementedError

    def _watch(self, *controls: widgets.Widget) -> None:
        """Redraw whenever one of ``controls`` changes its value."""
        for control in controls:
            control.observe(lambda _change: self.redraw(), names="value")

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Change several controls with one redraw at the end."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            if self._holding == 0:
                self.redraw()

    def redraw(self) -> None:
        """Rebuild the figure from the controls' current values."""
        if self._holding:
            return
        self._show(plotly_safe(self._decorate(self._build())))

    def _decorate(self, fig: go.Figure) -> go.Figure:
        """What every figure of this view gets on its face, whatever it shows (nothing by default)."""
        return fig

    def _show(self, fig: go.Figure) -> None:
        self.redraws += 1
        if self.static:
            self.figure = fig
            self._output.outputs = (static_bundle(fig),)
        else:
            replace_figure(self.figure, fig)

    # ------------------------------------------------------------------ display / export
    def _repr_mimebundle_(self, **kwargs: Any):
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        title = self.figure.layout.title.text or ""
        bundle["text/plain"] = f"<{type(self).__name__}{': ' + title if title else ''}>"  # what text frontends show
        return bundle

    def __repr__(self) -> str:
        return self._repr_mimebundle_()["text/plain"]

    def export(self, path: str | Path, **image_options: Any) -> Path:
        """Write the current figure to ``path``: ``.html`` (self-contained, opens offline; also
        the default when there is no suffix) or an image (``.png``, ``.svg``, ``.pdf``, ...,
        through kaleido, which needs a Chrome or Chromium). Returns the path written."""
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".html")
        suffix = path.suffix.lower()
        fig = go.Figure(self.figure)
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix in (".html", ".htm"):
            fig.write_html(str(path), include_plotlyjs=True, full_html=True)
            return path
        if suffix not in IMAGE_SUFFIXES:
            raise ValueError(f"cannot export to {path.name}: use .html or one of {', '.join(IMAGE_SUFFIXES)}")
        try:
            fig.write_image(str(path), **image_options)
        except Exception as error:
            raise ImageExportError(
                f"could not write {path.name} ({type(error).__name__}: {error}). Image export needs the "
                "kaleido package (pip install kaleido) and a Chrome/Chromium it can start (kaleido >= 1 looks "
                "for one; `plotly_get_chrome` installs one). Export to .html instead, which always works."
            ) from error
        return path


class ResultsView(View):
    """A view of results files: loads them and offers a selector when they hold several
    experiments (different datasets or settings); runs of the same experiment are pooled."""

    def __init__(self, sources, static: bool | None = None) -> None:
        super().__init__(static)
        results = load_results(sources)
        if not results:
            raise ValueError("no results given")
        self.members: dict[str, list[Results]] = group_results(results)  # each experiment's results, as loaded
        self.groups: dict[str, Results] = {label: merge_results(members) for label, members in self.members.items()}
        self.group_selector = widgets.Dropdown(options=list(self.groups), description="experiment",
                                               style={"description_width": "initial"},
                                               layout=widgets.Layout(width="auto"))
        if len(self.groups) == 1:
            self.group_selector.layout.display = "none"

    @property
    def results(self) -> Results:
        """The (pooled) results of the selected experiment."""
        return self.groups[self.group_selector.value]

    def _decorate(self, fig: go.Figure) -> go.Figure:
        """A ``ci``-preset experiment is marked a smoke test on every figure (:func:`mark_smoke_test`)."""
        return mark_smoke_test(fig, self.results)
