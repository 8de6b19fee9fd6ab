"""The report read as a person reads it, in a real headless Chromium: the first screen holds the answer and a
figure, every link resolves, every image decodes, the code switch works, nothing errs or goes online.

Needs Chromium (Debian's ``chromium``; ``make test`` and ``.ci/run`` install it with apt when run as root)
and playwright's Python package (a dependency), which drives that Chromium. Without a Chromium the test is
skipped with one line saying why — unless ``PARTCLUST_REQUIRE_BROWSER=1`` (``.ci/run`` sets it), when
that is a failure. ``PARTCLUST_CHROMIUM`` names another Chromium executable; ``PARTCLUST_SCREENSHOTS``
names a folder that keeps the screenshots.
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

# Root in a container needs --no-sandbox; the rest keeps Chromium from calling home during the test.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
NAMES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    """$PARTCLUST_CHROMIUM, else a Chromium on PATH."""
    named = os.environ.get("PARTCLUST_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return next((found for found in map(shutil.which, NAMES) if found), None)


def _unavailable(reason: str) -> None:
    if os.environ.get("PARTCLUST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (PARTCLUST_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    if os.environ.get("PARTCLUST_SKIP_BROWSER") == "1":
        _unavailable("browser test skipped: PARTCLUST_SKIP_BROWSER=1")
    found = find_chromium()
    if found is None:
        where = os.environ.get("PARTCLUST_CHROMIUM") or "on PATH"
        _unavailable(f"no Chromium {where}: install it (`apt-get install chromium`; `make test` does when run as "
                     "root) or set PARTCLUST_CHROMIUM")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed: run `.venv/bin/pip install -e .`")
    return found


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def served(landing):
    """The landing page's results tree served over HTTP on a free port of 127.0.0.1."""
    results, pages, index = landing
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


def _in_first_screen(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] < page.viewport_size["height"] and box["y"] + box["height"] > 0


def _images(page) -> list[dict]:
    return page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => ({src: i.src.slice(0, 40), ok: i.complete && i.naturalWidth > 0}))")


@pytest.mark.slow
def test_report_reads_like_a_person_reads_it(chromium, served, tmp_path):
    from playwright.sync_api import sync_playwright

    base, results, pages = served
    shots = Path(os.environ.get("PARTCLUST_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
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
            viewport=VIEWPORT,
        )
        try:
            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: m.type in ("error", "warning")
                    and problems.append(f"console {m.type} on {page.url}: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error on {page.url}: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request {r.url}: {r.failure}"))
            page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status} for {r.url}"))

            # the first screen: the answer and a figure, no settings table
            index_url = base + "reports/index.html"
            response = page.goto(index_url, wait_until="load")
            assert response is not None and response.status == 200
            page.screenshot(path=str(shots / "index_first_screen.png"))
            assert page.title() == "Does σ²_u differ by more than Monte Carlo error, and why?"
            answer = page.locator("p", has_text="PyMC's σ²_u").first
            assert _in_first_screen(page, answer), "the answer is not on the first screen"
            assert "z = " in answer.inner_text() and "calibration ratio" in answer.inner_text()
            figure = page.locator("img").first
            assert _in_first_screen(page, figure), "no figure on the first screen"
            for table in page.locator("table").all():
                assert not (table.is_visible() and _in_first_screen(page, table)), "a table on the first screen"
            assert all(i["ok"] for i in _images(page)) and len(_images(page)) >= 2

            # the code switch: code hidden, shown on a click, hidden again
            code = page.locator(".jp-CodeCell .jp-Cell-inputWrapper", has_text="study_answer").first
            toggle = page.locator("label[for=pc-show-code]")
            assert toggle.is_visible() and toggle.inner_text() == "Show code"
            assert not code.is_visible()
            toggle.click()
            assert code.is_visible() and toggle.inner_text() == "Hide code"
            toggle.click()
            assert not code.is_visible()

            # the folded tables open on a click
            settings = page.locator("details.pc-fold", has_text="Study settings")
            assert not settings.locator("table").first.is_visible()
            settings.locator("summary").click()
            assert settings.locator("table").first.is_visible()

            # every link resolves; every page linked opens, titled, with its images decoded, its code folded
            hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            targets = sorted({urldefrag(h).url for h in hrefs} - {index_url})
            assert targets and all(urlsplit(t).netloc == urlsplit(base).netloc for t in targets)
            for url in targets:
                assert _status(url) == 200, url
            linked_pages = [t for t in targets if t.endswith(".html")]
            index_page = results / "reports" / "index.html"
            assert {base + p.relative_to(results).as_posix() for p in pages if p != index_page} <= set(linked_pages)
            for k, url in enumerate(linked_pages):
                response = page.goto(url, wait_until="load")
                assert response is not None and response.status == 200, url
                assert page.title(), url
                images = _images(page)
                assert images and all(i["ok"] for i in images), (url, images)
                hidden = page.locator("pre", has_text="plot_s2u").first
                assert hidden.count() == 1 and not hidden.is_visible(), f"{url} shows its code unasked"
                if k == 0:
                    page.screenshot(path=str(shots / "notebook_page.png"))
                    page.locator("label[for=pc-show-code]").click()
                    assert hidden.is_visible(), url
        finally:
            context.close()
    assert not problems, "\n".join(problems)
