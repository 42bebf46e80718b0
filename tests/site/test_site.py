"""The built course site in headless Chromium: every page loads without a console error or an outside
request, every plotly figure draws, the math typesets, and no internal link or image is broken.

Runs with ``make site-test`` (after ``make site``; marker ``browser``, so a plain ``pytest tests`` skips it).
The site folder is ``$TAVAAL_SITE_DIR`` (default ``build/site/ci/html``); it is served on 127.0.0.1 by a
thread of this process, and every request to another host is refused and counted as an error: the site
must be self-contained. Screenshots (the top of each page, and figures) go to ``artifacts/site/``.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from conftest import chromium_context

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("TAVAAL_SITE_DIR", REPO / "build" / "site" / "ci" / "html"))
ARTIFACTS = REPO / "artifacts" / "site"
FIGURE_SHOTS_PER_PAGE = 4  # screenshots of the first figures of each page (all of them are checked)
PAGE_TIMEOUT_MS = 60_000
MATH_ERRORS = """() => MathJax.Hub.getAllJax().filter(jax => {
    const bad = node => node && (node.type === "merror" || (node.data || []).some(bad));
    return bad(jax.root);
}).map(jax => jax.originalText)"""  # formulas whose TeX MathJax could not parse (drawn as an error box)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class LinkParser(HTMLParser):
    """The ``href`` of every ``<a>``, the ``src`` of every ``<img>``/``<script>``, and every ``id``, of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.sources: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag in ("img", "script") and attributes.get("src"):
            self.sources.append(attributes["src"])


def parse(page: Path) -> LinkParser:
    parser = LinkParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def pages() -> list[Path]:
    return sorted(p for p in SITE.rglob("*.html") if "_static" not in p.parts and p.name not in ("search.html",))


def name_of(page: Path) -> str:
    return page.relative_to(SITE).with_suffix("").as_posix().replace("/", "--")


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no site at {SITE}: build it first with `make site` (or set TAVAAL_SITE_DIR)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium_context(tmp_path_factory.mktemp("chromium-profile-site")) as context:
        yield context


def test_every_internal_link_and_image_resolves():
    """Every relative ``href``/``src`` of every page names a file of the site, and its ``#anchor`` an id there."""
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no site at {SITE}: build it first with `make site` (or set TAVAAL_SITE_DIR)")
    ids: dict[Path, set[str]] = {}
    broken = []
    for page in pages():
        parsed = parse(page)
        for target in parsed.links + parsed.sources:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or target.startswith(("mailto:", "javascript:", "data:")):
                continue
            path = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if path.is_dir():
                path = path / "index.html"
            if not path.is_file():
                broken.append(f"{page.relative_to(SITE)}: {target} (no such file)")
                continue
            if parts.fragment and path.suffix == ".html":
                if path not in ids:
                    ids[path] = parse(path).ids
                if unquote(parts.fragment) not in ids[path]:
                    broken.append(f"{page.relative_to(SITE)}: {target} (no id {parts.fragment!r} there)")
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def test_landing_page_maps_every_notebook_and_the_teaching_kit():
    index = (SITE / "index.html").read_text(encoding="utf-8")
    notebooks = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks
    for stem in notebooks:
        assert (SITE / "notebooks" / f"{stem}.html").is_file(), f"no page for {stem}"
        assert f'href="notebooks/{stem}.html"' in index, f"the course map does not link {stem}"
        assert "colab.research.google.com/github/" in index and f"/notebooks/{stem}.ipynb" in index
    assert 'href="docs/teaching/README.html"' in index
    assert 'href="references.html"' in index
    references = (SITE / "references.html").read_text(encoding="utf-8")
    for author in ("Kim", "Sinha", "Yoo", "Sener", "Saquil", "Tolstikhin", "Xiao", "Krizhevsky", "Settles"):
        assert author in references, f"{author} is missing from the References page"


def test_every_page_loads_and_every_figure_draws(site_url, browser_context):
    errors: list[str] = []
    outside: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(site_url) or url.startswith("data:"):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    page = browser_context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.route("**/*", route)
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("response", lambda reply: errors.append(f"HTTP {reply.status}: {reply.url}") if reply.status >= 400 else None)
    checked, figures_seen, math_pages, problems = [], 0, 0, []
    for html in pages():
        errors.clear()
        outside.clear()
        url = urljoin(site_url, html.relative_to(SITE).as_posix())
        page.goto(url, wait_until="load")
        expected = len(re.findall(r'class="plotly-graph-div"', html.read_text(encoding="utf-8")))
        if page.locator(".math.notranslate").count():  # MathJax (an async script) typesets after "load"
            page.wait_for_function("() => window.MathJax && window.MathJax.isReady", timeout=PAGE_TIMEOUT_MS)
            page.evaluate("() => new Promise(done => window.MathJax.Hub.Queue(done))")
        plots = page.locator(".plotly-graph-div")
        assert plots.count() == expected
        for k in range(expected):
            plot = plots.nth(k)
            plot.scroll_into_view_if_needed()
            plot.locator(".main-svg").first.wait_for(state="attached", timeout=30_000)
            box = plot.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 100, f"{url}: figure {k} has no size"
            assert plot.locator(".main-svg .plot, .main-svg .pielayer, .main-svg .imagelayer").count() > 0
            if k < FIGURE_SHOTS_PER_PAGE:
                plot.screenshot(path=str(ARTIFACTS / f"{name_of(html)}-figure{k + 1:02d}.png"))
        figures_seen += expected
        math_pages += page.locator(".MathJax, .MathJax_Display").count() > 0
        untypeset = page.evaluate("() => [...document.querySelectorAll('.math.notranslate')].filter("
                                  "e => !e.querySelector('.MathJax, .MathJax_Display')).length")
        assert untypeset == 0, f"{url}: {untypeset} formulas were not typeset"
        failed = page.evaluate(MATH_ERRORS) if page.evaluate("() => !!window.MathJax") else []
        assert not failed, f"{url}: MathJax could not typeset {failed}"
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / f"{name_of(html)}.png"))
        if outside:
            problems.append(f"{url} asked for outside resources: {outside}")
        problems.extend(f"{url}: {error}" for error in errors)
        checked.append(html)
    assert not problems, "\n".join(problems)
    assert len(checked) >= len(list((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))) + 2
    assert figures_seen > 0, "no plotly figure on any page"
    assert math_pages >= len(list((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))), "math left untypeset"
