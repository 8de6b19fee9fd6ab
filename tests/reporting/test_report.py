"""The report stage on a small made-up results tree: offline notebook pages with folded code, the landing
page's folded tables (numbers equal to the CSVs), and the landing page itself, executed and rendered."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pandas as pd
import pytest
from helpers_report import FAILED, NASTY, executed_notebook, make_results

from partclust.config import RESIDUALS
from partclust.errors import ReportError
from partclust.reporting import summary, tables
from partclust.reporting.format import SIGNIFICANT
from partclust.reporting.render import render_all, render_html, report_path
from partclust.reporting.tables import headline_table


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list[Path]]:
    results = make_results(tmp_path_factory.mktemp("full"), failed=FAILED)
    return results, render_all(results)


def _fragment(results: Path, html: str) -> tuple[Path, str]:
    """A fragment as the landing page holds it, written where the page is (links are relative to it)."""
    index = results / "reports" / "index.html"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{html}</body></html>")
    return index, html


# --------------------------------------------------------------------------------------------------
# a small HTML reader


class Page(HTMLParser):
    """Collects links, images, scripts, the title and every table (rows with their attributes)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.srcs: list[tuple[str, str]] = []
        self.title = ""
        self.tables: list[dict] = []
        self._stack: list[str] = []
        self._cell: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._stack.append(tag)
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if "src" in a:
            self.srcs.append((tag, a["src"]))
        if tag == "link" and "href" in a:
            self.srcs.append((tag, a["href"]))
        if tag == "table":
            self.tables.append({"caption": "", "header": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append({"attrs": a, "cells": []})
        elif tag in ("td", "th") and self.tables and self.tables[-1]["rows"]:
            self._cell = {"text": "", "col": a.get("data-col"), "tag": tag}
            self.tables[-1]["rows"][-1]["cells"].append(self._cell)

    def handle_endtag(self, tag):
        while self._stack and self._stack.pop() != tag:
            pass
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._stack and self._stack[-1] == "title":
            self.title += data
        if self._cell is not None:
            self._cell["text"] += data
        elif self._stack and self._stack[-1] == "caption" and self.tables:
            self.tables[-1]["caption"] += data

    def table(self, caption_start: str) -> list[dict]:
        matches = [t for t in self.tables if t["caption"].startswith(caption_start)]
        assert len(matches) == 1, [t["caption"] for t in self.tables]
        return matches[0]["rows"]


def _cells(row: dict) -> dict[str, str]:
    return {c["col"]: c["text"].strip() for c in row["cells"] if c["col"]}


def _num(text: str) -> float:
    return math.nan if text == "—" else float(text)


def _same(text: str, value: float) -> bool:
    """The page shows ``value`` to SIGNIFICANT digits (or a dash for a missing value)."""
    if pd.isna(value):
        return text == "—"
    return text == f"{value:.{SIGNIFICANT}g}" and _num(text) == pytest.approx(value, rel=6e-4, abs=0)


# --------------------------------------------------------------------------------------------------
# notebook pages


def test_render_all_mirrors_every_executed_notebook(built):
    results, pages = built
    notebooks = sorted(p.relative_to(results) for p in results.rglob("*.ipynb"))
    assert len(notebooks) == 3 + 2 + 2 + 2 + 1 + 1  # runs, Monte Carlo and compare per model, why-s2u, data
    expected = sorted(results / "reports" / p.with_suffix(".html") for p in notebooks)
    assert sorted(pages) == expected
    assert all(p.is_file() for p in pages)


def test_the_summary_notebook_is_the_landing_page(tmp_path):
    assert report_path(tmp_path, tmp_path / "study" / "00_summary.ipynb") == tmp_path / "reports" / "index.html"
    assert report_path(tmp_path, tmp_path / "runs" / "00_summary.ipynb") == tmp_path / "reports" / "runs" / "00_summary.html"


def test_page_is_offline_titled_with_code_folded_and_inline_image(built):
    results, _ = built
    page_path = results / "reports" / "runs" / "single" / "seed-1" / "02_fit.html"
    text = page_path.read_text()
    page = Page(text)
    assert page.title == "Fit the single model, seed 1"
    assert "plot_s2u" in text and "seed" in text  # the code is in the page
    # …folded away behind one switch placed before the cells, by CSS alone (checked in Chromium too)
    assert re.search(r'<main>\s*<input [^>]*id="pc-show-code" type="checkbox"', text)
    assert 'for="pc-show-code"' in text and "Show code" in text
    assert ".pc-show-code:not(:checked) ~ .jp-CodeCell .jp-Cell-inputWrapper { display: none; }" in text
    assert "In&nbsp;[" not in text and "jp-InputPrompt jp-InputArea-prompt" not in text  # no prompts
    assert "<script" not in text  # nothing to run, nothing fetched (require.js, MathJax, widgets)
    imgs = [s for tag, s in page.srcs if tag == "img"]
    assert imgs and all(s.startswith("data:image/png;base64,") for s in imgs)
    for tag, src in page.srcs:
        assert src.startswith(("data:", "#")), (tag, src)
    assert not [h for h in page.links if urlsplit(h).scheme in ("http", "https") or h.startswith("//")]


def test_render_html_title_falls_back_to_file_name_and_strips_markup(tmp_path):
    nb = executed_notebook("x")
    nb.cells[0].source = "No heading here.\n```\n# a comment in a fence\n```"
    nbformat.write(nb, tmp_path / "03_untitled.ipynb")
    out = render_html(tmp_path / "03_untitled.ipynb", tmp_path / "out" / "u.html")
    assert Page(out.read_text()).title == "03_untitled"

    nb.cells[0].source = "## The `s2u` <b>&</b> **question**"
    nbformat.write(nb, tmp_path / "t.ipynb")
    assert Page(render_html(tmp_path / "t.ipynb", tmp_path / "t.html").read_text()).title == "The s2u & question"


def test_a_thread_reuses_one_exporter_and_its_pages_equal_a_fresh_exporters(tmp_path):
    from partclust.reporting import render

    for k, title in enumerate(["First", "Second"]):
        nbformat.write(executed_notebook(title), tmp_path / f"{k}.ipynb")
    pages = [render_html(tmp_path / f"{k}.ipynb", tmp_path / f"{k}.html").read_text() for k in range(2)]
    shared = render._exporter()
    assert render._exporter() is shared
    fresh = [render._render(tmp_path / f"{k}.ipynb", tmp_path / f"f{k}.html", render._new_exporter()).read_text()
             for k in range(2)]
    assert pages == fresh and pages[0] != pages[1]


def test_code_reaches_the_page_escaped_without_a_second_sanitizing_pass(tmp_path):
    """The page's template leaves out nbconvert's bleach pass over highlighted code: Pygments escapes it already."""
    nbformat.write(executed_notebook("Code", code='html = "<script>alert(1)</script><b>&amp;</b>"'),
                   tmp_path / "c.ipynb")
    text = render_html(tmp_path / "c.ipynb", tmp_path / "c.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;&amp;amp;&lt;/b&gt;" in text
    assert "<script>alert(1)" not in text


def test_javascript_and_widget_outputs_fall_back_to_text(tmp_path):
    nb = executed_notebook("JS")
    nb.cells[2].outputs = [
        nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)", "text/plain": "JS-TEXT"}),
        nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2, "version_minor": 0},
            "text/plain": "WIDGET-TEXT"}),
    ]
    nbformat.write(nb, tmp_path / "js.ipynb")
    text = render_html(tmp_path / "js.ipynb", tmp_path / "js.html").read_text()
    assert "JS-TEXT" in text and "WIDGET-TEXT" in text
    assert "alert(1)" not in text and "<script" not in text


