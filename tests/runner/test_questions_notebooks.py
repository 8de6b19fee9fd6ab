"""Notebook 09 under papermill on the real partially nested trial (a formula model, both fits made in the notebook)."""

from __future__ import annotations

import json

import pytest

from partclust.layout import REPO_ROOT
from partclust.reporting import notebook_findings

PND = REPO_ROOT.parent / "shared" / "external_data" / "pnd_heter_cluster_example.csv"
FORMULA = ("Posttest_Instructional_Support ~ Intervention_Assignment + X_pretest_instructional_support"
           " + (0 + Intervention_Assignment | Coach_ID)")


@pytest.mark.slow
def test_residual_model_notebook_on_the_real_trial(tmp_path):
    if not PND.is_file():
        pytest.skip(f"{PND} absent (third-party data, never committed; see ../shared/external_data/README.md)")
    from partclust.runner.notebooks import execute

    out = execute("09_residual_variances.ipynb", tmp_path / "09.ipynb",
                  {"data_path": str(PND), "formula": FORMULA, "residual_by": "Intervention_Assignment",
                   "results_dir": str(tmp_path), "draws": 400, "tune": 400, "chains": 2})
    found = notebook_findings(out)
    assert len(found) == 1 and "PSIS-LOO prefers" in found[0] and "REML LRT p" in found[0]
    folder = tmp_path / "model_choice"
    ratio = json.loads((folder / "variance_ratio.json").read_text())
    assert 0.0 <= ratio["p_greater"] <= 1.0 and ratio["draws"] == 800
    assert {"loo_compare.csv", "pareto_k_bad.csv", "model_shift.csv", "reml_lrt.csv", "conclusions.md"} <= {
        p.name for p in folder.iterdir()}
    shift = (folder / "model_shift.csv").read_text()
    assert "b[Intervention_Assignment]" in shift and "s2u" in shift
