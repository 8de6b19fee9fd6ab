"""Stage 8 — the report: executed notebooks as offline HTML pages and one index page over a study.

Everything under ``results/reports/`` opens from a plain file server or the file system with no network:
the notebook pages use nbconvert's ``lab`` template with the blocks that load require.js, MathJax,
Mermaid and the widget manager from CDNs left empty (images are already inline as base64), and the
index is static HTML + CSS. The price of no MathJax: LaTeX in markdown cells shows as its source.
Every number on the index is read from the study's CSVs and printed to :data:`SIGNIFICANT` significant
digits, so the page and the files cannot disagree.

Layout read (every part optional: a missing part is said to be missing on the page; a part that is
present but unreadable raises :class:`ReportError` naming the file)::

    runs/<model>/seed-<k>/   02_fit.ipynb, run.json, summary.csv, posterior.nc
    study/                   study.json, failed.json, <model>/mc_error.csv, *.ipynb
    comparison/              <model>.csv, *.ipynb
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import math
import numbers
import re
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import pandas as pd

REPORTS_DIR = "reports"
NOTEBOOK_DIRS: tuple[str, ...] = ("runs", "study", "comparison")
DEFAULT_MODELS: tuple[str, ...] = ("single", "per_condition")  # the two residual models of STUDY.md
HEADLINE_FIRST = "s2u"  # the parameter the study is about leads every headline table
EXACT_REFERENCE = "exact"
SIGNIFICANT = 4
MC_ERROR_COLUMNS: tuple[str, ...] = (
    "n_seeds", "mean_of_means", "sd_of_means", "rms_mcse", "calibration_ratio", "ratio_lo", "ratio_hi",
)
HEADLINE_COLUMNS: tuple[str, ...] = ("param", *MC_ERROR_COLUMNS, "exact_mean", "z_exact", "verdict_exact")
COLUMN_LABELS: dict[str, str] = {
    "param": "parameter",
    "n_seeds": "seeds",
    "mean_of_means": "mean of seed means",
    "sd_of_means": "SD across seeds",
    "rms_mcse": "RMS MCSE",
    "calibration_ratio": "calibration ratio (SD / RMS MCSE)",
    "ratio_ci": "ratio CI",
    "exact_mean": "exact posterior mean",
    "z_exact": "z vs exact",
    "verdict_exact": "verdict vs exact",
}
PARAM_LABELS: dict[str, str] = {
    "s2u": "σ²<sub>u</sub>",
    "s2e": "σ²<sub>e</sub>",
    "s2e_control": "σ²<sub>e,control</sub>",
    "s2e_treated": "σ²<sub>e,treated</sub>",
}

# nbconvert's lab template minus everything fetched from the network. Output types that need a
# JavaScript runtime (JS, widgets) fall back to their plain-text form.
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}<link rel="icon" href="data:,">{%- endblock html_head_css -%}
{%- macro text_fallback(output, extra_class) -%}
{%- if 'text/plain' in output.data -%}
<div class="jp-RenderedText jp-OutputArea-output {{ extra_class }}" data-mime-type="text/plain">
<pre>{{- output.data['text/plain'] | ansi2html -}}</pre>
</div>
{%- endif -%}
{%- endmacro -%}
{%- block data_javascript scoped -%}{{ text_fallback(output, extra_class) }}{%- endblock data_javascript -%}
{%- block data_widget_view scoped -%}{{ text_fallback(output, extra_class) }}{%- endblock data_widget_view -%}
"""

# nbconvert warns on every plot without alt text (it adds a generic one); not actionable for a reader.
_NBCONVERT_LOG = logging.getLogger("partclust.report.nbconvert")
_NBCONVERT_LOG.setLevel(logging.ERROR)

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


class ReportError(RuntimeError):
    """A report could not be written; the message names the file at fault and what to do."""


# --------------------------------------------------------------------------------------------------
# Notebook pages


