"""The landing page's Monte Carlo error tables, and the HTML helpers of its folded section.

Each ``*_html`` function returns an HTML fragment for the executed summary notebook to display (the
page is ``results/reports/index.html``, so every link is relative to ``results/reports/``). Every number
is read from the study's CSVs and printed to :data:`~partclust.reporting.format.SIGNIFICANT`
significant digits, so the page and the files cannot disagree. What was run (settings, runs, failures,
files) is :mod:`partclust.reporting.records`. Layout read (every part optional: a missing part is said
to be missing on the page; a part that is present but unreadable raises
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
from partclust.reporting.format import SIGNIFICANT, fmt_number
from partclust.reporting.render import REPORTS_DIR

__all__ = ["HEADLINE_COLUMNS", "headline_table", "verdict_counts", "first_param_first", "read_study_record", "href",
           "link", "escape", "fold", "headline_html", "COLUMN_LABELS"]

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
    "ratio_lo": "ratio CI, low", "ratio_hi": "ratio CI, high", "ratio_consistent_with_1": "CI contains 1",
    "se_pooled": "pooled SE", "z_mean": "mean z", "z_sd": "SD of z", "reference_value": "reference value",
    "fit_value": "this fit", "se": "SE of the difference", "z_crit": "threshold (±z)",
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


def href(results: Path, path: Path) -> str:
    """Return the relative link from ``results/reports/index.html`` to ``path`` (URL-quoted, not HTML-escaped)."""
    rel = Path(path).relative_to(results).as_posix()
    if rel.startswith(REPORTS_DIR + "/"):
        target = rel[len(REPORTS_DIR) + 1:]
    else:
        target = "../" + rel
    return quote(target)


def _href(results: Path, path: Path) -> str:
    return _e(href(results, path))


def escape(value: Any) -> str:
    """``value`` as text for HTML (quotes escaped too)."""
    return _e(value)


def link(results: Path, path: Path, text: str | None = None) -> str:
    """Return an ``<a>`` from the landing page to ``path``, labelled ``text`` (default: the path under results)."""
    return _link(results, path, text)


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


def read_study_record(results: Path) -> dict:
    """``study/study.json`` as a dict ({} when absent).

    Raises
    ------
    ReportError
        When the file is present but not a JSON object.
    """
    path = Path(results) / "study" / "study.json"
    if not path.is_file():
        return {}
    try:
        study = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read {path}: {exc}. Rerun the study to rewrite it.") from None
    if not isinstance(study, dict):
        raise ReportError(f"{path} is not a JSON object; rerun the study to rewrite it.")
    return study


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
            models += sorted(p.name for p in d.iterdir() if p.is_dir() and p.name != "interactive")
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


def fold(title: str, body_html: str, open_: bool = False) -> str:
    """``body_html`` inside a ``<details>`` element titled ``title`` (escaped), closed unless ``open_``."""
    return (f'<details class="pc-fold"{" open" if open_ else ""}><summary>{_e(title)}</summary>\n'
            f"{body_html}\n</details>")


def headline_html(results: Path, models: Iterable[str] | None = None) -> str:
    """Per model: the Monte Carlo error table with the verdict against the exact posterior.

    Also the model's files and its verdict counts per reference; a model that was not run is said to be
    not run.
    """
    results = Path(results)
    listed = list(models) if models is not None else _models(results, read_study_record(results), None)
    intro = (
        "<p>The <em>calibration ratio</em> is the SD of the posterior means across seeds divided by the "
        "root-mean-square of their MCSEs: near 1 the reported MCSEs can be trusted. The exact posterior has no "
        "Monte Carlo error; its verdict uses a Bonferroni threshold over all compared rows. Numbers are shown "
        f"to {SIGNIFICANT} significant digits; the linked CSVs hold full precision.</p>"
    )
    return intro + "\n".join(_model_section(results, m, None) for m in listed)
