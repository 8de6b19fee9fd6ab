"""What the study ran, for the landing page's folded section: settings, failed runs, every run, every file.

Each ``*_html`` function returns an HTML fragment (links relative to ``results/reports/index.html``);
text from the files is escaped. A missing part is said to be missing; a part that is present but
unreadable raises :class:`~partclust.errors.ReportError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from partclust.errors import ReportError
from partclust.reporting.render import REPORTS_DIR, natural_key
from partclust.reporting.tables import escape as _e
from partclust.reporting.tables import link as _link

__all__ = ["study_record_html", "failed_html", "runs_html", "files_html", "count_runs", "count_failed",
           "prebuilt_text"]


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for k, v in value.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    return [(prefix, value)]


LABELS: dict[str, str] = {
    "settings.models": "models (--models)", "settings.seeds": "seeds (--seeds, --seed-list)",
    "settings.draws": "draws kept per chain (--draws)", "settings.tune": "tuning steps per chain (--tune)",
    "settings.chains": "chains (--chains)", "settings.data_path": "data (--data)", "settings.out": "results (--out)",
    "settings.workers": "workers (--workers)", "settings.scheduler": "Dask scheduler (--scheduler)",
    "settings.timeout_s": "seconds a cell may run (--timeout)",
    "settings.why_notebook": "notebooks 05, 08–10 (--why / --no-why)",
    "settings.why_parameters": "notebook 05's parameters", "settings.plots": "trace and rank plots (--plots)",
    "settings.fit_notebook": "fit notebook", "settings.formula": "formula (--formula)",
    "settings.residual_by": "residual variance by (--residual-by)", "settings.priors": "priors (--prior)",
    "settings.sas_program": "PROC MCMC program (--sas-program)", "settings.step": "program step (--step)",
    "data.path": "file", "data.sha256": "SHA-256 of the file's bytes",
    "data.content_sha256": "SHA-256 of the validated table", "data.encoding": "encoding",
    "date": "record written", "started": "this invocation started", "complete": "final record (study ended)",
    "wall_s": "wall time of this invocation", "local_workers": "local worker processes",
    "runs_fitted": "runs fitted", "runs_reused": "runs reused (already complete)",
    "stages_s.workers_wait_s": "waiting for the workers to start", "stages_s.fits_s": "every fit in, after",
    "stages_s.fits_and_post_s": "fits and analysis notebooks done, after",
    "stages_s.summary_s": "the landing page took",
    "stages_s.render_remaining_s": "the last run pages took then",
}
"""A readable label for each key of ``study.json`` the settings table shows (the key itself is the row's title);
a key not listed is shown as it is."""
EMPTY_GROUPS: dict[str, str] = {
    "prebuilt": "nothing: every model's runs were already complete, so no model was compiled ahead",
    "earlier_invocations": "none: this is the first study into this folder",
    "stages_s": "none recorded",
}
"""What an empty group of ``study.json`` means, said in its table instead of an empty caption."""
CAPTIONS: dict[str, str] = {
    "Run": "This invocation", "settings": "Settings", "data": "Data", "versions": "Versions",
    "earlier_invocations": "Earlier invocations into this folder",
    "stages_s": "Where the time went (seconds; 'after': since the driver started)", "prebuilt": "Models compiled ahead",
}
"""The caption of each group of ``study.json`` in the settings table (a group not listed keeps its key)."""


def prebuilt_text(record: Any) -> str:
    """Say in words how one model was compiled ahead, from :func:`partclust.inference.prebuild.ensure_entry`'s record.

    E.g. "compiled in 34.2 s", "copied from results/cache/compiled in 1.6 s (not compiled again)".
    """
    if not isinstance(record, dict):
        return str(record)
    source, seconds = record.get("source", ""), record.get("seconds")
    took = f" in {float(seconds):.1f} s" if isinstance(seconds, (int, float)) else ""
    words = {"built": f"compiled{took}", "present": "already in the cache",
             "copied": f"copied from {record.get('copied_from', 'the default cache')}{took} (not compiled again)",
             "failed": f"could not be compiled ahead ({record.get('error', '')}); its fits compiled it",
             "unkeyed": "not cached (nutpie compiled it in each fit)", "not-nutpie": "nothing to compile (not nutpie)"}
    return words.get(source, str(source))


def _label(key: str, group: str = "") -> str:
    if key.startswith("earlier_invocations."):
        return f"earlier invocation, ended {key.split('.', 1)[1]}"
    return LABELS.get(key, key.removeprefix(group))  # a key not listed: as in the file, below its group's caption


def _show_value(key: str, value: Any, record: dict | None = None) -> str:
    if value == [] and key == "failed":
        return "none"
    if value in ("", []) or (key == "settings.step" and not (record or {}).get("settings", {}).get("sas_program")):
        return "—"  # an option not given (a program's step without a program)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "started" and isinstance(value, str) and " pid " in value:  # "2026-11-30T22:40:04+0000 pid 20153"
        when, pid = value.split(" pid ", 1)
        return f"{when.replace('T', ' ')} (process {pid})"
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return f"{len(value)} record(s), listed in the file"  # runs and failures have tables of their own
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if key.rsplit(".", 1)[-1] == "workers" and value == 0:
        return "0 (one per core)"
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
    scalars = {k: v for k, v in study.items() if not isinstance(v, dict) and k != "complete"}  # said below the tables
    groups = {k: v for k, v in study.items() if isinstance(v, dict)}
    if isinstance(groups.get("prebuilt"), dict):
        groups["prebuilt"] = {m: prebuilt_text(r) for m, r in groups["prebuilt"].items()}
    order = sorted(groups, key=lambda k: (k != "settings", k == "versions"))
    parts = []
    sections = ([("Run", scalars)] if scalars else []) + [(k, groups[k]) for k in order]
    for title, content in sections:
        prefix = "" if title == "Run" else f"{title}."
        rows = "".join(
            f'<tr><th scope="row" title="{_e(prefix + k)}">{_e(_label(prefix + k, prefix))}</th>'
            f'<td>{_e(_show_value(prefix + k, v, study))}</td></tr>'
            for k, v in _flatten(content)
        ) or f'<tr><td colspan="2">{_e(EMPTY_GROUPS.get(title, "empty"))}</td></tr>'
        parts.append(f'<table class="kv"><caption>{_e(CAPTIONS.get(title, title))}</caption><tbody>{rows}</tbody>'
                     '</table>')
    if study.get("complete") is False:  # written for this page, before the study ended
        parts.append("<p>Written when this page was built, before the study ended: its wall time and notebooks stop "
                     f"there, and the landing page is not among them; {_link(results, path)} now holds the final "
                     "record.</p>")
    parts.append(f"<p>Record: {_link(results, path)}</p>")
    return '<div class="kvs">' + "\n".join(parts) + "</div>", study


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


def _data_files(results: Path) -> str:
    files = []
    for top in ("study", "comparison", "why", "references"):
        d = results / top
        if d.is_dir():
            files += [p for p in d.rglob("*") if p.is_file() and p.suffix in (".csv", ".json")]
    if not files:
        return ('<p class="missing">no tables under <code>study/</code>, <code>comparison/</code>, '
                '<code>why/</code> or <code>references/</code>.</p>')
    files.sort(key=lambda p: natural_key(p.relative_to(results).as_posix()))
    return "<ul>" + "".join(f"<li>{_link(results, p)}</li>" for p in files) + "</ul>"


def study_record_html(results: Path) -> str:
    """Show what was run: settings, versions, data checksum, date and stage times from ``study/study.json``."""
    return _study_section(Path(results))[0]


def failed_html(results: Path) -> str:
    """List the failed runs of ``study/failed.json`` with their errors and executed notebooks."""
    return _failed_section(Path(results))


def runs_html(results: Path) -> str:
    """Every run folder with its page, its files and its convergence-gate verdict."""
    return _runs_section(Path(results))


def files_html(results: Path) -> str:
    """Every table and record under ``study/``, ``comparison/``, ``why/`` and ``references/``."""
    return _data_files(Path(results))


def count_failed(results: Path) -> int:
    """How many failed runs ``study/failed.json`` lists (0 when absent or unreadable)."""
    try:
        failed = json.loads((results / "study" / "failed.json").read_text())
    except (OSError, ValueError):
        return 0
    return len(failed) if isinstance(failed, list) else 0


def count_runs(results: Path) -> int:
    """How many run folders (with a ``run.json``) are under ``runs/``."""
    runs = results / "runs"
    if not runs.is_dir():
        return 0
    return sum(1 for p in runs.rglob("run.json") if ".ipynb_checkpoints" not in p.parts)