def notebook_title(nb: Any) -> str | None:
    """The text of the notebook's first markdown heading, without HTML tags, emphasis or code marks."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        fenced = False
        for line in str(cell.source).splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            m = None if fenced else _HEADING.match(line)
            if m:
                text = re.sub(r"<[^>]*>", "", m.group(1))
                text = re.sub(r"[`*]|(?<!\w)_|_(?!\w)", "", text).strip()
                if text:
                    return text
    return None


def _exporter():
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True,
    )
    exporter.raw_template = _OFFLINE_TEMPLATE
    exporter.log = _NBCONVERT_LOG
    return exporter


def _render(notebook: Path, html_path: Path, exporter: Any) -> Path:
    import nbformat

    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for a bad file
        raise ReportError(
            f"cannot read notebook {notebook}: {exc}. Rerun the stage that wrote it or delete the file."
        ) from None
    nb.metadata["title"] = notebook_title(nb) or notebook.stem
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def render_html(notebook: Path, html: Path) -> Path:
    """Render one executed notebook to a self-contained HTML page (code shown, no prompts, no CDN)."""
    return _render(Path(notebook), Path(html), _exporter())


def executed_notebooks(results: Path) -> list[Path]:
    """Every notebook under ``results/{runs,study,comparison}``, checkpoints excluded, in path order."""
    results = Path(results)
    found = []
    for top in NOTEBOOK_DIRS:
        base = results / top
        if base.is_dir():
            found += [p for p in base.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    return sorted(found, key=lambda p: _natural_key(p.relative_to(results).as_posix()))


def report_path(results: Path, notebook: Path) -> Path:
    """Where a notebook's page goes: ``results/reports/<same relative path>.html``."""
    results = Path(results)
    return results / REPORTS_DIR / Path(notebook).relative_to(results).with_suffix(".html")


def render_all(results: Path) -> list[Path]:
    """Render every executed notebook under ``results`` into ``results/reports/``; returns the pages."""
    return render_notebooks(Path(results), executed_notebooks(Path(results)))


def render_notebooks(results: Path, notebooks: Iterable[Path], only_stale: bool = False) -> list[Path]:
    """Render the given executed notebooks; with ``only_stale``, skip pages newer than their notebook."""
    results = Path(results)
    exporter = None  # built on first need: importing nbconvert's templates costs seconds
    pages = []
    for nb in notebooks:
        page = report_path(results, nb)
        if only_stale and page.is_file() and page.stat().st_mtime >= Path(nb).stat().st_mtime:
            pages.append(page)
            continue
        exporter = exporter or _exporter()
        pages.append(_render(nb, page, exporter))
    return pages


# --------------------------------------------------------------------------------------------------
# Headline tables


