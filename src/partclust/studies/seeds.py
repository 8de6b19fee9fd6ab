"""The multi-seed study: its definition (models × seeds × sampler sizes) and its per-model aggregate.

Running it (on Dask, one papermill execution of the fit notebook per run) is the runner's job
(:mod:`partclust.runner.dask`); this module says *what* is run and turns a model's finished runs into
the Monte Carlo error table, per-seed z values and the pooled comparison with every reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from partclust.config import MAX_SEEDS, MAX_WORKERS, NOTEBOOK_FILES, RESIDUALS
from partclust.errors import StudyError
from partclust.files import write_csv
from partclust.studies.gates import gate_sentence, run_records
from partclust.inference.settings import FitSettings
from partclust.layout import RESULTS, ResultsLayout
from partclust.validate import check_int, check_output_dir, check_gate_chains, check_positive, check_scheduler_address

__all__ = ["StudySettings", "ModelAggregate", "aggregate_model", "s2u_headline", "MAX_SEEDS", "MAX_WORKERS",
           "s2u_numbers"]



@dataclass(frozen=True)
class StudySettings:
    """What a multi-seed study runs and where.

    Parameters
    ----------
    models : tuple of str
        Residual structures (default both).
    seeds : tuple of int
        One run per model and seed.
    draws, tune, chains : int
        Sampler sizes of every run.
    data_path : str
        The dataset (validated before the study starts).
    out : str
        The results folder (:class:`~partclust.layout.ResultsLayout`).
    workers : int
        Local worker processes (0: one per core).
    scheduler : str
        Address of an existing Dask scheduler (``tcp://host:port``); empty for a local cluster.
    timeout_s : float
        Seconds a notebook cell may run.
    why_notebook : bool
        Run the notebooks that fit their own models too, 05, 08 and 10, and 09 (the default; minutes the
        first time, then reused while their inputs are unchanged).
    why_parameters : dict
        Parameters of notebook 05 other than its defaults (e.g. ``{"seeds": [1]}`` for a quicker look).
    plots : {"first", "all", "none"}
        Trace and rank plots in the first seed's notebook of each model, in all, or in none.
    fit_notebook : str
        The notebook each run executes (a name in ``notebooks/`` or a path); it must take the fit
        notebook's parameters and write a run folder.
    formula, residual_by : str
        A model of the family to run instead of the built-in models (``models`` is then ``("formula",)``).
    priors : tuple of str
        Priors in PROC MCMC syntax (``"s2u ~ igamma(0.01, scale=0.01)"``) for every model run.
    sas_program : str
        A PROC MCMC program to translate and run instead (``models`` is then its model's one name).
    step : int
        Which PROC MCMC step of ``sas_program`` (0: its only one).

    Raises
    ------
    StudyError
        For an unknown model, no or repeated seeds, a bad ``plots`` value, or run settings a fit
        would refuse.
    """

    models: tuple[str, ...] = RESIDUALS
    seeds: tuple[int, ...] = tuple(range(1, 21))
    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    data_path: str = ""
    out: str = str(RESULTS)
    workers: int = 0
    scheduler: str = ""
    timeout_s: float = 900.0
    why_notebook: bool = True
    why_parameters: dict[str, Any] = field(default_factory=dict)
    plots: str = "first"
    fit_notebook: str = NOTEBOOK_FILES["fit"]
    formula: str = ""
    residual_by: str = ""
    priors: tuple[str, ...] = ()
    sas_program: str = ""
    step: int = 0

    def __post_init__(self) -> None:
        """Refuse a study that cannot start (see Raises), before any run is scheduled."""
        object.__setattr__(self, "priors", tuple(self.priors))
        if self.sas_program:
            if len(self.models) != 1 or self.formula or self.priors or self.residual_by:
                raise StudyError("a study of a PROC MCMC program runs that program's one model, without a formula "
                                 "or priors of its own")
        elif self.formula:
            if len(self.models) != 1 or self.models[0] in RESIDUALS:
                raise StudyError("a study of a formula model runs that one model: models=('formula',)")
        else:
            bad = [m for m in self.models if m not in RESIDUALS]
            if bad:
                raise StudyError(f"unknown model(s) {bad}; choose from {', '.join(RESIDUALS)}")
        if not self.seeds:
            raise StudyError("no seeds to run")
        if len(self.seeds) > MAX_SEEDS:
            raise StudyError(f"{len(self.seeds):,} seeds asked for; a study runs at most {MAX_SEEDS:,} per model")
        check_int("workers (--workers)", self.workers, 0, MAX_WORKERS, StudyError)
        check_gate_chains(self.chains, StudyError)
        check_positive("timeout (--timeout)", self.timeout_s, StudyError)
        if self.scheduler:
            check_scheduler_address(self.scheduler, StudyError)
        check_output_dir("the results folder", self.out, StudyError)
        if self.plots not in ("first", "all", "none"):
            raise StudyError(f"plots (--plots) must be first, all or none; got {self.plots!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise StudyError("the seed list has repeats")
        for m in self.models:
            for s in self.seeds:
                self.fit_settings(m, s)  # validates draws, tune, chains, seeds

    def spec(self, model: str) -> Any:
        """Return the :class:`~partclust.models.ModelSpec` of one of the study's models.

        Raises
        ------
        SpecError
            For a malformed formula or prior.
        """
        from partclust.translate import model_spec

        if self.formula:
            return model_spec(None, self.formula, self.residual_by, self.priors, name=model)
        return model_spec(model, None, None, self.priors)

    def notebook_spec_params(self, model: str) -> dict[str, Any]:
        """Return the specification parameters of the fit and aggregate notebooks for ``model``."""
        if self.sas_program:
            return {"model": "", "formula": "", "residual_by": "", "priors": [], "model_name": model,
                    "sas_program": self.sas_program, "step": int(self.step)}
        return {"model": "" if self.formula else model, "formula": self.formula, "residual_by": self.residual_by,
                "priors": list(self.priors), "model_name": model}

    def fit_settings(self, model: str, seed: int) -> FitSettings:
        """Return the settings of one run (model × seed) of the study."""
        from partclust.translate import spec_key

        if self.sas_program:
            from partclust.data import sha256_of

            return FitSettings(model=model, seed=int(seed), draws=self.draws, tune=self.tune, chains=self.chains,
                               sas_program=self.sas_program, step=int(self.step),
                               program_sha256=sha256_of(self.sas_program))

        return FitSettings(model=model, seed=int(seed), draws=self.draws, tune=self.tune, chains=self.chains,
                           spec=spec_key(self.spec(model)))

    @property
    def n_workers(self) -> int:
        """Worker processes of a local cluster."""
        return self.workers or os.cpu_count() or 1

    @property
    def layout(self) -> ResultsLayout:
        """The results tree the study writes."""
        return ResultsLayout(Path(self.out))


@dataclass
class ModelAggregate:
    """Everything notebook 04 shows for one model; the CSVs it writes hold the same numbers.

    Attributes
    ----------
    runs : RunSet
        Included (converged) and excluded runs with reasons.
    mc : pandas.DataFrame
        :data:`~partclust.evaluation.MC_ERROR_COLUMNS`, one row per parameter.
    z, z_by_param : pandas.DataFrame
        Per-seed z against the exact posterior, and its mean and SD per parameter.
    fit : pandas.DataFrame
        The pooled fit table (:func:`~partclust.evaluation.fit_table`).
    comparison : pandas.DataFrame
        :data:`~partclust.evaluation.COMPARISON_COLUMNS` for every reference.
    references : dict of str to Reference
        By name.
    exact : ExactPosterior or None
        In the table's names (a translated program's); ``None`` for a program outside the model family.
    s2u_name : str
        σ²_u's name in the tables (a translated program's own).
    note : str
        Why there is no exact posterior, when there is none.
    """

    model: str
    runs: Any
    mc: pd.DataFrame
    z: pd.DataFrame
    z_by_param: pd.DataFrame
    fit: pd.DataFrame
    comparison: pd.DataFrame
    references: dict
    exact: Any
    mc_error_csv: Path
    comparison_csv: Path
    reference_dir: Path
    s2u_name: str = "s2u"
    note: str = ""

    @property
    def n_seeds(self) -> int:
        """Number of converged runs pooled."""
        return len(self.runs.included)

    @property
    def gate_sentence(self) -> str:
        """"k of N runs passed the convergence gate", with the failing checks (:func:`gate_sentence`)."""
        records = [rec for _, rec, _ in self.runs.included] + run_records(d for d, _ in self.runs.excluded)
        return gate_sentence(records)


def aggregate_model(model: str, results: Path, design: Any, sas_output_dir: str | None = None,
                    spec: Any = None, seeds: Sequence[int] = ()) -> ModelAggregate:
    """Read a model's runs, compute calibration, per-seed z and the comparison; write the tables.

    Pools only the runs of ``seeds`` (a study's seed list; empty: every seed folder under ``runs/<model>/``).
    Writes ``study/<model>/mc_error.csv``, ``comparison/<model>.csv`` and the exact and REML references
    with their provenance sidecars under ``references/<data-sha12>-<model>/``. With no converged run
    the tables are empty (and say so) rather than failing: the report must still show which runs
    were excluded and why.

    Raises
    ------
    ComparisonError
        When a run was fitted to other data than ``design`` or to another specification than ``spec``
        (default: ``design``'s own, or the built-in ``model``).
    DataError
        When the model cannot be fitted to ``design`` (:func:`~partclust.models.checks.check_data`).
    """
    from partclust.evaluation.compare import load_runs
    from partclust.evaluation.mc_error import z_summary
    from partclust.references import all_references
    from partclust.references.exact import exact_posterior
    from partclust.references.store import default_directory, exact_checks, write_reference
    from partclust.models.checks import check_data

    layout = ResultsLayout(Path(results))
    dirs = layout.seed_runs(model, seeds)
    if hasattr(design, "program"):  # a translated PROC MCMC program
        return _aggregate_program(model, layout, dirs, design, sas_output_dir)
    if not hasattr(design, "spec"):  # a run1 Design (ModelData was checked when it was read)
        check_data(design, model)
    from partclust.models.spec import builtin_spec

    spec = spec or getattr(design, "spec", None) or builtin_spec(model)
    runs = load_runs([str(d) for d in dirs], model=model, design=design, spec_record=spec.record())
    exact = exact_posterior(design, model)
    references = all_references(design, model, sas_output_dir or None, exact_posterior=exact)
    mc, z, fit, comparison, mc_csv, cmp_csv = _seed_tables(model, layout, runs, references)
    ref_dir = default_directory(layout.root, design, model)
    write_reference(references["exact"], ref_dir, exact_checks(design, exact))
    write_reference(references["reml"], ref_dir)
    return ModelAggregate(model, runs, mc, z, z_summary(z), fit, comparison, references, exact, mc_csv, cmp_csv,
                          ref_dir)


def _aggregate_program(model: str, layout: ResultsLayout, dirs: list[Path], translation: Any,
                       sas_output_dir: str | None) -> ModelAggregate:
    """:func:`aggregate_model` for a translated PROC MCMC program: its names; exact and REML when in the family."""
    from dataclasses import replace

    from partclust.evaluation.compare import load_runs
    from partclust.evaluation.mc_error import z_summary
    from partclust.references import program_references
    from partclust.references.exact import exact_posterior
    from partclust.references.store import default_directory, exact_checks, write_reference

    runs = load_runs([str(d) for d in dirs], model=model, data_sha256=translation.sha256,
                     spec_record=translation.spec_record())
    family = translation.family
    exact = exact_posterior(family.data) if family.member else None
    references = program_references(translation, sas_output_dir or None, exact_posterior=exact)
    mc, z, fit, comparison, mc_csv, cmp_csv = _seed_tables(model, layout, runs, references)
    ref_dir = default_directory(layout.root, translation, model)
    if exact is not None:
        write_reference(references["exact"], ref_dir, exact_checks(family.data, exact))
        write_reference(references["reml"], ref_dir)
    renamed = replace(exact, table=family.rename(exact.table)) if exact is not None else None
    return ModelAggregate(model, runs, mc, z, z_summary(z), fit, comparison, references, renamed, mc_csv, cmp_csv,
                          ref_dir, s2u_name=translation.effect_variance or "s2u",
                          note="" if family.member else f"The program is not in the model family ({family.reason}), "
                          "so there is no exact posterior or REML to compare with.")


def _seed_tables(model: str, layout: ResultsLayout, runs: Any, references: dict) -> tuple:
    """Build the tables both aggregates make from the seeds' runs; write ``mc_error`` and ``comparison``.

    Returns ``(mc, z, fit, comparison, mc_csv, cmp_csv)``: the Monte Carlo error table, the per-seed z
    against the exact posterior (empty without one), the pooled fit, its comparison with every
    reference, and the paths of the two CSV files.
    """
    from partclust.evaluation.compare import COMPARISON_COLUMNS, compare_all, fit_table, per_seed_z
    from partclust.evaluation.mc_error import mc_error_table

    mc = mc_error_table(runs.summaries)
    z = pd.DataFrame(columns=["seed_index", "param", "fit_value", "mcse", "z"])
    if runs.summaries:
        if references["exact"].available:
            z = per_seed_z(runs.summaries, references["exact"])
        fit = fit_table(runs.summaries)
        comparison = compare_all(fit, references.values())
    else:
        fit = pd.DataFrame(columns=["param", "statistic", "fit_value", "fit_se", "n_seeds"])
        comparison = pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    mc_csv, cmp_csv = layout.mc_error_csv(model), layout.comparison_csv(model)
    write_csv(mc_csv, mc)
    write_csv(cmp_csv, comparison)
    return mc, z, fit, comparison, mc_csv, cmp_csv


def s2u_headline(agg: ModelAggregate) -> dict[str, Any]:
    """Collect the numbers a reader wants first about σ²_u for one model (for notebooks and the report).

    Returns
    -------
    dict
        ``model`` and ``n_seeds`` (and ``note``) for a model without σ²_u or exact posterior; else as
        :func:`s2u_numbers` returns for the aggregate's exact posterior and tables.
    """
    name = agg.s2u_name
    if agg.exact is None or name not in set(agg.exact.table["param"]):
        out = {"model": agg.model, "n_seeds": agg.n_seeds}  # a model without random effect (or exact posterior)
        return {**out, "note": agg.note} if agg.note else out
    return s2u_numbers(agg.model, agg.exact, agg.mc, agg.comparison, name=name)


def s2u_numbers(model: str, exact: Any, mc: pd.DataFrame | None, comparison: pd.DataFrame | None,
                name: str = "s2u") -> dict[str, Any]:
    """Collect the numbers a reader wants first about σ²_u, from the exact posterior and a model's two tables.

    Parameters
    ----------
    model : str
    exact : ExactPosterior
    mc, comparison : pandas.DataFrame or None
        ``study/<model>/mc_error.csv`` and ``comparison/<model>.csv`` (as :func:`aggregate_model`
        writes them, or read back); None or empty when the model has no converged run.
    name : str
        The cluster variance's name (a translated program's own, e.g. ``s2_coach``).

    Returns
    -------
    dict
        ``exact_mean``, ``exact_median``, ``exact_mode``, ``n_seeds``; with converged seeds also ``mean_of_means``,
        ``sd_of_means``, ``rms_mcse``, ``ratio``, ``ratio_lo``, ``ratio_hi``, ``n_params`` and ``n_ratio_consistent``
        (parameters whose ratio interval contains 1), and the pooled comparison with the exact mean (``fit_value``,
        ``fit_se``, ``difference``, ``z``, its threshold ``z_crit``, Bonferroni over the ``m_exact`` statistics compared
        with it, ``verdict``); ``n_real`` and ``n_comparable`` over every statistic and reference, and
        ``flagged_references``.
    """
    from partclust.evaluation.compare import NOT_COMPARABLE, REAL

    ex = exact.table.set_index("param").loc[name]
    out: dict[str, Any] = {"model": model, "exact_mean": float(ex["mean"]), "exact_median": float(ex["median"]),
                           "exact_mode": float(exact.s2u_mode), "n_seeds": 0}
    if mc is None or comparison is None or mc.empty or name not in set(mc["param"]):
        return out
    m = mc.set_index("param").loc[name]
    out["n_seeds"] = int(m["n_seeds"])
    cmp = comparison
    rows = cmp[(cmp["param"] == name) & (cmp["statistic"] == "mean") & (cmp["reference"] == "exact")]
    if rows.empty:
        return out
    c = rows.iloc[0]
    consistent, comparable = (mc["ratio_lo"] <= 1.0) & (mc["ratio_hi"] >= 1.0), cmp["verdict"] != NOT_COMPARABLE
    out.update({
        "mean_of_means": float(m["mean_of_means"]), "sd_of_means": float(m["sd_of_means"]),
        "rms_mcse": float(m["rms_mcse"]), "ratio": float(m["calibration_ratio"]), "ratio_lo": float(m["ratio_lo"]),
        "ratio_hi": float(m["ratio_hi"]), "n_params": int(len(mc)), "n_ratio_consistent": int(consistent.sum()),
        "fit_value": float(c["fit_value"]), "fit_se": float(c["fit_se"]), "difference": float(c["difference"]),
        "z": float(c["z"]), "verdict": str(c["verdict"]), "z_crit": float(c.get("z_crit", float("nan"))),
        "m_exact": int((comparable & (cmp["reference"] == "exact")).sum()), "n_comparable": int(comparable.sum()),
        "n_real": int((cmp["verdict"] == REAL).sum()),
        "flagged_references": sorted(set(cmp.loc[cmp["verdict"] == REAL, "reference"])),
    })
    return out