def test_unreadable_notebook_names_the_file(tmp_path):
    bad = tmp_path / "results" / "runs" / "single" / "seed-1" / "02_fit.ipynb"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(ReportError, match=re.escape(str(bad))):
        render_all(tmp_path / "results")


# --------------------------------------------------------------------------------------------------
# the landing page's folded tables


@pytest.mark.parametrize("model", ["single", "per_condition"])
def test_headline_numbers_equal_the_csvs_and_s2u_leads(built, model):
    results, _ = built
    mc = pd.read_csv(results / "study" / model / "mc_error.csv")
    cmp = pd.read_csv(results / "comparison" / f"{model}.csv")
    exact = cmp[(cmp["reference"] == "exact") & (cmp["statistic"] == "mean")].set_index("param")
    _, html = _fragment(results, tables.headline_html(results, [model]))
    rows = [r for r in Page(html).table(f"{model}: Monte Carlo") if r["attrs"].get("data-param")]
    shown = [r["attrs"]["data-param"] for r in rows]
    assert shown[0] == "s2u"
    assert shown[1:] == [p for p in mc["param"] if p != "s2u"]
    for row in rows:
        cells = _cells(row)
        m = mc.set_index("param").loc[row["attrs"]["data-param"]]
        assert cells["n_seeds"] == str(int(m["n_seeds"]))
        for col in ("mean_of_means", "sd_of_means", "rms_mcse", "calibration_ratio"):
            assert _same(cells[col], m[col]), (col, cells[col], m[col])
        lo, hi = re.fullmatch(r"\[(.+), (.+)\]", cells["ratio_ci"]).groups()
        assert _same(lo, m["ratio_lo"]) and _same(hi, m["ratio_hi"])
        e = exact.loc[row["attrs"]["data-param"]]
        assert _same(cells["exact_mean"], e["reference_value"])
        assert _same(cells["z_exact"], e["z"])
        assert cells["verdict_exact"] == e["verdict"]