def _read_csv(path: Path, required: Iterable[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise ReportError(f"cannot read {path}: {exc}. Rerun the study stage that writes it.") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ReportError(
            f"{path} lacks column(s) {', '.join(missing)}; it was written by another version of "
            "partclust. Rerun the study stage that writes it."
        )
    return df


def first_param_first(df: pd.DataFrame, first: str = HEADLINE_FIRST) -> pd.DataFrame:
    """Rows with ``param == first`` moved to the top, the rest in their original order."""
    if "param" not in df.columns:
        return df
    lead = df["param"].astype(str) == first
    return pd.concat([df[lead], df[~lead]]).reset_index(drop=True)


def headline_table(results: Path, model: str) -> pd.DataFrame | None:
    """One row per parameter: Monte Carlo error across seeds and the verdict against the exact posterior.

    Built from ``study/<model>/mc_error.csv`` and the ``exact`` mean rows of ``comparison/<model>.csv``;
    ``None`` when the model's Monte Carlo study was not run.
    """
    results = Path(results)
    mc_path = results / "study" / model / "mc_error.csv"
    if not mc_path.is_file():
        return None
    mc = _read_csv(mc_path, ["param"])
    table = mc.reindex(columns=["param", *MC_ERROR_COLUMNS])
    table["param"] = table["param"].astype(str)
    cmp_path = results / "comparison" / f"{model}.csv"
    exact = pd.DataFrame(columns=["param", "exact_mean", "z_exact", "verdict_exact"])
    if cmp_path.is_file():
        cmp = _read_csv(cmp_path, ["reference", "param", "statistic", "reference_value", "z", "verdict"])
        rows = cmp[
            cmp["reference"].astype(str).str.lower().str.startswith(EXACT_REFERENCE)
            & (cmp["statistic"].astype(str) == "mean")
        ]
        exact = pd.DataFrame({
            "param": rows["param"].astype(str),
            "exact_mean": rows["reference_value"],
            "z_exact": rows["z"],
            "verdict_exact": rows["verdict"],
        }).drop_duplicates("param")
    table = table.merge(exact, on="param", how="left")
    return first_param_first(table).reindex(columns=list(HEADLINE_COLUMNS))


def verdict_counts(results: Path, model: str) -> pd.DataFrame | None:
    """How many comparisons per reference got each verdict (``None`` without a comparison CSV)."""
    path = Path(results) / "comparison" / f"{model}.csv"
    if not path.is_file():
        return None
    cmp = _read_csv(path, ["reference", "verdict"])
    if cmp.empty:
        return pd.DataFrame()
    counts = cmp.groupby(["reference", "verdict"], sort=False).size().unstack(fill_value=0)
    return counts.reset_index()


# --------------------------------------------------------------------------------------------------
# Index page


def fmt_number(value: Any, digits: int = SIGNIFICANT) -> str:
    """``digits`` significant digits; integers as integers; missing values as an em dash."""
    if value is None or isinstance(value, str):
        return "—" if value in (None, "") else value
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "—"
    if x.is_integer() and abs(x) < 10**digits and not isinstance(value, float):
        return str(int(x))
    return f"{x:.{digits}g}"


def _e(value: Any) -> str:
    return html_lib.escape(str(value), quote=True)


def _href(results: Path, path: Path) -> str:
    """A link from ``results/reports/index.html`` to ``path``, URL-quoted and attribute-escaped."""
    rel = Path(path).relative_to(results).as_posix()
    if rel.startswith(REPORTS_DIR + "/"):
        target = rel[len(REPORTS_DIR) + 1:]
    else:
        target = "../" + rel
    return _e(quote(target))


def _link(results: Path, path: Path, text: str | None = None) -> str:
    label = text if text is not None else Path(path).relative_to(results).as_posix()
    return f'<a href="{_href(results, path)}">{_e(label)}</a>'


def _natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _param_label(param: str) -> str:
    label = PARAM_LABELS.get(param)
    if label is None:
        return f"<code>{_e(param)}</code>"
    return f"{label} <code>{_e(param)}</code>"


def _verdict_class(verdict: Any) -> str:
    text = str(verdict).lower()
    if "real" in text:
        return "real"
    if "consistent" in text:
        return "ok"
    return ""


def _table_html(df: pd.DataFrame, caption: str = "") -> str:
    """A headline-style table: ``param`` rows labelled, numbers right-aligned, CI columns merged."""
    cols = [c for c in df.columns if c not in ("ratio_lo", "ratio_hi")]
    has_ci = "ratio_lo" in df.columns and "ratio_hi" in df.columns
    if has_ci:
        at = cols.index("calibration_ratio") + 1 if "calibration_ratio" in cols else len(cols)
        cols.insert(at, "ratio_ci")
    out = ["<table>"]
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    out.append("<thead><tr>" + "".join(
        f'<th scope="col" data-col="{_e(c)}">{_e(COLUMN_LABELS.get(c, c))}</th>' for c in cols
    ) + "</tr></thead><tbody>")
    for _, row in df.iterrows():
        attrs = f' data-param="{_e(row["param"])}"' if "param" in df.columns else ""
        cells = []
        for c in cols:
            if c == "param":
                cells.append(f'<th scope="row">{_param_label(str(row[c]))}</th>')
            elif c == "ratio_ci":
                lo, hi = row["ratio_lo"], row["ratio_hi"]
                text = "—" if pd.isna(lo) and pd.isna(hi) else f"[{fmt_number(lo)}, {fmt_number(hi)}]"
                cells.append(f'<td class="num" data-col="ratio_ci">{_e(text)}</td>')
            elif c.startswith("verdict"):
                v = "" if pd.isna(row[c]) else row[c]
                cells.append(f'<td class="{_verdict_class(v)}" data-col="{_e(c)}">{_e(v or "—")}</td>')
            else:
                v = row[c]
                num = isinstance(v, numbers.Real) and not isinstance(v, bool)
                text = fmt_number(v) if num else ("—" if pd.isna(v) else str(v))
                cls = ' class="num"' if num else ""
                cells.append(f'<td{cls} data-col="{_e(c)}">{_e(text)}</td>')
        out.append(f"<tr{attrs}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for k, v in value.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    return [(prefix, value)]


def _show_value(key: str, value: Any) -> str:
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return f"{len(value)} record(s), listed in the file"  # runs and failures have tables of their own
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)) and "wall" in key.lower() and value >= 0:
        minutes, seconds = divmod(float(value), 60)
        hours, minutes = divmod(int(minutes), 60)
        human = f"{hours} h {minutes} min {seconds:.0f} s" if hours else f"{minutes} min {seconds:.0f} s"
        return f"{value:.1f} s ({human})"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _study_section(results: Path) -> tuple[str, dict]:
    path = results / "study" / "study.json"
    if not path.is_file():
        return ("<p class=\"missing\">No study record: <code>study/study.json</code> was not found, so what "
                "was run (settings, versions, data checksum, date) is unknown.</p>", {})
    try:
        study = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {path}: {exc}. Rerun the study to rewrite it.") from None
    if not isinstance(study, dict):
        raise ReportError(f"{path} is not a JSON object; rerun the study to rewrite it.")
    scalars = {k: v for k, v in study.items() if not isinstance(v, dict)}
    groups = {k: v for k, v in study.items() if isinstance(v, dict)}
    order = sorted(groups, key=lambda k: (k != "settings", k == "versions"))
    parts = []
    sections = ([("Run", scalars)] if scalars else []) + [(k, groups[k]) for k in order]
    for title, content in sections:
        rows = "".join(
            f'<tr><th scope="row">{_e(k)}</th><td>{_e(_show_value(k, v))}</td></tr>'
            for k, v in _flatten(content)
        )
        parts.append(f'<table class="kv"><caption>{_e(title)}</caption><tbody>{rows}</tbody></table>')
    parts.append(f"<p>Record: {_link(results, path)}</p>")
    return '<div class="kvs">' + "\n".join(parts) + "</div>", study


def _models(results: Path, study: dict, headline: dict[str, pd.DataFrame] | None) -> list[str]:
    models: list[str] = []
    settings = study.get("settings") if isinstance(study.get("settings"), dict) else {}
    listed = settings.get("models", study.get("models", []))
    if isinstance(listed, str):
        listed = [listed]
    models += [str(m) for m in listed]
    models += list(DEFAULT_MODELS)  # a model of the study that was not run is said to be not run
    models += list(headline or {})
    for sub in ("study", "runs"):
        d = results / sub
        if d.is_dir():
            models += sorted(p.name for p in d.iterdir() if p.is_dir())
    comp = results / "comparison"
    if comp.is_dir():
        models += sorted(p.stem for p in comp.glob("*.csv"))
    return list(dict.fromkeys(models))


def _model_section(results: Path, model: str, headline: dict[str, pd.DataFrame] | None) -> str:
    mc_path = results / "study" / model / "mc_error.csv"
    cmp_path = results / "comparison" / f"{model}.csv"
    out = [f'<section class="model" id="model-{_e(model)}"><h3>{_e(model)}</h3>']
    table = headline[model] if headline and model in headline else headline_table(results, model)
    if table is None:
        out.append(f'<p class="missing">not run: no <code>study/{_e(model)}/mc_error.csv</code>.</p>')
    else:
        out.append(_table_html(first_param_first(table), f"{model}: Monte Carlo error across seeds and the "
                                                          "exact posterior"))
    files = [p for p in (mc_path, cmp_path) if p.is_file()]
    files += sorted((results / "study" / model).glob("*.csv")) if (results / "study" / model).is_dir() else []
    files = list(dict.fromkeys(files))
    if files:
        out.append("<p>Tables: " + " · ".join(_link(results, p) for p in files) + "</p>")
    if not cmp_path.is_file():
        out.append(f'<p class="missing">no comparison: <code>comparison/{_e(model)}.csv</code> not found.</p>')
    else:
        counts = verdict_counts(results, model)
        if counts is not None and not counts.empty:
            out.append(_plain_table(counts, f"{model}: verdicts per reference (all statistics)"))
    out.append("</section>")
    return "\n".join(out)


def _plain_table(df: pd.DataFrame, caption: str) -> str:
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in df.columns)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{_e(fmt_number(v))}</td>' if isinstance(v, numbers.Real) else f"<td>{_e(v)}</td>"
            for v in row
        ) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _failed_section(results: Path) -> str:
    path = results / "study" / "failed.json"
    if not path.is_file():
        return "<p>no failed runs (no <code>study/failed.json</code>).</p>"
    try:
        failed = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {path}: {exc}. Rerun the study to rewrite it.") from None
    if not failed:
        return f"<p>no failed runs ({_link(results, path)}).</p>"
    if not isinstance(failed, list):
        raise ReportError(f"{path} is not a JSON list of failed runs; rerun the study to rewrite it.")
    rows = []
    for item in failed:
        item = item if isinstance(item, dict) else {"error": item}
        model, seed = item.get("model", ""), item.get("seed", "")
        pages = sorted((results / REPORTS_DIR / "runs" / str(model) / f"seed-{seed}").glob("*.html"))
        links = " ".join(_link(results, p, p.name) for p in pages) or "—"
        rows.append(f"<tr><td>{_e(model)}</td><td class=\"num\">{_e(seed)}</td>"
                    f"<td class=\"error\">{_e(item.get('error', ''))}</td><td>{links}</td></tr>")
    return (f'<table class="failed"><caption>{len(failed)} failed run(s) — {_link(results, path)}</caption>'
            '<thead><tr><th scope="col">model</th><th scope="col">seed</th><th scope="col">error</th>'
            f'<th scope="col">executed notebook</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _gate(run_dir: Path) -> tuple[str, str]:
    path = run_dir / "run.json"
    if not path.is_file():
        return "—", ""
    try:
        gate = json.loads(path.read_text()).get("convergence", {})
    except (OSError, ValueError, AttributeError):
        return "unreadable run.json", "real"
    if not gate:
        return "—", ""
    return ("passed", "ok") if gate.get("passed") else (str(gate.get("reason") or "failed"), "real")


def _runs_section(results: Path) -> str:
    runs = results / "runs"
    dirs = set()
    if runs.is_dir():
        for p in runs.rglob("*"):
            if p.is_file() and ".ipynb_checkpoints" not in p.parts:
                dirs.add(p.parent)
    pages_root = results / REPORTS_DIR / "runs"
    if pages_root.is_dir():
        dirs |= {results / p.parent.relative_to(results / REPORTS_DIR) for p in pages_root.rglob("*.html")}
    if not dirs:
        return '<p class="missing">no runs under <code>runs/</code>.</p>'
    rows = []
    for d in sorted(dirs, key=lambda p: _natural_key(p.relative_to(results).as_posix())):
        rel = d.relative_to(results)
        page_dir = results / REPORTS_DIR / rel
        pages = sorted(page_dir.glob("*.html")) if page_dir.is_dir() else []
        files = sorted(p for p in d.glob("*") if p.is_file() and p.suffix in (".csv", ".json", ".nc"))
        gate, cls = _gate(d)
        rows.append(
            f"<tr><td>{_e(rel.as_posix())}</td>"
            f"<td>{' '.join(_link(results, p, p.name) for p in pages) or '—'}</td>"
            f"<td>{' '.join(_link(results, p, p.name) for p in files) or '—'}</td>"
            f'<td class="{cls}">{_e(gate)}</td></tr>'
        )
    return ('<table class="runs"><thead><tr><th scope="col">run</th><th scope="col">report</th>'
            '<th scope="col">files</th><th scope="col">convergence gate</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _other_reports(results: Path) -> str:
    pages = sorted(
        (p for p in (results / REPORTS_DIR).rglob("*.html")
         if p.name != "index.html" and p.relative_to(results / REPORTS_DIR).parts[0] != "runs"),
        key=lambda p: _natural_key(p.as_posix()),
    )
    if not pages:
        return '<p class="missing">no study or comparison notebooks have been rendered.</p>'
    return "<ul>" + "".join(
        f"<li>{_link(results, p, p.relative_to(results / REPORTS_DIR).as_posix())}</li>" for p in pages
    ) + "</ul>"


def _data_files(results: Path) -> str:
    files = []
    for top in ("study", "comparison"):
        d = results / top
        if d.is_dir():
            files += [p for p in d.rglob("*") if p.is_file() and p.suffix in (".csv", ".json")]
    if not files:
        return '<p class="missing">no tables under <code>study/</code> or <code>comparison/</code>.</p>'
    files.sort(key=lambda p: _natural_key(p.relative_to(results).as_posix()))
    return "<ul>" + "".join(f"<li>{_link(results, p)}</li>" for p in files) + "</ul>"


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 75rem; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.55rem; text-align: left; vertical-align: top; }
thead th { background: #f0f2f5; }
tbody tr:nth-child(even) { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.ok { color: #1b6e20; } td.real { color: #a4161a; font-weight: 600; }
td.error { font-family: ui-monospace, monospace; white-space: pre-wrap; max-width: 40rem; }
.missing { color: #8a5a00; font-style: italic; }
.kvs { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
table.kv td { font-family: ui-monospace, monospace; word-break: break-all; }
code { font-size: 0.85em; color: #555; }
table.runs td:first-child { white-space: nowrap; }
"""


def write_index(results: Path, headline: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write ``results/reports/index.html``: what was run, headline tables, failed runs, every page and table.

    ``headline`` maps a model to a ready table (columns as :func:`headline_table` returns); models not
    in it are read from their CSVs.
    """
    results = Path(results)
    out = results / REPORTS_DIR / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    study_html, study = _study_section(results)
    models = _models(results, study, headline)
    body = [
        "<h1>partclust — multi-seed study report</h1>",
        "<p>Re-fits of the partially clustered trial in PyMC, repeated over seeds so that Monte Carlo error "
        "is measured and separated from real differences. The <em>calibration ratio</em> is the SD of the "
        "posterior means across seeds divided by the root-mean-square of their MCSEs: near 1 the reported "
        "MCSEs can be trusted. The exact posterior has no Monte Carlo error; its verdict uses a Bonferroni "
        f"threshold over all compared rows. Numbers are shown to {SIGNIFICANT} significant digits; the "
        "linked CSVs hold full precision.</p>",
        "<h2 id=\"what-was-run\">What was run</h2>", study_html,
        "<h2 id=\"headline\">Headline results</h2>",
        *(_model_section(results, m, headline) for m in models),
        "<h2 id=\"failed\">Failed runs</h2>", _failed_section(results),
        "<h2 id=\"study-reports\">Study and comparison notebooks</h2>", _other_reports(results),
        "<h2 id=\"runs\">Runs</h2>", _runs_section(results),
        "<h2 id=\"tables\">All study tables</h2>", _data_files(results),
    ]
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>partclust study report</title>\n<link rel=\"icon\" href=\"data:,\">\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
    out.write_text(page, encoding="utf-8")
    return out
