"""Strings from results files made safe for the HTML they go into.

A method, dataset or label name comes from a results file, which anyone may edit: put raw
into an ``ipywidgets.HTML`` value, a report page or a ``<script>``, it could run JavaScript
in the reader's notebook. :func:`text` escapes for HTML text and attribute values;
:func:`script_json` writes JSON that is safe inside ``<script>...</script>``.
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["text", "script_json"]

_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def text(value: object) -> str:
    """``str(value)`` escaped for HTML text and quoted attribute values (``<``, ``>``, ``&``, quotes)."""
    return html.escape(str(value), quote=True)


def script_json(obj: Any, **dumps_options: Any) -> str:
    """``json.dumps(obj)`` safe inside a ``<script>`` element: ``<``, ``>``, ``&``, U+2028 and U+2029 are
    written as ``\\u003c`` &c., so no string in ``obj`` can close the script (``</script>``) or open a
    comment; the value JavaScript reads is unchanged."""
    encoded = json.dumps(obj, **dumps_options)
    return encoded.translate(_SCRIPT_ESCAPES)
