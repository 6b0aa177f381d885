"""The built documentation site: every internal link and image of every page resolves, and three
pages (the landing page, the API page of ``simulate``, a notebook) render in headless Chromium.

The site is built by ``python -m sphinx -W --keep-going -n -b html docs docs/_build/html``
(``.ci/run`` does, after the test suite, and then runs this file with ``HHFAST_DOCS_HTML``
naming the built folder).  Without ``HHFAST_DOCS_HTML`` these tests skip with that reason;
with it, a missing or empty site fails them, and with ``HHFAST_REQUIRE_BROWSER=1`` (CI) so does
a missing Chromium.  CI has no internet, so links to other sites are not followed: only the
site's own targets (pages, anchors, images, scripts, style sheets) are checked.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from _browser import launch_chromium

SITE_ENV = "HHFAST_DOCS_HTML"
TIMEOUT_MS = 60_000

#: the pages opened in the browser: path, words the title must hold, whether it has a figure
PAGES = [
    ("index.html", "hhfast", True),
    ("generated/hhfast.simulate.html", "hhfast.simulate", False),
    ("notebooks/01_quickstart.html", "quick start", True),
]


@pytest.fixture(scope="module")
def site() -> Path:
    where = os.environ.get(SITE_ENV)
    if not where:
        pytest.skip(f"no built site: build it with `python -m sphinx -W --keep-going -n -b html "
                    f"docs docs/_build/html` and set {SITE_ENV}=docs/_build/html")
    root = Path(where).resolve()
    if not (root / "index.html").is_file():
        pytest.fail(f"{SITE_ENV}={where} holds no built site (no index.html)", pytrace=False)
    return root


class _Targets(HTMLParser):
    """The ids of a page and the (attribute, value) of its href/src links."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append((name, value))


@functools.cache
def _parse(path: Path) -> _Targets:
    parser = _Targets()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _internal_failures(root: Path, page: Path) -> list[str]:
    """The internal links of ``page`` whose file or anchor is missing."""
    bad = []
    for _, value in _parse(page).links:
        url = urlsplit(value)
        if url.scheme or url.netloc or value.startswith(("mailto:", "javascript:", "data:")):
            continue  # another site (not reachable from CI) or no link at all
        if not url.path and not url.fragment:
            continue
        target = (page.parent / unquote(url.path)).resolve() if url.path else page
        if target.is_dir():
            target = target / "index.html"
        if root not in target.parents and target != root:
            bad.append(f"{value}: outside the site")
        elif not target.is_file():
            bad.append(f"{value}: no such file")
        elif url.fragment and target.suffix == ".html" and \
                unquote(url.fragment) not in _parse(target).ids:
            bad.append(f"{value}: no anchor #{url.fragment} in {target.relative_to(root)}")
    return bad


def test_every_internal_link_and_image_of_every_page_resolves(site):
    # _static holds the theme's own files (its template macros are .html too), not pages
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)
    assert len(pages) >= 30, f"only {len(pages)} pages built"  # the API pages alone are more
    for path, _, _ in PAGES:
        assert (site / path).is_file(), path
    failures = {str(p.relative_to(site)): f for p in pages if (f := _internal_failures(site, p))}
    assert not failures, failures


def test_the_generated_tables_are_in_the_pages(site):
    """The method table lists every registered method, the performance page its tables' origin."""
    from hhfast.kernels import CHANNELS, METHODS

    methods = (site / "guide" / "methods.html").read_text(encoding="utf-8")
    for name, spec in METHODS.items():
        assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{name}</span>" \
            in methods, name
        assert spec.description.split(":")[0].replace("'", "&#39;") in methods, name
    channel = (site / "guide" / "channel-noise.html").read_text(encoding="utf-8")
    for name in CHANNELS:
        assert f"<span class=\"pre\">{name}</span>" in channel, name
    perf = (site / "performance.html").read_text(encoding="utf-8")
    assert perf.count("hhfast-provenance") >= 5  # one line of origin under each results table


# -- in the browser ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(site):
    """The site served over HTTP on a free local port (as a web server would serve it)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    yield from launch_chromium()


@pytest.mark.browser
@pytest.mark.parametrize(("path", "title", "figure"), PAGES)
def test_page_renders_in_chromium(browser, served, path, title, figure):
    page = browser.new_page()
    failed, errors = [], []
    # (the browser's own request for /favicon.ico, which the site does not have, is no link)
    page.on("response", lambda r: r.url.startswith(served) and r.status >= 400
            and not r.url.endswith("/favicon.ico") and failed.append(f"{r.status} {r.url}"))
    page.on("requestfailed", lambda r: r.url.startswith(served) and failed.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(served + path, wait_until="load", timeout=TIMEOUT_MS)
        assert title in page.title(), page.title()
        # the theme's layout and style were applied: its header is laid out and visible
        assert page.locator("header.bd-header").first.is_visible()
        assert page.evaluate("getComputedStyle(document.body).fontFamily") != ""
        heading = page.locator("article h1").first
        assert heading.is_visible() and heading.inner_text().strip()
        # every image of the page was loaded and decoded
        sizes = page.evaluate("[...document.querySelectorAll('article img')]"
                              ".map(i => [i.currentSrc, i.complete, i.naturalWidth])")
        assert all(done and width > 0 for _, done, width in sizes), sizes
        if figure:
            assert sizes, f"{path} shows no figure"
        if path.startswith("generated/"):
            # an API page: the signature and the numpydoc sections are rendered
            assert page.locator("dl.py.function dt.sig").first.is_visible()
            fields = page.locator("dl.field-list > dt")
            assert fields.filter(has_text="Parameters").first.is_visible()
            assert fields.filter(has_text="Returns").first.is_visible()
        assert not failed, failed
        assert not errors, errors
    finally:
        page.close()