def test_folded_tables_say_what_was_run_and_list_failed_runs_escaped(built):
    results, pages = built
    index, text = _fragment(results, summary.folded_tables(results))
    page = Page(text)
    assert text.count("<details") == 5 and " open" not in text  # every part folded
    kv = {c[0]["text"]: c[1]["text"] for c in (r["cells"] for r in page.table("Settings")) if len(c) == 2}
    assert kv["models (--models)"] == "single, per_condition" and kv["draws kept per chain (--draws)"] == "2000"
    assert kv["chains (--chains)"] == "4"
    assert kv["workers (--workers)"] == "0 (one per core)"  # 0 is the default, not "no workers"
    assert kv["program step (--step)"] == "—" and kv["priors (--prior)"] == "—"  # not given: no "0", no blank
    assert 'title="settings.draws"' in text  # the record's own key, for a reader going to study.json
    versions = {c[0]["text"]: c[1]["text"] for c in (r["cells"] for r in page.table("Versions"))}
    assert versions == {"python": "3.12.1", "pymc": "5.99"}  # an unlisted key as in the file, below its caption
    assert [c["text"] for c in page.table("Models compiled ahead")[0]["cells"]] == [
        "nothing: every model's runs were already complete, so no model was compiled ahead"]
    earlier = {c[0]["text"]: c[1]["text"] for c in (r["cells"] for r in page.table("Earlier invocations"))}
    assert earlier == {"earlier invocation, ended 2025-01-01 10:00:00 UTC": "wall 88.0 s; 6 run(s) fitted, 0 reused"}
    assert "ab" * 32 in text and "2025-01-02T03:04:05+0000" in text and "pymc" in text
    assert "1 h 2 min 6 s" in text  # wall time, also in a form a reader takes in at a glance
    assert "5 record(s), listed in the file" in text  # the per-run records have their own table
    assert "render_s" in text
    assert "Runs (5)" in text and "Failed runs (1)" in text
    failed = page.table("1 failed run")
    cells = [c["text"] for c in failed[1]["cells"]]
    assert cells[:3] == ["single", "2", "SamplingError: " + NASTY]
    assert "02_fit.html" in cells[3]
    assert NASTY not in text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "failed: r_hat (r_hat_max=1.02)" in text  # the convergence gate per run
    targets = set()
    for h in page.links:
        assert not urlsplit(h).scheme and not h.startswith("/"), h  # relative links only
        target = (index.parent / unquote(h)).resolve()
        assert target.is_file(), h
        targets.add(target)
    run_pages = {p.resolve() for p in pages if "runs" in p.relative_to(results / "reports").parts}
    assert run_pages and run_pages <= targets
    files = [p for p in results.rglob("*") if p.suffix in (".csv", ".json") and "reports" not in p.parts
             and "runs" not in p.parts]
    assert {p.resolve() for p in files} <= targets


