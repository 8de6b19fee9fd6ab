"""The report stage on a small fake results tree: offline notebook pages and an index that matches the CSVs."""

from __future__ import annotations

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
from partclust.reporting.format import SIGNIFICANT
from partclust.reporting.index import headline_table, write_index
from partclust.reporting.render import render_all, render_html


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list[Path], Path]:
    results = make_results(tmp_path_factory.mktemp("full"), failed=FAILED)
    pages = render_all(results)
    return results, pages, write_index(results)


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
    results, pages, _ = built
    notebooks = sorted(p.relative_to(results) for p in results.rglob("*.ipynb"))
    assert len(notebooks) == 3 + 2 + 1 + 1  # runs, Monte Carlo notebooks, why-s2u, compare
    expected = sorted(results / "reports" / p.with_suffix(".html") for p in notebooks)
    assert sorted(pages) == expected
    assert all(p.is_file() for p in pages)


def test_page_is_offline_titled_with_code_and_inline_image(built):
    results, _, _ = built
    page_path = results / "reports" / "runs" / "single" / "seed-1" / "02_fit.html"
    text = page_path.read_text()
    page = Page(text)
    assert page.title == "Fit the single model, seed 1"
    assert "plot_s2u" in text and "seed" in text  # the code is shown
    assert "In&nbsp;[" not in text and "jp-InputPrompt jp-InputArea-prompt" not in text  # but no prompt
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
# index page


def test_index_links_every_report_and_table(built):
    results, pages, index = built
    page = Page(index.read_text())
    targets = {(index.parent / unquote(h)).resolve() for h in page.links}
    for h in page.links:
        assert not urlsplit(h).scheme and not h.startswith("/"), h  # relative links only
        assert (index.parent / unquote(h)).resolve().is_file(), h
    assert {p.resolve() for p in pages} <= targets
    tables = [p for p in results.rglob("*") if p.suffix in (".csv", ".json") and "reports" not in p.parts]
    assert {p.resolve() for p in tables} <= targets
    assert page.title == "partclust study report"
    assert "<script" not in index.read_text()
    assert not [s for _, s in page.srcs if not s.startswith("data:")]


@pytest.mark.parametrize("model", ["single", "per_condition"])
def test_headline_numbers_equal_the_csvs_and_s2u_leads(built, model):
    results, _, index = built
    mc = pd.read_csv(results / "study" / model / "mc_error.csv")
    cmp = pd.read_csv(results / "comparison" / f"{model}.csv")
    exact = cmp[(cmp["reference"] == "exact") & (cmp["statistic"] == "mean")].set_index("param")
    rows = [r for r in Page(index.read_text()).table(f"{model}: Monte Carlo") if r["attrs"].get("data-param")]
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


def test_index_says_what_was_run_and_lists_failed_runs_escaped(built):
    results, _, index = built
    text = index.read_text()
    page = Page(text)
    kv = {c[0]["text"]: c[1]["text"] for c in (r["cells"] for r in page.table("settings")) if len(c) == 2}
    assert kv["models"] == "single, per_condition" and kv["draws"] == "2000" and kv["chains"] == "4"
    assert "ab" * 32 in text and "2025-01-02T03:04:05+0000" in text and "pymc" in text
    assert "1 h 2 min 6 s" in text  # wall time, also in a form a reader takes in at a glance
    assert "3 record(s), listed in the file" in text  # the per-run records have their own table
    assert "render_s" in text
    failed = page.table("1 failed run")
    cells = [c["text"] for c in failed[1]["cells"]]
    assert cells[:3] == ["single", "2", "SamplingError: " + NASTY]
    assert "02_fit.html" in cells[3]
    assert NASTY not in text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "failed: r_hat (r_hat_max=1.02)" in text  # the convergence gate per run


def test_missing_parts_are_said_not_raised(tmp_path):
    results = make_results(tmp_path, models=("single",), study_json=False, failed=None)
    index = write_index(results)  # nothing rendered yet either
    text = index.read_text()
    assert "No study record" in text and "study/study.json" in text
    assert "not run" in text and "study/per_condition/mc_error.csv" in text
    assert "no failed runs" in text
    assert "seed-1" in text  # the runs table is there, without report links
    for h in Page(text).links:
        assert (index.parent / unquote(h)).is_file(), h

    (results / "comparison" / "single.csv").unlink()
    table = headline_table(results, "single")
    assert table["param"].iloc[0] == "s2u" and table["exact_mean"].isna().all()
    assert "no comparison" in write_index(results).read_text()


def test_empty_results_dir(tmp_path):
    text = write_index(tmp_path).read_text()
    assert text.count("not run") == len(RESIDUALS)
    assert "no failed runs" in text and "No study record" in text


def test_empty_failed_list_and_headline_override(tmp_path):
    results = make_results(tmp_path, models=("single",), failed=[])
    override = pd.DataFrame({"param": ["b0", "s2u"], "mean_of_means": [1.0, 0.123456], "note": ["a<b", ""]})
    text = write_index(results, headline={"per_condition": override}).read_text()
    assert "no failed runs" in text
    rows = [r for r in Page(text).table("per_condition: Monte Carlo") if r["attrs"].get("data-param")]
    assert [r["attrs"]["data-param"] for r in rows] == ["s2u", "b0"]
    assert _cells(rows[0])["mean_of_means"] == "0.1235"
    assert "a&lt;b" in text


def test_malformed_csv_names_file_and_column(tmp_path):
    results = make_results(tmp_path, models=("single",))
    pd.DataFrame({"name": ["s2u"]}).to_csv(results / "study" / "single" / "mc_error.csv", index=False)
    with pytest.raises(ReportError, match=r"mc_error\.csv lacks column\(s\) param"):
        write_index(results)
