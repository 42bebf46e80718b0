"""Browser tests (marker ``browser``) run only when asked for: ``make browser-test``, i.e.
``pytest -m browser tests/browser``. A plain ``pytest tests`` collects and skips them, so it
needs neither Chromium nor a free port."""

from __future__ import annotations

import pytest

SKIP_REASON = "browser test: run it with `make browser-test` (pytest -m browser tests/browser); needs /usr/bin/chromium"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a real Chromium (make browser-test)")


def pytest_collection_modifyitems(config, items):
    if "browser" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
