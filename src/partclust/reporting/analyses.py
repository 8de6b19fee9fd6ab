"""Every analysis notebook of the registry, with its executed copies in a study and what each found.

:data:`~partclust.config.NOTEBOOK_FILES` is the registry: each notebook is listed, with a link to each
executed copy's page and the line the copy recorded with :func:`~partclust.reporting.findings.show_finding`;
a notebook the study did not run is listed as such. A notebook added to the registry is listed with no
other change. Used by the summary notebook (the landing page).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from partclust.config import NO_WHY_ROLES, NOTEBOOK_FILES
from partclust.errors import ReportError
from partclust.layout import NOTEBOOKS, ResultsLayout
from partclust.reporting.findings import notebook_findings
from partclust.reporting.render import (executed_notebooks, natural_key, notebook_title, read_notebook_json,
                                        report_path)
from partclust.reporting.tables import href

__all__ = ["MAX_LISTED", "ExecutedCopy", "Analysis", "analyses", "analyses_markdown", "ran_without_why"]

MAX_LISTED = 6
"""Executed copies of one notebook listed one by one; beyond that, the first of each folder."""


@dataclass
class ExecutedCopy:
    """One executed copy of an analysis notebook: where it is, its page, what it found."""

    notebook: Path
    label: str
    page: Path | None
    findings: list[str]


@dataclass
class Analysis:
    """A notebook of the registry and its executed copies under a results folder."""

    role: str
    file: str
    title: str
    copies: list[ExecutedCopy]


def _title(file: str) -> str:
    path = NOTEBOOKS / file
    try:
        return notebook_title(read_notebook_json(path)) or Path(file).stem
    except ReportError:  # a notebook that cannot be read is still listed, by its file name
        return Path(file).stem


def _copy_label(results: Path, nb: Path, stem: str) -> str:
    rel = nb.relative_to(results)
    suffix = nb.stem[len(stem):].strip("_")
    return " ".join([*rel.parent.parts[1:], *([suffix] if suffix else [])])


def analyses(results: str | Path, registry: Mapping[str, str] | None = None,
             skip: Sequence[str] = ("summary",)) -> list[Analysis]:
    """List every notebook of a registry with its executed copies, their pages and recorded findings.

    Every notebook of ``registry`` (default :data:`~partclust.config.NOTEBOOK_FILES`) but ``skip``; its
    executed copies are found under ``results`` (``runs/``, ``study/``, ``comparison/``; a copy's file
    name starts with the notebook's stem).

    Raises
    ------
    ReportError
        When an executed copy cannot be read.
    """
    results = Path(results)
    registry = NOTEBOOK_FILES if registry is None else registry
    executed = executed_notebooks(results)
    out = []
    for role, file in registry.items():
        if role in skip:
            continue
        stem = Path(file).stem
        copies = []
        for nb in executed:
            if not nb.stem.startswith(stem):
                continue
            page = report_path(results, nb)
            copies.append(ExecutedCopy(nb, _copy_label(results, nb, stem), page if page.is_file() else None,
                                       notebook_findings(nb)))
        out.append(Analysis(role, file, _title(file), copies))
    return out


def _text(s: str) -> str:
    """Text from files (findings, titles, paths) for Markdown: HTML in it is shown, never interpreted."""
    return html.escape(str(s), quote=False)


def _copy_line(results: Path, c: ExecutedCopy, name: str) -> str:
    said = (" · ".join(_text(f) for f in c.findings) if c.findings
            else "ran; it records no one-line finding, see its page")
    link = f"[{name}]({href(results, c.page)})" if c.page is not None else f"{name} (page not rendered)"
    return f"{link} — {said}"


def ran_without_why(results: str | Path) -> bool:
    """Whether the study record (``study/study.json``) says the study ran with ``--no-why``."""
    import json

    try:
        return json.loads(ResultsLayout(Path(results)).study_record.read_text())["settings"]["why_notebook"] is False
    except (OSError, ValueError, KeyError, TypeError):
        return False


def analyses_markdown(results: str | Path, registry: Mapping[str, str] | None = None) -> str:
    """Write the landing page's list of analyses: a link per executed copy with what it found (Markdown)."""
    results = Path(results)
    lines = []
    left_out = {NOTEBOOK_FILES[r] for r in NO_WHY_ROLES} if ran_without_why(results) else set()
    for a in analyses(results, registry):
        title = _text(a.title)
        if not a.copies:
            if a.file in left_out:
                run = (f"`partclust why --out {results}` runs it on these results" if a.file == NOTEBOOK_FILES["why"]
                       else "a study without `--no-why` runs it")
                lines.append(f"- **{title}** — left out: this study ran with `--no-why` (the notebook fits models "
                             f"of its own, minutes); {run}.")
                continue
            lines.append(f"- **{title}** — not run by this study; open `notebooks/{a.file}` in JupyterLab "
                         f"(`make lab`).")
            continue
        if len(a.copies) == 1:
            lines.append("- " + _copy_line(results, a.copies[0], f"**{title}**"))
            continue
        shown = a.copies
        if len(a.copies) > MAX_LISTED:  # many runs: the first of each folder (e.g. each model's first seed)
            firsts: dict[Path, ExecutedCopy] = {}
            for c in sorted(a.copies, key=lambda c: natural_key(c.notebook.as_posix())):
                firsts.setdefault(c.notebook.parent.parent, c)
            shown = list(firsts.values())
        lines.append(f"- **{title}** — {len(a.copies)} executed cop{'y' if len(a.copies) == 1 else 'ies'}"
                     + ("" if shown is a.copies else f", the first of each of {len(shown)} folders shown") + ":")
        lines += ["    - " + _copy_line(results, c, _text(c.label or c.notebook.stem)) for c in shown]
        if shown is not a.copies:
            lines.append(f"    - and {len(a.copies) - len(shown)} more, each linked in the runs table below.")
    return "\n".join(lines)
