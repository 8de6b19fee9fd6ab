"""What the study executes besides the fits: every analysis notebook.

For each: its parameters, where its executed copy goes, when it can start and which files of earlier
stages it reads.

================  =======================================  ==============================================
notebook          executed copy                            starts when
================  =======================================  ==============================================
01 data           ``study/01_data.ipynb``                  the first model's fits are in (run1's models)
06 your trial     ``study/06_your_trial.ipynb``            the first model's fits are in (a formula)
07 translate      ``study/07_translate.ipynb``             the first model's fits are in (a PROC MCMC program)
05 why σ²_u       ``study/05_why_s2u_differed.ipynb``      at once, on a worker of its own (it fits its own
                                                           models for minutes)
08 efficiency     ``study/08_efficiency.ipynb``            at once, on that worker (run1's models or the program's;
                                                           its own fits)
10 prior sens.    ``study/10_prior_sensitivity.ipynb``     at once, on that worker (likewise)
09 residuals      ``study/09_residual_variances.ipynb``    both models' fits are in (reads their log-likelihood); a
                                                           program's: at once (it fits both structures itself)
03 compare        ``comparison/03_compare_<model>.ipynb``  that model's fits are in (run1's models)
04 Monte Carlo    ``study/04_monte_carlo_<model>.ipynb``   that model's fits are in
00 summary        ``study/00_summary.ipynb``               everything else is done (the landing page)
================  =======================================  ==============================================

Each is reused, not re-executed, while its inputs are unchanged (:mod:`partclust.runner.cache`); the
summary is always executed, since it reports this invocation's record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partclust.config import NOTEBOOK_FILES, RESIDUALS
from partclust.layout import SAS_OUTPUT, ResultsLayout
from partclust.studies.seeds import StudySettings

__all__ = ["NotebookJob", "analysis_jobs", "summary_job", "job_inputs"]


@dataclass(frozen=True)
class NotebookJob:
    """One execution of an analysis notebook.

    Attributes
    ----------
    role : str
        Key of :data:`~partclust.config.NOTEBOOK_FILES`.
    output : str
        Where the executed copy goes.
    parameters : dict
        Its papermill parameters.
    model : str or None
        A per-model job starts once that model's fits are in and reads its runs; None: the job
        reads no run.
    cached : bool
        Whether an executed copy with the same inputs is reused.
    early : bool
        Needs no fit and takes minutes: starts with the fits, on a worker of its own when there are
        two or more (otherwise it would start only after a model's fits and end last).
    after : tuple of str
        Models whose fits must all be in before the job starts (a job reading several models' runs);
        it reads their runs.
    seeds : tuple of int
        The seeds whose runs it reads (the study's seed list); empty: every seed folder.
    """

    role: str
    output: str
    parameters: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    cached: bool = True
    early: bool = False
    after: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()

    @property
    def notebook(self) -> str:
        """The notebook's file name in ``notebooks/``."""
        return NOTEBOOK_FILES[self.role]

    @property
    def name(self) -> str:
        """The executed copy's file name."""
        return Path(self.output).name


def analysis_jobs(study: StudySettings, data_path: str) -> list[NotebookJob]:
    """List the analysis notebooks of a study, in the order they may start (the summary excluded).

    A study of run1's built-in models runs 01, 05, 08 and 10 (the long ones, left out with ``--no-why``),
    09 once both models' fits are in, and, per model, 03 and 04; a study of a formula runs 06 (your trial),
    04 per model and, unless ``--no-why``, 08 and 10 on the formula's model, and 09 when it has ``residual_by``
    (the formula with one residual variance per level of that column against one for all rows); a study of a PROC MCMC program runs 07 (the translation), 04, and, unless ``--no-why``,
    08 and 10 on the program's model and 09 when it has another residual structure to compare with
    (:func:`~partclust.studies.programs.program_questions`; none of them outside the model family).
    """
    layout, root = study.layout, str(study.layout.root)
    jobs: list[NotebookJob] = []
    if study.sas_program:  # the program's own notebook: listing, SAS ↔ PyMC table, one fit, references
        jobs.append(NotebookJob("translate", str(layout.study_notebook(NOTEBOOK_FILES["translate"])),
                                {"sas_program": study.sas_program, "step": int(study.step), "data_path": data_path,
                                 "seed": study.seeds[0], "draws": study.draws, "tune": study.tune,
                                 "chains": study.chains, "cores": 2,
                                 "output_dir": str(layout.study / study.models[0] / "translate_fit")}))
        if study.why_notebook:  # the other questions, on the program's model: their own fits, minutes
            from partclust.studies.programs import program_questions

            given = {"data_path": data_path, "results_dir": root, "sas_program": study.sas_program,
                     "step": int(study.step)}
            jobs += _question_jobs(study, program_questions(study.sas_program, int(study.step), data_path), given)
    elif study.formula:  # the data notebook and notebook 05 are about run1's built-in models
        jobs.append(NotebookJob("your_trial", str(layout.study_notebook(NOTEBOOK_FILES["your_trial"])),
                                {"data_path": data_path, "formula": study.formula, "residual_by": study.residual_by,
                                 "priors": list(study.priors), "seeds": [study.seeds[0]], "draws": study.draws,
                                 "tune": study.tune, "chains": study.chains}))
        if study.why_notebook:  # the other questions, on the formula's model: their own fits, minutes
            spec = {"data_path": data_path, "results_dir": root, "formula": study.formula,
                    "residual_by": study.residual_by, "priors": list(study.priors)}
            # with residual_by: one residual variance per level of the column, or one for all rows
            roles = ["efficiency", "sensitivity"] + (["model_choice"] if study.residual_by else [])
            jobs += _question_jobs(study, roles, spec,
                                   {"residuals": ["single", "per_condition"] if study.residual_by else ["single"]})
    else:
        jobs.append(NotebookJob("data", str(layout.study_notebook(NOTEBOOK_FILES["data"])), {"data_path": data_path}))
        if study.why_notebook:
            jobs.append(NotebookJob("why", str(layout.study_notebook(NOTEBOOK_FILES["why"])),
                                    {"data_path": data_path, "results_dir": root, **study.why_parameters}, early=True))
            for role in ("efficiency", "sensitivity"):  # their own fits, minutes: with notebook 05
                jobs.append(NotebookJob(role, str(layout.study_notebook(NOTEBOOK_FILES[role])),
                                        {"data_path": data_path, "results_dir": root}, early=True))
            if set(RESIDUALS) <= set(study.models):  # both residual models' runs, compared by PSIS-LOO
                jobs.append(NotebookJob("model_choice", str(layout.study_notebook(NOTEBOOK_FILES["model_choice"])),
                                        {"data_path": data_path, "results_dir": root, "seed": int(study.seeds[0])},
                                        after=tuple(RESIDUALS), seeds=(int(study.seeds[0]),)))
    builtin = not (study.sas_program or study.formula)
    seeds = tuple(int(s) for s in study.seeds)  # this study's runs only: never seed folders of an earlier one
    for model in study.models:
        stem = {role: Path(NOTEBOOK_FILES[role]).stem for role in ("compare", "monte_carlo")}
        common = {"results_dir": root, "data_path": data_path, "sas_output_dir": "", "seeds": list(seeds)}
        if builtin:
            jobs.append(NotebookJob("compare", str(layout.comparison_notebook(f"{stem['compare']}_{model}.ipynb")),
                                    {"model": model, **common}, model, seeds=seeds))
        jobs.append(NotebookJob("monte_carlo", str(layout.study_notebook(f"{stem['monte_carlo']}_{model}.ipynb")),
                                {**study.notebook_spec_params(model), **common}, model, seeds=seeds))
    return jobs


def _question_jobs(study: StudySettings, roles: list[str], given: dict, efficiency: dict | None = None
                   ) -> list[NotebookJob]:
    """Jobs of notebooks 08–10 (``roles``) on a formula's or program's model: their own fits, started early.

    ``given`` says the model (and the data and results folder); 09 also gets the study's first seed and 08
    ``efficiency``'s extra parameters.
    """
    extra = {"model_choice": {"seed": int(study.seeds[0])}, "efficiency": dict(efficiency or {})}
    return [NotebookJob(role, str(study.layout.study_notebook(NOTEBOOK_FILES[role])), {**given, **extra.get(role, {})},
                        early=True) for role in roles]


def summary_job(study: StudySettings, data_path: str) -> NotebookJob:
    """Return the summary notebook's job: the study's answer, rendered as the landing page; always executed."""
    return NotebookJob("summary", str(study.layout.study_notebook(NOTEBOOK_FILES["summary"])),
                       {"results_dir": str(study.layout.root), "data_path": data_path, "models": list(study.models),
                        "seeds": [int(s) for s in study.seeds]}, cached=False)


def job_inputs(job: NotebookJob, layout: ResultsLayout) -> list[Path]:
    """Files of earlier stages a job reads (for its cache key).

    For a per-model job (or one that waits for several models) the ``run.json`` and ``summary.csv`` of
    each run of its seeds (a run folder is renamed into place only when complete, so its ``run.json``
    stands for its draws too) and any SAS output; and the PROC MCMC program of a job that reads one.
    """
    program = [Path(job.parameters["sas_program"])] if job.parameters.get("sas_program") else []
    models = [job.model] if job.model is not None else list(job.after)
    if not models:
        return program  # a program's bytes, not only its path, key the notebooks that translate it
    files = [d / name for m in models for d in layout.seed_runs(m, job.seeds) for name in ("run.json", "summary.csv")]
    if SAS_OUTPUT.is_dir():
        files += sorted(p for p in SAS_OUTPUT.rglob("*") if p.is_file())
    return files + program
