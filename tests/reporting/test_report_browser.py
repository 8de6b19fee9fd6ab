"""The report in a real headless Chromium: every link resolves, every image decodes, nothing errs or goes online.

Needs Debian's Chromium (``apt-get install chromium``; ``.ci/run`` installs it). Without it the test
fails and says so, unless ``PARTCLUST_SKIP_BROWSER=1``.
"""

from __future__ import annotations

import os
import shutil
import threading
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from helpers_report import FAILED, make_results

from partclust.reporting.index import write_index
from partclust.reporting.render import render_all

CHROMIUM = os.environ.get("PARTCLUST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Root in a container needs --no-sandbox; the rest keeps Chromium from calling home during the test.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    if os.environ.get("PARTCLUST_SKIP_BROWSER") == "1":
        pytest.skip("PARTCLUST_SKIP_BROWSER=1")
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium not found ({CHROMIUM}): the report browser test needs it. Install it with "
            "`apt-get install chromium` (.ci/run does this when run as root), or set "
            "PARTCLUST_SKIP_BROWSER=1 to skip this test.",
            pytrace=False,
        )
    return CHROMIUM


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The fake results tree, rendered, served over HTTP on a free port of 127.0.0.1."""
    results = make_results(tmp_path_factory.mktemp("browser"), failed=FAILED)
    pages = render_all(results)
    write_index(results)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(results)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", results, pages
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _status(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    with opener.open(url, timeout=10) as resp:
        resp.read()
        return resp.status


def test_report_in_headless_chromium(chromium, served, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed; run `.venv/bin/pip install -e .`", pytrace=False)
    base, results, pages = served
    problems: list[str] = []

    def is_local(url: str) -> bool:
        return url.startswith(base) or url.startswith("data:")

    def route(r):
        if is_local(r.request.url):
            r.continue_()
        else:
            problems.append(f"request to the network: {r.request.url}")
            r.abort()

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
        )
        try:
            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: m.type == "error"
                    and problems.append(f"console error on {page.url}: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error on {page.url}: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request {r.url}: {r.failure}"))
            page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status} for {r.url}"))

            index_url = base + "reports/index.html"
            response = page.goto(index_url, wait_until="load")
            assert response is not None and response.status == 200
            assert page.title() == "partclust study report"
            assert page.locator("tr[data-param]").first.get_attribute("data-param") == "s2u"

            hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            targets = sorted({urldefrag(h).url for h in hrefs} - {index_url})
            assert targets and all(urlsplit(t).netloc == urlsplit(base).netloc for t in targets)
            for url in targets:
                assert _status(url) == 200, url

            linked_pages = [t for t in targets if t.endswith(".html")]
            assert {base + p.relative_to(results).as_posix() for p in pages} <= set(linked_pages)
            for url in linked_pages:
                response = page.goto(url, wait_until="load")
                assert response is not None and response.status == 200, url
                assert page.title(), url
                images = page.eval_on_selector_all(
                    "img", "imgs => imgs.map(i => ({src: i.src.slice(0, 40), ok: i.complete && i.naturalWidth > 0}))"
                )
                assert images, f"{url} shows no image"
                assert all(i["ok"] for i in images), (url, images)
                assert page.locator("pre").filter(has_text="plot_s2u").count() >= 1, f"{url} hides its code"
        finally:
            context.close()
    assert not problems, "\n".join(problems)
