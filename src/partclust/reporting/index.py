"""The report's index page over a study: what was run, headline tables, failed runs, every page and table.

Every number on the index is read from the study's CSVs and printed to :data:`~partclust.reporting.format.SIGNIFICANT`
significant digits, so the page and the files cannot disagree. Layout read (every part optional: a missing
part is said to be missing on the page; a part that is present but unreadable raises
:class:`~partclust.errors.ReportError` naming the file)::

    runs/<model>/seed-<k>/   02_fit.ipynb, run.json, summary.csv, posterior.nc
    study/                   study.json, failed.json, <model>/mc_error.csv, *.ipynb
    comparison/              <model>.csv, *.ipynb

Length: 430-odd lines, kept whole on purpose: this hand-written page builder is to be replaced by a landing
page rendered from an executed summary notebook (issue 12), so splitting its sections now would be wasted work.
"""

from __future__ import annotations

import html as html_lib
import json
import numbers
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import pandas as pd

from partclust.config import RESIDUALS
from partclust.errors import ReportError
from partclust.files import write_text
from partclust.reporting.format import SIGNIFICANT, fmt_number
from partclust.reporting.render import REPORTS_DIR, TEMPLATES, natural_key

__all__ = ["HEADLINE_COLUMNS", "headline_table", "verdict_counts", "first_param_first", "write_index"]

HEADLINE_FIRST = "s2u"  # the parameter the study is about leads every headline table
EXACT_REFERENCE = "exact"

HEADLINE_MC_COLUMNS: tuple[str, ...] = (
    "n_seeds", "mean_of_means", "sd_of_means", "rms_mcse", "calibration_ratio", "ratio_lo", "ratio_hi",
)
HEADLINE_COLUMNS: tuple[str, ...] = ("param", *HEADLINE_MC_COLUMNS, "exact_mean", "z_exact", "verdict_exact")
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
    table = mc.reindex(columns=["param", *HEADLINE_MC_COLUMNS])
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



def _e(value: Any) -> str:
    return html_lib.escape(str(value), quote=True)


def _href(results: Path, path: Path) -> str:
    """Return the link from ``results/reports/index.html`` to ``path``, URL-quoted and attribute-escaped."""
    rel = Path(path).relative_to(results).as_posix()
    if rel.startswith(REPORTS_DIR + "/"):
        target = rel[len(REPORTS_DIR) + 1:]
    else:
        target = "../" + rel
    return _e(quote(target))


def _link(results: Path, path: Path, text: str | None = None) -> str:
    label = text if text is not None else Path(path).relative_to(results).as_posix()
    return f'<a href="{_href(results, path)}">{_e(label)}</a>'


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
    """Render a headline-style table: ``param`` rows labelled, numbers right-aligned, CI columns merged."""
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
    models += list(RESIDUALS)  # a model of the study that was not run is said to be not run
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
    for d in sorted(dirs, key=lambda p: natural_key(p.relative_to(results).as_posix())):
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
        key=lambda p: natural_key(p.as_posix()),
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
    files.sort(key=lambda p: natural_key(p.relative_to(results).as_posix()))
    return "<ul>" + "".join(f"<li>{_link(results, p)}</li>" for p in files) + "</ul>"


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
        f"<style>{(TEMPLATES / 'index.css').read_text(encoding='utf-8')}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
    return write_text(out, page)
