"""``partclust translate``: the SAS ↔ PyMC table, the family, the steps of a file, refusals as one line (exit 2)."""

from __future__ import annotations

import pytest
from helpers import EXTERNAL, need_external
from helpers_translate import HEIGHTS_PROGRAM, PROGRAM_A, trial_table

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


HEIGHTS = EXTERNAL / "sas_doc_heights.csv"
BEHRENS = EXTERNAL / "sas_doc_behrens.csv"



def test_exact_and_reml_of_a_program_in_its_names(tmp_path, capsys):
    need_external(HEIGHTS)
    program = tmp_path / "heights.sas"
    program.write_text(HEIGHTS_PROGRAM)
    out = tmp_path / "exact.csv"
    assert main(["exact", "--sas-program", str(program), "--data", str(HEIGHTS), "--out", str(out)]) == 0
    import pandas as pd

    table = pd.read_csv(out)
    assert list(table["param"]) == ["b0", "b1", "s2g", "s2", "gamma[1]", "gamma[2]", "gamma[3]", "gamma[4]"]
    assert "σ²_u (s2g) marginal mode" in capsys.readouterr().out
    assert main(["reml", "--sas-program", str(program), "--data", str(HEIGHTS)]) == 0
    assert "s2g" in capsys.readouterr().out


def test_exact_of_a_program_outside_the_family_says_why_in_one_line(tmp_path, capsys):
    need_external(HEIGHTS)
    program = tmp_path / "nonlinear.sas"
    program.write_text(HEIGHTS_PROGRAM.replace("mu = b0 + b1 * gf + gamma;", "mu = b0 * exp(b1 * gf) + gamma;"))
    assert main(["exact", "--sas-program", str(program), "--data", str(HEIGHTS), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "is not in the model family, so the exact posterior and REML do not apply" in err
    assert "exp() of a parameter (line 6)" in err
    assert main(["exact", "--sas-program", str(program), "--formula", "Height ~ gf", "--data", str(HEIGHTS),
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "--sas-program replaces --model, --formula" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_then_compare_a_program(tmp_path, capsys):
    """fit --sas-program runs the fit notebook on the translated program; compare finds the program in the run."""
    import json

    from helpers_translate import PROGRAM_C

    need_external(BEHRENS)
    program = tmp_path / "two.sas"
    program.write_text(PROGRAM_C.replace("grp", "ind"))
    out = tmp_path / "run"
    assert main(["fit", "--sas-program", str(program), "--data", str(BEHRENS), "--seed", "2", "--draws", "600",
                 "--tune", "400", "--no-plots", "--out", str(out)]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["settings"]["sas_program"] == str(program.resolve())
    assert record["sas_program"]["options"]["nmc"] == 20000 and record["sas_program"]["options"]["seed"] == 11
    assert record["model_spec"]["program_sha256"] == record["settings"]["program_sha256"]
    import pandas as pd

    assert list(pd.read_csv(out / "summary.csv")["param"]) == ["mu1", "mu2", "sig21", "sig22", "mudif"]
    capsys.readouterr()
    assert main(["compare", "--runs", str(out), "--out", str(tmp_path / "cmp.csv")]) == 0
    cmp = pd.read_csv(tmp_path / "cmp.csv")
    exact = cmp[cmp["reference"] == "exact"]
    assert set(exact["param"]) == {"mu1", "mu2", "sig21", "sig22", "mudif"}
    assert (exact[exact["param"] != "mudif"]["verdict"] != "not comparable").all()
    assert "real difference" not in set(exact["verdict"])


@pytest.mark.slow
def test_study_of_a_program(tmp_path):
    """study --sas-program: seeds through the fit notebook, the aggregate in the program's names, notebook 07."""
    need_external(HEIGHTS)
    program = tmp_path / "heights.sas"
    program.write_text(HEIGHTS_PROGRAM)
    out = tmp_path / "results"
    assert main(["study", "--sas-program", str(program), "--data", str(HEIGHTS), "--seed-list", "1", "2",
                 "--draws", "400", "--tune", "300", "--workers", "2", "--plots", "none", "--no-why", "--out", str(out)]) == 0
    import pandas as pd

    for seed in (1, 2):
        assert list(pd.read_csv(out / "runs" / "heights" / f"seed-{seed}" / "summary.csv")["param"])[:4] == \
            ["b0", "b1", "s2", "s2g"]
    mc = pd.read_csv(out / "study" / "heights" / "mc_error.csv")
    assert (out / "comparison" / "heights.csv").is_file()
    assert (out / "study" / "07_translate.ipynb").is_file()
    assert (out / "reports" / "study" / "07_translate.html").is_file()
    assert (out / "reports" / "study" / "04_monte_carlo_heights.html").is_file()
    assert "s2g" in set(mc["param"]) or mc.empty
