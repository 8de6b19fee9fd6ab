"""Executed notebooks as offline HTML pages (nbconvert's ``lab`` template with no CDN).

Every page under ``results/reports/`` opens from a plain file server or the file system with no
network: the template (``templates/offline.html.j2``) leaves empty the blocks that load require.js,
MathJax, Mermaid and the widget manager from CDNs (images are already inline as base64). The price of
no MathJax: LaTeX in markdown cells shows as its source. Code is folded away behind one "Show code"
switch (CSS only, no script); figures, tables and prose are always shown.

The executed summary notebook (``study/00_summary.ipynb``) becomes the landing page,
``reports/index.html``; every other notebook's page mirrors its path under ``reports/``.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any, Iterable

from partclust.config import NOTEBOOK_FILES
from partclust.errors import ReportError
from partclust.files import write_text

__all__ = ["REPORTS_DIR", "NOTEBOOK_DIRS", "TEMPLATES", "INDEX_HTML", "notebook_title", "read_notebook_json", "render_html",
           "executed_notebooks", "report_path", "render_all", "render_notebooks", "natural_key"]

REPORTS_DIR = "reports"
INDEX_HTML = "index.html"
NOTEBOOK_DIRS: tuple[str, ...] = ("runs", "study", "comparison")
TEMPLATES = Path(__file__).resolve().parent / "templates"
_TEMPLATE = TEMPLATES / "offline.html.j2"

# nbconvert warns on every plot without alt text (it adds a generic one); not actionable for a reader.
_NBCONVERT_LOG = logging.getLogger("partclust.reporting.nbconvert")
_NBCONVERT_LOG.setLevel(logging.ERROR)

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def natural_key(text: str) -> list[Any]:
    """Sort key putting ``seed-2`` before ``seed-10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def read_notebook_json(path: str | Path) -> dict:
    """Read a notebook file (nbformat 4) as plain JSON, for reading its cells and outputs only.

    ``nbformat.read`` validates against the notebook schema, and importing nbformat costs about 3 s
    (its ``jsonschema`` loads the optional ``rfc3987_syntax``, which builds a lark grammar at import);
    the summary notebook and the index read many notebooks that the project executed itself.

    Returns
    -------
    dict
        The notebook: ``cells`` (each with ``cell_type``, ``source``, and ``outputs`` for code cells),
        ``metadata``, ``nbformat``.

    Raises
    ------
    ReportError
        When the file cannot be read or is not an nbformat 4 notebook.
    """
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            nb = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read notebook {path}: {exc}. Rerun the stage that wrote it.") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise ReportError(f"cannot read notebook {path}: not an nbformat 4 notebook. Rerun the stage that wrote it.")
    return nb


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def notebook_title(nb: Any) -> str | None:
    """Return the text of the notebook's first markdown heading, without HTML tags, emphasis or code marks.

    ``nb`` is a notebook as ``nbformat.read`` or :func:`read_notebook_json` returns it.
    """
    for cell in nb["cells"]:
        if cell.get("cell_type") != "markdown":
            continue
        fenced = False
        for line in _source(cell).splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            m = None if fenced else _HEADING.match(line)
            if m:
                text = re.sub(r"<[^>]*>", "", m.group(1))
                text = re.sub(r"[`*]|(?<!\w)_|_(?!\w)", "", text).strip()
                if text:
                    return text
    return None


_EXPORTERS = threading.local()


def _exporter():
    """Return this thread's HTML exporter, made once: compiling its templates took half of a fit page's 0.55 s."""
    exporter = getattr(_EXPORTERS, "exporter", None)
    if exporter is None or exporter.raw_template != _TEMPLATE.read_text(encoding="utf-8"):
        exporter = _EXPORTERS.exporter = _new_exporter()
    return exporter


def _new_exporter():
    from partclust.config import import_nbformat

    import_nbformat()  # before nbconvert imports it: 3.7 s less
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True,
    )
    exporter.raw_template = _TEMPLATE.read_text(encoding="utf-8")
    exporter.log = _NBCONVERT_LOG
    return exporter


def _render(notebook: Path, html_path: Path, exporter: Any) -> Path:
    from partclust.config import import_nbformat

    nbformat = import_nbformat()
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for a bad file
        raise ReportError(
            f"cannot read notebook {notebook}: {exc}. Rerun the stage that wrote it or delete the file."
        ) from None
    nb.metadata["title"] = notebook_title(nb) or notebook.stem
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    return write_text(html_path, body)


def render_html(notebook: Path, html: Path) -> Path:
    """Render one executed notebook to a self-contained HTML page (code folded, no prompts, no CDN).

    Raises
    ------
    ReportError
        When the notebook cannot be read.
    WriteError
        When the page cannot be written.
    """
    return _render(Path(notebook), Path(html), _exporter())


def executed_notebooks(results: Path) -> list[Path]:
    """Every notebook under ``results/{runs,study,comparison}``, checkpoints excluded, in path order."""
    results = Path(results)
    found = []
    for top in NOTEBOOK_DIRS:
        base = results / top
        if base.is_dir():
            found += [p for p in base.rglob("*.ipynb")
                      if ".ipynb_checkpoints" not in p.parts and not p.name.startswith(".")]  # no temporaries
    return sorted(found, key=lambda p: natural_key(p.relative_to(results).as_posix()))


def report_path(results: Path, notebook: Path) -> Path:
    """Where a notebook's page goes: ``results/reports/<same relative path>.html``.

    The study's executed summary notebook, ``study/00_summary.ipynb``, is the landing page:
    ``results/reports/index.html``.
    """
    results = Path(results)
    rel = Path(notebook).relative_to(results)
    if rel == Path("study") / NOTEBOOK_FILES["summary"]:
        return results / REPORTS_DIR / INDEX_HTML
    return results / REPORTS_DIR / rel.with_suffix(".html")


def render_all(results: Path) -> list[Path]:
    """Render every executed notebook under ``results`` into ``results/reports/``; returns the pages.

    See :func:`render_notebooks` for the pages' paths and the errors raised.
    """
    return render_notebooks(Path(results), executed_notebooks(Path(results)))


def render_notebooks(results: Path, notebooks: Iterable[Path], only_stale: bool = False) -> list[Path]:
    """Render executed notebooks to offline HTML pages under ``results/reports/``.

    Parameters
    ----------
    results : path
        The results folder the notebooks lie under (pages mirror their relative paths).
    notebooks : iterable of path
        Executed notebooks under ``results``.
    only_stale : bool
        Skip a notebook whose page exists and is newer than it and than the template (a resumed study
        renders only what changed).

    Returns
    -------
    list of pathlib.Path
        One page per notebook, in the order given: ``results/reports/<relative path>.html`` (the
        summary notebook's is ``results/reports/index.html``), skipped pages included.

    Raises
    ------
    ReportError
        When a notebook cannot be read; the message names it.
    WriteError
        When a page cannot be written (read-only folder, disk full).
    ValueError
        When a notebook does not lie under ``results``.
    """
    results = Path(results)
    exporter = None  # built on first need: importing nbconvert's templates costs seconds
    template_mtime = _TEMPLATE.stat().st_mtime
    pages = []
    for nb in notebooks:
        page = report_path(results, nb)
        if (only_stale and page.is_file()
                and page.stat().st_mtime >= max(Path(nb).stat().st_mtime, template_mtime)):
            pages.append(page)
            continue
        exporter = exporter or _exporter()
        pages.append(_render(nb, page, exporter))
    return pages
