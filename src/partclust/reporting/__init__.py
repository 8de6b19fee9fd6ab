"""Reporting layer: executed notebooks as offline HTML pages, the landing page's content, and the figures.

``render`` (nbconvert, offline template with folded code in ``templates/``) · ``summary`` (the study's
answer, its figures and its folded tables, for the summary notebook that becomes the landing page) ·
``sentences`` (that answer in words) ·
``analyses`` (every notebook of the registry with what it found) · ``tables`` (Monte Carlo error
tables) · ``records`` (what was run: settings, runs, failures, files) · ``findings`` (a notebook's
one-line finding, recorded in its executed copy) · ``format`` (numbers as printed) · ``plots/``.
"""

from partclust.reporting.findings import FINDING_KEY, notebook_findings, show_finding
from partclust.reporting.format import SIGNIFICANT, fmt_number, shown
from partclust.reporting.render import executed_notebooks, render_all, render_html, render_notebooks, report_path

__all__ = ["FINDING_KEY", "SIGNIFICANT", "executed_notebooks", "fmt_number", "notebook_findings", "render_all",
           "render_html", "render_notebooks", "report_path", "show_finding", "shown"]
