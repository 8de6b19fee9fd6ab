"""Which analysis notebooks a study runs and when: the other questions (08–10) with run1's models."""

from __future__ import annotations

import json

from partclust.config import NOTEBOOK_FILES
from partclust.layout import NOTEBOOKS
from partclust.runner.cli import build_parser, main
from partclust.runner.plan import analysis_jobs, job_inputs
from partclust.studies.seeds import StudySettings


def _roles(jobs):
    return [j.role for j in jobs]


def test_the_registry_names_notebooks_that_exist():
    for role in ("efficiency", "model_choice", "sensitivity"):
        assert (NOTEBOOKS / NOTEBOOK_FILES[role]).is_file(), role


def test_run1_study_runs_the_three_questions(tmp_path):
    study = StudySettings(seeds=(3, 4), out=str(tmp_path))
    jobs = {j.role: j for j in analysis_jobs(study, "data.csv")}
    assert {"efficiency", "sensitivity", "model_choice"} <= set(jobs)
    assert jobs["efficiency"].early and jobs["sensitivity"].early  # their own fits: with notebook 05
    choice = jobs["model_choice"]
    assert choice.model is None and choice.after == ("single", "per_condition") and not choice.early
    assert choice.parameters["seed"] == 3 and choice.parameters["results_dir"] == str(tmp_path)


def test_model_choice_is_keyed_on_both_models_runs(tmp_path):
    study = StudySettings(seeds=(1,), out=str(tmp_path))
    for model in ("single", "per_condition"):
        run = study.layout.run_dir(model, 1)
        run.mkdir(parents=True)
        for name in ("run.json", "summary.csv"):
            (run / name).write_text(json.dumps({"model": model}))
    job = next(j for j in analysis_jobs(study, "data.csv") if j.role == "model_choice")
    inputs = {(p.parent.parent.name, p.name) for p in job_inputs(job, study.layout)}
    assert {("single", "run.json"), ("per_condition", "summary.csv")} <= inputs


def test_left_out_without_the_long_notebooks_or_with_one_model(tmp_path):
    roles = _roles(analysis_jobs(StudySettings(out=str(tmp_path), why_notebook=False), "d.csv"))
    assert not {"why", "efficiency", "sensitivity", "model_choice"} & set(roles)
    roles = _roles(analysis_jobs(StudySettings(models=("single",), out=str(tmp_path)), "d.csv"))
    assert "model_choice" not in roles and "efficiency" in roles


def test_efficiency_command_refuses_bad_input_before_any_kernel(tmp_path, capsys):
    args = build_parser().parse_args(["efficiency", "--quick", "--out", str(tmp_path / "r")])
    assert args.quick and args.func.__name__ == "cmd_efficiency"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["efficiency", "--out", str(blocker)]) == 2
    assert main(["efficiency", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("partclust efficiency: error:") == 2 and "Traceback" not in err
    assert not (tmp_path / "r" / "efficiency").exists()


def test_aggregate_jobs_read_this_study_seeds_only_and_are_keyed_on_them(tmp_path):
    """Seed folders of an earlier study (here 2 and 3) are neither pooled nor in the cache key; the seed list is."""
    from partclust.runner.cache import inputs_key, inputs_manifest
    from partclust.runner.notebooks import notebook_path
    from partclust.runner.plan import summary_job

    def key(job, layout):
        return inputs_key(inputs_manifest(notebook_path(job.notebook), job.parameters, "sha",
                                          job_inputs(job, layout), layout.root))

    keys = {}
    for seeds in ((1, 2, 3), (1,)):
        study = StudySettings(models=("single",), seeds=seeds, out=str(tmp_path), why_notebook=False)
        for s in (1, 2, 3):
            run = study.layout.run_dir("single", s)
            run.mkdir(parents=True, exist_ok=True)
            for name in ("run.json", "summary.csv"):
                (run / name).write_text(json.dumps({"seed": s}))
        jobs = {j.role: j for j in analysis_jobs(study, "data.csv")}
        for role in ("compare", "monte_carlo"):
            assert jobs[role].parameters["seeds"] == list(seeds) and jobs[role].seeds == seeds
            runs = {p.parent.name for p in job_inputs(jobs[role], study.layout) if p.is_relative_to(tmp_path)}
            assert runs == {f"seed-{s}" for s in seeds}
        assert summary_job(study, "data.csv").parameters["seeds"] == list(seeds)
        keys[seeds] = key(jobs["monte_carlo"], study.layout)
    assert keys[(1, 2, 3)] != keys[(1,)]  # a changed seed list executes the aggregate again
