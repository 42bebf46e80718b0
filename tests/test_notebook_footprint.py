"""benchmarks/notebook_footprint.py reads the first figure's time from nbclient's cell timings."""

from __future__ import annotations

import datetime
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "notebook_footprint.py"
spec = importlib.util.spec_from_file_location("notebook_footprint", SCRIPT)
footprint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(footprint)

START = datetime.datetime(2026, 11, 27, 12, 0, 0, tzinfo=datetime.timezone.utc)


def cell(outputs: list[dict], replied: str | None, kind: str = "code") -> dict:
    metadata = {"execution": {"shell.execute_reply": replied}} if replied else {}
    return {"cell_type": kind, "outputs": outputs, "metadata": metadata, "source": ""}


def test_first_figure_is_the_first_code_cell_with_an_image_svg_plotly_or_widget():
    text = {"output_type": "stream", "text": "hello"}
    plotly = {"output_type": "display_data", "data": {"application/vnd.plotly.v1+json": {}, "text/html": ""}}
    executed = {"cells": [
        cell([], None, kind="markdown"),
        cell([text], "2026-11-27T12:00:03.000000Z"),
        cell([{"output_type": "execute_result", "data": {"text/plain": "1"}}], "2026-11-27T12:00:05Z"),
        cell([plotly], "2026-11-27T12:00:41.500000Z"),
        cell([{"output_type": "display_data", "data": {"image/png": ""}}], "2026-11-27T12:01:00Z"),
    ]}
    assert footprint.first_figure_seconds(executed, START) == (41.5, 2)  # third code cell, 41.5 s after start


def test_no_figure_or_no_timings_gives_none():
    assert footprint.first_figure_seconds({"cells": [cell([], "2026-11-27T12:00:05Z")]}, START) == (None, None)
    svg = {"output_type": "display_data", "data": {"image/svg+xml": "<svg/>"}}
    assert footprint.first_figure_seconds({"cells": [cell([svg], None)]}, START) == (None, None)
