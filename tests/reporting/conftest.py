"""The landing page built as a study builds it: the summary notebook executed on a made-up results tree,
every notebook rendered (shared by the page tests and the browser test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_report import FAILED, make_results

from partclust.config import NOTEBOOK_FILES


@pytest.fixture(scope="session")
def landing(tmp_path_factory, run1_path, run1_design) -> tuple[Path, list[Path], Path]:
    """(results folder, every rendered page, index.html): notebook 00 executed with papermill."""
    from partclust.layout import ResultsLayout
    from partclust.reporting.render import render_all
    from partclust.runner.notebooks import execute

    results = make_results(tmp_path_factory.mktemp("landing"), failed=FAILED, data_sha256=run1_design.sha256,
                           why_tables=True)
    layout = ResultsLayout(results)
    render_all(results)  # as in a study: every other page exists before the summary lists them
    execute(NOTEBOOK_FILES["summary"], layout.study_notebook(NOTEBOOK_FILES["summary"]),
            {"results_dir": str(results), "data_path": str(run1_path), "models": []})
    pages = render_all(results)
    assert layout.index in pages
    return results, pages, layout.index
