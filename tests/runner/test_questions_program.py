"""The other questions (08–10) on a PROC MCMC program: ``efficiency --sas-program`` and a program study's plan."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers_translate import PROGRAM_B, PROGRAM_D, intercept_table

from partclust.layout import REPO_ROOT
from partclust.runner.cli import main
from partclust.runner.plan import analysis_jobs, job_inputs
from partclust.studies.seeds import StudySettings

SAS_PROGRAM = (REPO_ROOT / "sas_reference" / "partially_clustered.sas").resolve()
QUESTIONS = ("efficiency", "sensitivity", "model_choice")


def test_a_program_study_asks_the_other_questions_of_its_model(run1_path, tmp_path):
    study = StudySettings(models=("partially_clustered-step1",), seeds=(2, 3), out=str(tmp_path),
                          sas_program=str(SAS_PROGRAM), step=1)
    jobs = {j.role: j for j in analysis_jobs(study, str(run1_path))}
    assert set(QUESTIONS) <= set(jobs) and not {"why", "data", "compare"} & set(jobs)
    for role in QUESTIONS:
        job = jobs[role]
        assert job.early and job.parameters["sas_program"] == str(SAS_PROGRAM) and job.parameters["step"] == 1
        assert SAS_PROGRAM in job_inputs(job, study.layout)  # its bytes key the reuse, not only its path
    assert jobs["model_choice"].parameters["seed"] == 2
    assert not set(QUESTIONS) & {j.role for j in analysis_jobs(replace(study, why_notebook=False), str(run1_path))}


def test_a_formula_study_asks_the_other_questions_of_its_model(run1_path, tmp_path):
    formula = "y ~ treat + (0 + treat | j)"
    study = StudySettings(models=("formula",), seeds=(4,), out=str(tmp_path), formula=formula, residual_by="treat",
                          priors=("s2u ~ igamma(1, scale=0.5)",))
    jobs = {j.role: j for j in analysis_jobs(study, str(run1_path))}
    assert set(QUESTIONS) <= set(jobs) and not {"why", "data", "compare"} & set(jobs)
    for role in QUESTIONS:
        p = jobs[role].parameters
        assert jobs[role].early and (p["formula"], p["residual_by"], p["priors"]) == (
            formula, "treat", ["s2u ~ igamma(1, scale=0.5)"])
    assert jobs["efficiency"].parameters["residuals"] == ["single", "per_condition"]
    assert jobs["model_choice"].parameters["seed"] == 4
    alone = {j.role: j for j in analysis_jobs(replace(study, residual_by=""), str(run1_path))}
    assert "model_choice" not in alone and alone["efficiency"].parameters["residuals"] == ["single"]
    assert not set(QUESTIONS) & {j.role for j in analysis_jobs(replace(study, why_notebook=False), str(run1_path))}


def _outside_family(tmp_path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    program, data = tmp_path / "nonlinear.sas", tmp_path / "d.csv"
    program.write_text(PROGRAM_D)
    pd.DataFrame({"pre": rng.normal(size=12), "y": rng.normal(size=12)}).to_csv(data, index=False)
    return program, data


def test_efficiency_refuses_a_program_outside_the_family_in_one_line(tmp_path, capsys):
    program, data = _outside_family(tmp_path)
    out = tmp_path / "r"
    assert main(["efficiency", "--sas-program", str(program), "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and err.startswith("partclust efficiency: error: ")
    assert "is not in the model family" in err and "not linear" in err
    assert not (out / "efficiency").exists() and not (out / "study").exists()


def test_efficiency_refuses_a_file_of_several_steps_without_step(run1_path, tmp_path, capsys):
    assert main(["efficiency", "--sas-program", str(SAS_PROGRAM), "--data", str(run1_path),
                 "--out", str(tmp_path / "r")]) == 2
    assert "has 2 PROC MCMC steps; choose one with --step K" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_efficiency_of_a_program(tmp_path, capsys):
    """A random-intercept program on a generated table: its model alone (no arm column), quick sizes; the printout
    says why it is alone and which set-ups were not tried, and a rerun reuses the notebook."""
    program, data = tmp_path / "heights.sas", tmp_path / "heights.csv"
    program.write_text(PROGRAM_B)
    intercept_table().to_csv(data, index=False)
    out = tmp_path / "r"
    argv = ["efficiency", "--quick", "--sas-program", str(program), "--data", str(data), "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "efficiency" / "efficiency.csv")
    assert set(table["residual"]) == {"single"} and len(table) == 5  # the exact sampler and 2 × 2 set-ups
    settings = json.loads((out / "efficiency" / "settings.json").read_text())
    assert settings["sas_program"] == str(program.resolve()) and settings["data_sha256"]
    assert "studied alone" in printed  # said before the run
    assert "not tried here" in printed and "NUTS (PyMC) · noncentered" in printed and "4 of the 9" in printed
    assert (out / "reports" / "study" / "08_efficiency.html").is_file()
    sidecar = json.loads((out / "study" / "08_efficiency.inputs.json").read_text())
    assert str(program.resolve()) in sidecar["inputs"]["input_files"]  # the program's content is in the reuse key
    assert main(argv) == 0 and "reused" in capsys.readouterr().out


def test_efficiency_help_names_only_options_it_has():
    """``efficiency`` has no --model/--formula/--prior, so its --sas-program help does not say it replaces them."""
    from partclust.runner.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices
    text = sub["efficiency"].format_help()
    assert "--sas-program" in text and "--formula" not in text and "--model" not in text
    assert "instead of --model" in sub["fit"].format_help()