def test_missing_parts_are_said_not_raised(tmp_path):
    results = make_results(tmp_path, models=("single",), study_json=False, failed=None)
    index, text = _fragment(results, summary.folded_tables(results))  # nothing rendered yet either
    assert "No study record" in text and "study/study.json" in text
    assert "not run" in text and "study/per_condition/mc_error.csv" in text
    assert "no failed runs" in text
    assert "seed-1" in text  # the runs table is there, without report links
    for h in Page(text).links:
        assert (index.parent / unquote(h)).is_file(), h

    (results / "comparison" / "single.csv").unlink()
    table = headline_table(results, "single")
    assert table["param"].iloc[0] == "s2u" and table["exact_mean"].isna().all()
    assert "no comparison" in tables.headline_html(results, ["single"])


def test_empty_results_dir(tmp_path):
    text = summary.folded_tables(tmp_path)
    assert text.count("not run") == len(RESIDUALS)
    assert "no failed runs" in text and "No study record" in text and "no runs under" in text


def test_malformed_csv_names_file_and_column(tmp_path):
    results = make_results(tmp_path, models=("single",))
    pd.DataFrame({"name": ["s2u"]}).to_csv(results / "study" / "single" / "mc_error.csv", index=False)
    with pytest.raises(ReportError, match=r"mc_error\.csv lacks column\(s\) param"):
        summary.folded_tables(results)


# --------------------------------------------------------------------------------------------------
# the landing page, executed and rendered


@pytest.mark.slow
def test_landing_page_answers_first_then_figures_then_every_analysis(landing, run1_design):
    results, pages, index = landing
    text = index.read_text()
    page = Page(text)
    assert page.title == "Does σ²_u differ by more than Monte Carlo error, and why?"
    # reading order: the question, the answer, the two figures, the analyses, then the folded tables
    order = [text.index(s) for s in ("<h1", "Question.", "PyMC's σ²_u", "<img", "Every analysis", "<details")]
    assert order == sorted(order)
    assert text.count('src="data:image/png;base64,') >= 2  # the σ²_u density and the calibration figure
    head = text[:text.index("Every analysis")]
    assert "<table" not in head[head.index("<main>"):]  # no settings table before the analyses
    # the answer's numbers are the CSVs'
    for model in ("single", "per_condition"):
        cmp = pd.read_csv(results / "comparison" / f"{model}.csv")
        row = cmp[(cmp["reference"] == "exact") & (cmp["param"] == "s2u") & (cmp["statistic"] == "mean")].iloc[0]
        assert f"PyMC {row['fit_value']:.4f} ± {row['fit_se']:.4f}" in text
        mc = pd.read_csv(results / "study" / model / "mc_error.csv").set_index("param").loc["s2u"]
        assert f"{mc['calibration_ratio']:.2f} (95 % interval {mc['ratio_lo']:.2f}–{mc['ratio_hi']:.2f})" in text
    # every link resolves; every other page is reachable from the landing page
    targets = set()
    for h in page.links:
        if h.startswith("#"):
            continue  # a heading's own anchor
        assert not urlsplit(h).scheme and not h.startswith("/"), h
        target = (index.parent / unquote(h)).resolve()
        assert target.is_file(), h
        targets.add(target)
    assert {p.resolve() for p in pages if p != index} <= targets
    assert "<script" not in text and "200 subjects &lt;script&gt;" in text  # a finding's HTML is shown as text


def test_settings_table_says_in_words_how_each_model_was_compiled_and_when_the_study_started(tmp_path):
    from partclust.reporting.records import study_record_html

    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "study.json").write_text(json.dumps({
        "started": "2026-11-30T22:40:04+0000 pid 20153", "complete": False,
        "prebuilt": {"single": {"key": "ab" * 32, "source": "copied", "error": "", "waited_s": 0.0,
                                "copied_from": "/x/results/cache/compiled", "seconds": 1.631},
                     "per_condition": {"key": "cd" * 32, "source": "built", "error": "", "seconds": 34.2}},
    }))
    html = study_record_html(tmp_path)
    page = Page(html)
    rows = {c[0]["text"]: c[1]["text"] for c in (r["cells"] for r in page.table("Models compiled ahead"))}
    assert rows == {"single": "copied from /x/results/cache/compiled in 1.6 s (not compiled again)",
                    "per_condition": "compiled in 34.2 s"}  # no key, error or waited_s rows
    run = {c[0]["text"]: c[1]["text"] for c in (r["cells"] for r in page.table("This invocation"))}
    assert run == {"this invocation started": "2026-11-30 22:40:04+0000 (process 20153)"}  # "complete" said in words
    assert "before the study ended" in html
