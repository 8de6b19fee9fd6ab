"""``partclust translate``: the SAS ↔ PyMC table, the family, the steps of a file, refusals as one line (exit 2)."""

from __future__ import annotations

import pytest
from helpers_translate import PROGRAM_A, trial_table

from partclust.layout import REPO_ROOT
from partclust.runner.cli import main

SAS_PROGRAM = REPO_ROOT / "sas_reference" / "partially_clustered.sas"


def test_the_project_program_lists_its_steps_without_step(capsys):
    assert main(["translate", str(SAS_PROGRAM)]) == 2
    err = capsys.readouterr().err
    assert "has 2 PROC MCMC steps; choose one with --step K" in err
    assert "step 2 (line 98, in %partclust(model=per_condition) at line 172)" in err


def test_the_table_and_the_family_of_a_step(run1_path, capsys):
    assert main(["translate", str(SAS_PROGRAM), "--step", "2", "--data", str(run1_path),
                 "--parameterization", "sas_singletons"]) == 0
    out = capsys.readouterr().out
    assert "line  121  SAS   prior b0 b1 ~ normal(0, var=10000);" in out
    assert "pm.Normal('b0', mu=0, sigma=100)" in out
    assert "one effect u[<j>] per value of j: 110 values, 10 touched by the data" in out
    assert "u = pm.Normal('u', mu=0, sigma=pt.sqrt(s2u), dims='j_sas')" in out
    assert "s2 = pt.switch(treat == 1, s2e_treated, s2e_control)" in out
    assert "model family: y ~ treat + (0 + treat | j); residual variance by treat: 0→s2e_control, 1→s2e_treated" in out


def test_without_fitting_data_the_family_is_not_checked(tmp_path, capsys):
    program = tmp_path / "a.sas"
    program.write_text(PROGRAM_A)
    other = tmp_path / "other.csv"
    other.write_text("x,z\n1,2\n3,4\n")
    assert main(["translate", str(program), "--data", str(other)]) == 2
    assert "the MODEL's outcome y is not a column of" in capsys.readouterr().err
    data = tmp_path / "trial.csv"
    trial_table().to_csv(data, index=False)
    assert main(["translate", str(program), "--data", str(data)]) == 0
    assert "model family: y ~ tx + pre + (0 + tx | coach)" in capsys.readouterr().out


@pytest.mark.parametrize("statement,words", [
    ("array b[2] b1 b2;", "line 10: ARRAY statements (arrays of parameters or constants) are not supported by the translator: array b[2] b1 b2;"),
    ("random v ~ mvn(m, c) subject=coach;", "line 10: the distribution mvn() in RANDOM is not supported"),
    ("begincnst;", "line 10: BEGINCNST/ENDCNST blocks are not supported"),
    ("preddist outpred=p;", "line 10: PREDDIST statements are not supported"),
])
def test_refused_constructs_exit_2_with_one_line_naming_the_line(tmp_path, capsys, statement, words):
    lines = PROGRAM_A.splitlines()
    lines.insert(9, "   " + statement)
    program = tmp_path / "p.sas"
    program.write_text("\n".join(lines) + "\n")
    assert main(["translate", str(program)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("partclust translate: error: ")
    assert words in err and str(program) in err
