"""Reporting layer: executed notebooks as offline HTML pages, the index page, and the figures.

``render`` (nbconvert, offline template in ``templates/``) · ``index`` (the landing page) · ``format``
(numbers as printed) · ``plots/`` (figures for the notebooks).
"""

from partclust.reporting.format import SIGNIFICANT, fmt_number
from partclust.reporting.render import executed_notebooks, render_all, render_html, render_notebooks, report_path

__all__ = ["SIGNIFICANT", "executed_notebooks", "fmt_number", "render_all", "render_html", "render_notebooks",
           "report_path", "write_index"]


def __getattr__(name: str):
    if name == "write_index":
        from partclust.reporting.index import write_index

        return write_index
    raise AttributeError(f"module 'partclust.reporting' has no attribute {name!r}")
