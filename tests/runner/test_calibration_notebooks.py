"""Notebooks 11 and 12 run under papermill with small parameters: the replicates run, the tables and figures show."""

from __future__ import annotations

import nbformat
import pytest

from partclust.runner.notebooks import execute

TINY_GRID = ('[design]\ntreated_clusters = [4]\ncluster_size = [3, [2, 5]]\nicc = [0.2]\nvariance_ratio = [2.0]\n'
             'controls = [10]\n')


def _markdown(nb):
    return "\n".join(o["data"]["text/markdown"] for c in nb.cells for o in c.get("outputs", [])
                     if "text/markdown" in o.get("data", {}))


def _images(nb):
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_sbc_notebook_runs_a_small_exact_sbc(tmp_path, run1_path):
    out = tmp_path / "sbc.ipynb"
    execute("11_sbc.ipynb", out, {"results_dir": str(tmp_path), "models": ["single"], "replicates": 6,
                                  "sampler": "exact", "workers": 1, "data_path": str(run1_path)})
    nb = nbformat.read(out, as_version=4)
    assert "single (6 replicates)" in _markdown(nb) and _images(nb) == 2
    assert (tmp_path / "sbc" / "ranks.csv").is_file()


@pytest.mark.slow
def test_design_notebook_runs_a_small_grid(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(TINY_GRID)
    out = tmp_path / "sim.ipynb"
    execute("12_design_simulation.ipynb", out, {"results_dir": str(tmp_path), "grid_file": str(grid),
                                                 "replicates": 3, "sampler": "exact", "workers": 1})
    nb = nbformat.read(out, as_version=4)
    assert "2 design cells (grid `grid.toml`) × 3 replicates" in _markdown(nb) and _images(nb) == 2
