"""The design grid (TOML), the truth of a cell, and bias/RMSE/coverage against a hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from partclust.errors import SpecError
from partclust.studies.simulation import DEFAULT_GRID, Cell, coverage_table, read_grid, simulation_replicate


def test_default_grid_ships_and_reads():
    grid = read_grid(DEFAULT_GRID)
    assert len(grid.cells) == 24 and grid.models == ("single", "per_condition")
    assert len({c.name for c in grid.cells}) == 24


def test_cell_truth_follows_icc_and_ratio():
    c = Cell(0, 10, 5, icc=0.2, variance_ratio=2.0, controls=50, s2e_control=1.5)
    t = c.truth
    assert t["s2e_treated"] == pytest.approx(3.0)
    assert t["s2u"] / (t["s2u"] + t["s2e_treated"]) == pytest.approx(0.2)
    assert "s2e" not in t  # the single-residual model has no true s2e when the arms differ


def test_size_distribution_and_bad_grids(tmp_path):
    good = tmp_path / "g.toml"
    good.write_text('[design]\ntreated_clusters = [4]\ncluster_size = [[2, 6]]\nicc = [0.1]\n'
                    'variance_ratio = [1.0]\ncontrols = [10]\n[fit]\nmodels = ["single"]\ndraws = 200\n')
    grid = read_grid(good)
    assert grid.cells[0].cluster_size == (2, 6) and grid.cells[0].size_text == "2/6" and grid.draws == 200
    for text, match in [("[design]\nicc = [1.5]\n", "list|icc"), ("[design]\nclusters = [3]\n", "unknown"),
                        ("[design\n", "TOML")]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(SpecError, match=match):
            read_grid(bad)
    with pytest.raises(SpecError, match="no grid file"):
        read_grid(tmp_path / "missing.toml")


def test_coverage_table_by_hand():
    cell = Cell(3, 5, 5, 0.1, 1.0, 20)
    rows = pd.DataFrame({"cell": cell.name, "replicate": range(4), "model": "single", "parameter": "b1",
                         "truth": 0.5, "estimate": [0.4, 0.7, 0.5, 0.6], "lower": [0.0, 0.6, 0.1, 0.2],
                         "upper": [1.0, 0.9, 0.9, 0.45]})
    out = coverage_table(rows, [cell]).iloc[0]
    err = np.array([-0.1, 0.2, 0.0, 0.1])
    assert out["n"] == 4 and out["coverage"] == 0.5 and out["coverage_mcse"] == pytest.approx(0.25)
    assert out["bias"] == pytest.approx(0.05) and out["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)))
    assert out["bias_mcse"] == pytest.approx(err.std(ddof=1) / 2) and out["treated_clusters"] == 5


def test_exact_replicate_gives_rows_for_both_models():
    grid = read_grid(DEFAULT_GRID)
    res = simulation_replicate(grid.cells[0], grid, 0, seed=1, sampler="exact")
    rows = pd.DataFrame(res["rows"])
    assert set(rows["model"]) == {"single", "per_condition"}
    assert (rows["lower"] < rows["estimate"]).all() and (rows["estimate"] < rows["upper"]).all()
    again = pd.DataFrame(simulation_replicate(grid.cells[0], grid, 0, seed=1, sampler="exact")["rows"])
    pd.testing.assert_frame_equal(rows, again)  # a replicate is determined by (seed, cell, replicate)
