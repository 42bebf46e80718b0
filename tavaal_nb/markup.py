"""Strings from results files made safe for the HTML, the plotly figures and the terminal they go into.

A method, dataset or label name comes from a results file, which anyone may edit: put raw
into an ``ipywidgets.HTML`` value, a report page or a ``<script>``, it could run JavaScript
in the reader's notebook. :func:`text` escapes for HTML text, attribute values and plotly's hover templates;
:func:`script_json` writes JSON that is safe inside ``<script>...</script>``; :func:`plotly_safe` escapes a
figure's names, titles, annotations and category labels, which plotly renders as a subset of HTML
(``<a href>``, ``<span style>``, ``<br>``); :func:`terminal` escapes control characters for printing.
"""

from __future__ import annotations

import functools
import html
import json
import unicodedata
from collections.abc import Callable
from typing import Any

__all__ = ["text", "script_json", "plotly_safe", "terminal"]

_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def text(value: object) -> str:
    """``str(value)`` escaped for HTML text and quoted attribute values (``<``, ``>``, ``&``, quotes) and for plotly's
    templates (``%`` as ``&#37;``: a name ``vaal %{y}`` in a hover template shows itself, not a number)."""
    return html.escape(str(value), quote=True).replace("%", "&#37;")


def script_json(obj: Any, **dumps_options: Any) -> str:
    """``json.dumps(obj)`` safe inside a ``<script>`` element: ``<``, ``>``, ``&``, U+2028 and U+2029 are
    written as ``\\u003c`` &c., so no string in ``obj`` can close the script (``</script>``) or open a
    comment; the value JavaScript reads is unchanged."""
    encoded = json.dumps(obj, **dumps_options)
    return encoded.translate(_SCRIPT_ESCAPES)


def _plain(value: Any) -> Any:
    """A string plotly renders as pseudo-HTML, escaped (``<``, ``>``, ``&``: it reads the same, links no longer
    work); anything else unchanged."""
    return html.escape(value, quote=False) if isinstance(value, str) else value


def _strings(values: Any) -> Any:
    """A data array whose strings plotly renders (category labels, custom data shown in hovers), escaped."""
    if values is None or isinstance(values, str) or not hasattr(values, "__iter__"):
        return values
    items = list(values)
    if not any(isinstance(v, (str, list, tuple)) for v in items):
        return values
    return [_strings(v) if isinstance(v, (list, tuple)) else _plain(v) for v in items]


def plotly_safe(fig: Any) -> Any:
    """``fig`` (a plotly figure, changed in place and returned) with every text it shows that may hold a name
    escaped: trace names and legend-group titles, category labels and custom data, the title, the axis and
    legend titles and the annotations. Hover and text templates are not touched: names go into them through
    :func:`text`. A figure is escaped once (a second call does nothing)."""
    if getattr(fig, "_tavaal_escaped", False):
        return fig
    for trace in fig.data:
        updates = {key: _plain(trace[key]) for key in ("name", "legendgroup") if key in trace and isinstance(trace[key], str)}
        for key in ("x", "y", "customdata", "labels"):
            if key in trace and trace[key] is not None and _strings(trace[key]) is not trace[key]:
                updates[key] = _strings(trace[key])
        if "legendgrouptitle" in trace and trace.legendgrouptitle.text:
            updates["legendgrouptitle_text"] = _plain(trace.legendgrouptitle.text)
        trace.update(updates)
    layout = fig.layout
    if layout.title.text:
        layout.title.text = _plain(layout.title.text)
    if layout.legend.title.text:
        layout.legend.title.text = _plain(layout.legend.title.text)
    fig.for_each_xaxis(lambda axis: axis.update(title_text=_plain(axis.title.text)) if axis.title.text else None)
    fig.for_each_yaxis(lambda axis: axis.update(title_text=_plain(axis.title.text)) if axis.title.text else None)
    fig.for_each_annotation(lambda note: note.update(text=_plain(note.text)) if note.text else None)
    fig._tavaal_escaped = True
    return fig


def escaped_figures(build: Callable[..., Any]) -> Callable[..., Any]:
    """``build`` (a function that returns a plotly figure) made to return its figures through :func:`plotly_safe`:
    the decorator of every figure builder in :mod:`tavaal_nb.analysis.plots` and
    :mod:`tavaal_nb.analysis.model_figures`."""
    @functools.wraps(build)
    def escaped(*args: Any, **kwargs: Any) -> Any:
        return plotly_safe(build(*args, **kwargs))
    return escaped


_INVISIBLE = {"\u2028", "\u2029", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}


def terminal(value: object) -> str:
    """``str(value)`` with control characters (newlines, ESC, DEL, C1) and the bidirectional overrides written as
    ``\\n``, ``\\x1b``, ``\\u202e``: printed from a results file, a name cannot forge a table row or reach the
    terminal as an escape sequence."""
    out = []
    for char in str(value):
        if unicodedata.category(char) == "Cc" or char in _INVISIBLE:
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)
