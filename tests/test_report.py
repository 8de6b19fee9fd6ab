"""The report stage on a small fake results tree: offline notebook pages and an index that matches the CSVs."""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import numpy as np
import pandas as pd
import pytest

from partclust import report
from partclust.report import ReportError, headline_table, render_all, render_html, write_index

NASTY = "<script>alert('x')</script> & \"quoted\""
SEEDS = {"single": (1, 2), "per_condition": (1,)}
PARAMS = {
    "single": ["b0", "b1", "s2e", "s2u", "u[grp-A]", "u[grp B]"],
    "per_condition": ["b0", "b1", "s2e_control", "s2e_treated", "s2u"],
}


# --------------------------------------------------------------------------------------------------
# the fake results tree (also used by test_report_browser.py)


@functools.cache
def _png_base64() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
    ax.plot([0, 1, 2], [0.4, 0.1, 0.3])
    ax.set_title("σ²_u by seed")
    ax.set_xlabel("seed")
    ax.set_ylabel("posterior mean")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def executed_notebook(title: str, code: str = "fig = plot_s2u(seeds)") -> nbformat.NotebookNode:
    """A notebook as papermill leaves it: a heading, code, and outputs including an inline PNG."""
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell(f"# {title}\n\nWhich question this answers, with `code` and *emphasis*."),
        v4.new_code_cell("seed = 1", execution_count=1, metadata={"tags": ["parameters"]}),
        v4.new_code_cell(code, execution_count=2, outputs=[
            v4.new_output("stream", name="stdout", text="sampling 4 chains\n"),
            v4.new_output("display_data", data={"image/png": _png_base64(), "text/plain": "<Figure 150x100>"}),
            v4.new_output("execute_result", execution_count=2,
                          data={"text/plain": "0.4", "text/html": "<table><tr><td>0.4</td></tr></table>"}),
        ]),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _mc_error(model: str, rng: np.random.Generator) -> pd.DataFrame:
    params = PARAMS[model]
    n = len(params)
    df = pd.DataFrame({
        "param": params,
        "n_seeds": len(SEEDS[model]) * 10,
        "mean_of_means": rng.normal(0, 1, n) * 10.0 ** rng.integers(-4, 3, n),
        "sd_of_means": rng.uniform(1e-4, 0.05, n),
        "rms_mcse": rng.uniform(1e-4, 0.05, n),
        "calibration_ratio": rng.uniform(0.6, 1.6, n),
        "ratio_lo": rng.uniform(0.3, 0.6, n),
        "ratio_hi": rng.uniform(1.6, 2.4, n),
        "mean_z_exact": rng.normal(0, 1, n),
    })
    df.loc[df["param"] == "b1", "calibration_ratio"] = np.nan  # a missing value is shown, not invented
    df.loc[df["param"] == "s2u", "mean_of_means"] = 0.4123456789
    return df


def _comparison(model: str, mc: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for param, fit in zip(mc["param"], mc["mean_of_means"]):
        for stat in ("mean", "sd"):
            exact = fit + rng.normal(0, 1e-3)
            se = 1e-3
            verdict = "real difference" if param == "b0" else "consistent with Monte Carlo error"
            rows.append({"reference": "exact", "param": param, "statistic": stat, "reference_value": exact,
                         "fit_value": fit, "difference": fit - exact, "se": se, "z": (fit - exact) / se,
                         "verdict": verdict})
        rows.append({"reference": "sas", "param": param, "statistic": "mean", "reference_value": np.nan,
                     "fit_value": fit, "difference": np.nan, "se": np.nan, "z": np.nan,
                     "verdict": "not comparable"})
    return pd.DataFrame(rows)


def make_results(root: Path, *, models=("single", "per_condition"), study_json: bool = True,
                 failed: list | None = None) -> Path:
    """A results tree shaped like the study's, with every part present unless told otherwise."""
    rng = np.random.default_rng(3)
    results = root / "results"
    for model in models:
        for seed in SEEDS[model]:
            run = results / "runs" / model / f"seed-{seed}"
            run.mkdir(parents=True)
            nbformat.write(executed_notebook(f"Fit the {model} model, seed {seed}"), run / "02_fit.ipynb")
            (run / "run.json").write_text(json.dumps({
                "settings": {"model": model, "seed": seed},
                "convergence": {"passed": seed != 2, "reason": "" if seed != 2 else "failed: r_hat (r_hat_max=1.02)"},
            }))
            pd.DataFrame({"param": PARAMS[model], "mean": 0.0}).to_csv(run / "summary.csv", index=False)
            (run / "posterior.nc").write_bytes(b"\x89HDF\r\n")
        mc = _mc_error(model, rng)
        (results / "study" / model).mkdir(parents=True)
        mc.to_csv(results / "study" / model / "mc_error.csv", index=False)
        (results / "comparison").mkdir(parents=True, exist_ok=True)
        _comparison(model, mc, rng).to_csv(results / "comparison" / f"{model}.csv", index=False)
        nbformat.write(executed_notebook(f"Monte Carlo error: {model}"),
                       results / "study" / f"04_monte_carlo_{model}.ipynb")
    (results / "study").mkdir(parents=True, exist_ok=True)
    (results / "comparison").mkdir(parents=True, exist_ok=True)
    nbformat.write(executed_notebook("Why does σ²_u differ?"), results / "study" / "06_why_s2u.ipynb")
    nbformat.write(executed_notebook("Comparison with every reference"), results / "comparison" / "05_compare.ipynb")
    if study_json:
        (results / "study" / "study.json").write_text(json.dumps({
            "settings": {"models": list(models), "seeds": [1, 2, 3], "draws": 2000, "tune": 1000, "chains": 4},
            "versions": {"python": "3.12.1", "pymc": "5.99"},
            "data": {"path": "/data/run1.csv", "sha256": "ab" * 32},
            "date": "2025-01-02T03:04:05+0000",
            "wall_s": 3725.5,
            "stages_s": {"fits_s": 3000.25, "render_s": 12.5},
            "runs": [{"model": m, "seed": k, "status": "done"} for m in models for k in SEEDS[m]],
            "note": NASTY,
        }))
    if failed is not None:
        (results / "study" / "failed.json").write_text(json.dumps(failed))
    return results


FAILED = [{"model": "single", "seed": 2, "error": "SamplingError: " + NASTY}]


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
    return text == f"{value:.{report.SIGNIFICANT}g}" and _num(text) == pytest.approx(value, rel=6e-4, abs=0)


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
    assert text.count("not run") == len(report.DEFAULT_MODELS)
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
