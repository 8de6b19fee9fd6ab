"""What an analysis notebook found, in one line, recorded in its executed copy for the landing page.

A notebook states its finding with :func:`show_finding`: the reader sees it as a paragraph, and the
output carries the same text in its metadata (key :data:`FINDING_KEY`), so that the landing page
can list every executed notebook with what it found (:func:`notebook_findings`) without knowing
anything about the notebook. A notebook added to :data:`~partclust.config.NOTEBOOK_FILES` that calls
``show_finding`` gets its line on the landing page with no other change.
"""

from __future__ import annotations

from pathlib import Path

from partclust.errors import ReportError

__all__ = ["FINDING_KEY", "show_finding", "notebook_findings"]

FINDING_KEY = "partclust_finding"
"""Key of the output metadata holding a finding's text (Markdown, one line)."""


def show_finding(text: str) -> None:
    """Display ``text`` as the notebook's finding and record it in the output's metadata.

    Parameters
    ----------
    text : str
        One line of Markdown built from the notebook's numbers, e.g. "σ²_u: 0.404 ± 0.001 over 20
        seeds, consistent with the exact posterior".

    Raises
    ------
    ReportError
        When ``text`` is empty or spans several lines (the landing page shows one line per finding).
    """
    from IPython.display import Markdown, display

    line = str(text).strip()
    if not line or "\n" in line:
        raise ReportError(f"a finding is one non-empty line of text; got {text!r}")
    display(Markdown(f"**Finding.** {line}"), metadata={FINDING_KEY: line})


def notebook_findings(notebook: str | Path) -> list[str]:
    """Read the findings recorded by :func:`show_finding` in an executed notebook, in cell order.

    Returns
    -------
    list of str
        Empty when the notebook recorded none.

    Raises
    ------
    ReportError
        When the file is not a readable notebook.
    """
    from partclust.reporting.render import read_notebook_json

    found = []
    for cell in read_notebook_json(notebook)["cells"]:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            text = output.get("metadata", {}).get(FINDING_KEY)
            if isinstance(text, str) and text:
                found.append(text)
    return found
