"""The multi-seed study: its definition (models × seeds × sampler sizes) and its per-model aggregate.

Running it (on Dask, one papermill execution of the fit notebook per run) is the runner's job
(:mod:`partclust.runner.dask`); this module says *what* is run and turns a model's finished runs into
the Monte Carlo error table, per-seed z values and the pooled comparison with every reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from partclust.config import NOTEBOOK_FILES, RESIDUALS
from partclust.errors import StudyError
from partclust.files import write_csv
from partclust.inference.settings import FitSettings
from partclust.layout import RESULTS, ResultsLayout
from partclust.validate import check_int, check_output_dir, check_positive, check_scheduler_address

__all__ = ["StudySettings", "ModelAggregate", "aggregate_model", "s2u_headline", "MAX_SEEDS", "MAX_WORKERS",
           "gate_tally", "gate_sentence", "run_records"]

MAX_SEEDS = 10_000
"""Most seeds one study runs per model (each run is a fit of seconds; 10,000 is hours per model)."""
MAX_WORKERS = 1024
"""Most local worker processes a study starts."""


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
        Also run ``05_why_s2u_differed.ipynb``.
    plots : {"first", "all", "none"}
        Trace and rank plots in the first seed's notebook of each model, in all, or in none.
    fit_notebook : str
        The notebook each run executes (a name in ``notebooks/`` or a path); it must take the fit
        notebook's parameters and write a run folder.

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
    why_notebook: bool = False
    plots: str = "first"
    fit_notebook: str = NOTEBOOK_FILES["fit"]

    def __post_init__(self) -> None:
        """Refuse a study that cannot start (see Raises), before any run is scheduled."""
        bad = [m for m in self.models if m not in RESIDUALS]
        if bad:
            raise StudyError(f"unknown model(s) {bad}; choose from {', '.join(RESIDUALS)}")
        if not self.seeds:
            raise StudyError("no seeds to run")
        if len(self.seeds) > MAX_SEEDS:
            raise StudyError(f"{len(self.seeds):,} seeds asked for; a study runs at most {MAX_SEEDS:,} per model")
        check_int("workers", self.workers, 0, MAX_WORKERS, StudyError)
        if isinstance(self.chains, int) and not isinstance(self.chains, bool) and self.chains < 2:
            raise StudyError(f"a study needs at least 2 chains per run (the convergence gate's R-hat compares "
                             f"chains); got {self.chains}")
        check_positive("timeout", self.timeout_s, StudyError)
        if self.scheduler:
            check_scheduler_address(self.scheduler, StudyError)
        check_output_dir("the results folder", self.out, StudyError)
        if self.plots not in ("first", "all", "none"):
            raise StudyError(f"plots must be first, all or none; got {self.plots!r}")
        if len(set(self.seeds)) != len(self.seeds):
            raise StudyError("the seed list has repeats")
        for m in self.models:
            for s in self.seeds:
                self.fit_settings(m, s)  # validates draws, tune, chains, seeds

    def fit_settings(self, model: str, seed: int) -> FitSettings:
        """Return the settings of one run (model × seed) of the study."""
        return FitSettings(model=model, seed=int(seed), draws=self.draws, tune=self.tune, chains=self.chains)

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
    exact : ExactPosterior
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

    @property
    def n_seeds(self) -> int:
        """Number of converged runs pooled."""
        return len(self.runs.included)

    @property
    def gate_sentence(self) -> str:
        """"k of N runs passed the convergence gate", with the failing checks (:func:`gate_sentence`)."""
        records = [rec for _, rec, _ in self.runs.included] + run_records(d for d, _ in self.runs.excluded)
        return gate_sentence(records)


def aggregate_model(model: str, results: Path, design: Any, sas_output_dir: str | None = None) -> ModelAggregate:
    """Read a model's runs, compute calibration, per-seed z and the comparison; write the tables.

    Writes ``study/<model>/mc_error.csv``, ``comparison/<model>.csv`` and the exact and REML references
    with their provenance sidecars under ``references/<data-sha12>-<model>/``. With no converged run
    the tables are empty (and say so) rather than failing: the report must still show which runs
    were excluded and why.

    Raises
    ------
    ComparisonError
        When a run was fitted to other data than ``design``.
    DataError
        When the model cannot be fitted to ``design`` (:func:`~partclust.models.checks.check_data`).
    """
    from partclust.evaluation.compare import COMPARISON_COLUMNS, compare_all, fit_table, load_runs, per_seed_z
    from partclust.evaluation.mc_error import mc_error_table, z_summary
    from partclust.references import all_references
    from partclust.references.exact import exact_posterior
    from partclust.references.store import default_directory, exact_checks, write_reference

    from partclust.models.checks import check_data

    check_data(design, model)
    layout = ResultsLayout(Path(results))
    dirs = layout.seed_runs(model)
    runs = load_runs([str(d) for d in dirs], model=model, design=design)
    mc = mc_error_table(runs.summaries)
    exact = exact_posterior(design, model)
    references = all_references(design, model, sas_output_dir or None, exact_posterior=exact)
    if runs.summaries:
        z = per_seed_z(runs.summaries, references["exact"])
        fit = fit_table(runs.summaries)
        comparison = compare_all(fit, references.values())
    else:
        z = pd.DataFrame(columns=["seed_index", "param", "fit_value", "mcse", "z"])
        fit = pd.DataFrame(columns=["param", "statistic", "fit_value", "fit_se", "n_seeds"])
        comparison = pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    mc_csv, cmp_csv = layout.mc_error_csv(model), layout.comparison_csv(model)
    write_csv(mc_csv, mc)
    write_csv(cmp_csv, comparison)
    ref_dir = default_directory(layout.root, design, model)
    write_reference(references["exact"], ref_dir, exact_checks(design, exact))
    write_reference(references["reml"], ref_dir)
    return ModelAggregate(model, runs, mc, z, z_summary(z), fit, comparison, references, exact, mc_csv, cmp_csv,
                          ref_dir)


def s2u_headline(agg: ModelAggregate) -> dict[str, Any]:
    """Collect the numbers a reader wants first about σ²_u for one model (for notebooks and the report).

    Returns
    -------
    dict
        ``exact_mean``, ``exact_median``, ``exact_mode``; with converged seeds also ``n_seeds``,
        ``mean_of_means``, ``sd_of_means``, ``rms_mcse``, ``ratio``, ``ratio_lo``, ``ratio_hi``, and
        the pooled comparison with the exact mean (``difference``, ``z``, ``verdict``); ``n_real`` and
        ``n_comparable`` over every statistic and reference, and ``flagged_references``.
    """
    from partclust.evaluation.compare import NOT_COMPARABLE, REAL

    ex = agg.exact.table.set_index("param").loc["s2u"]
    out: dict[str, Any] = {"model": agg.model, "exact_mean": float(ex["mean"]), "exact_median": float(ex["median"]),
                           "exact_mode": float(agg.exact.s2u_mode), "n_seeds": agg.n_seeds}
    if not agg.n_seeds:
        return out
    mc = agg.mc.set_index("param").loc["s2u"]
    cmp = agg.comparison
    c = cmp[(cmp["param"] == "s2u") & (cmp["statistic"] == "mean")].set_index("reference").loc["exact"]
    out.update({
        "mean_of_means": float(mc["mean_of_means"]), "sd_of_means": float(mc["sd_of_means"]),
        "rms_mcse": float(mc["rms_mcse"]), "ratio": float(mc["calibration_ratio"]),
        "ratio_lo": float(mc["ratio_lo"]), "ratio_hi": float(mc["ratio_hi"]),
        "difference": float(c["difference"]), "z": float(c["z"]), "verdict": str(c["verdict"]),
        "n_real": int((cmp["verdict"] == REAL).sum()), "n_comparable": int((cmp["verdict"] != NOT_COMPARABLE).sum()),
        "flagged_references": sorted(set(cmp.loc[cmp["verdict"] == REAL, "reference"])),
    })
    return out


def run_records(run_dirs) -> list[dict[str, Any]]:
    """Read the ``run.json`` records of run folders (folders without a readable one are left out)."""
    import json

    from partclust.inference.runs import RUN_JSON

    out = []
    for d in run_dirs:
        try:
            out.append(json.loads((Path(d) / RUN_JSON).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out


def gate_tally(records) -> dict[str, Any]:
    """How many runs passed the convergence gate and which checks failed how often.

    Parameters
    ----------
    records : iterable of dict
        Run records (``run.json``), each with a ``convergence`` entry
        (:func:`~partclust.inference.summary.convergence_gate`).

    Returns
    -------
    dict
        ``n`` runs, ``passed`` runs, ``failed_checks`` (check → number of runs failing it, most
        frequent first) and ``worst`` (over all runs: largest R-hat, smallest bulk and tail ESS, most
        divergences).
    """
    records = [r for r in records if isinstance(r, dict) and isinstance(r.get("convergence"), dict)]
    failed: dict[str, int] = {}
    worst = {"r_hat_max": float("-inf"), "ess_bulk_min": float("inf"), "ess_tail_min": float("inf"),
             "divergences": 0}
    for r in records:
        gate = r["convergence"]
        for check, ok in (gate.get("checks") or {}).items():
            if not ok:
                failed[check] = failed.get(check, 0) + 1
        w = {k: float(v) for k, v in (gate.get("worst") or {}).items() if v is not None and v == v}  # NaN dropped
        worst["r_hat_max"] = max(worst["r_hat_max"], w.get("r_hat_max", float("-inf")))
        worst["ess_bulk_min"] = min(worst["ess_bulk_min"], w.get("ess_bulk_min", float("inf")))
        worst["ess_tail_min"] = min(worst["ess_tail_min"], w.get("ess_tail_min", float("inf")))
        worst["divergences"] = max(worst["divergences"], int(w.get("divergences", 0)))
    return {"n": len(records), "passed": sum(bool(r["convergence"].get("passed")) for r in records),
            "failed_checks": dict(sorted(failed.items(), key=lambda kv: -kv[1])), "worst": worst}


_CHECK_WORDS = {"r_hat": ("R-hat above its limit", "largest R-hat {r_hat_max:.3f}"),
                "ess_bulk": ("bulk ESS too small", "smallest bulk ESS {ess_bulk_min:.0f}"),
                "ess_tail": ("tail ESS too small", "smallest tail ESS {ess_tail_min:.0f}"),
                "divergences": ("divergent transitions", "up to {divergences} divergences")}


def gate_sentence(records) -> str:
    """One sentence: "k of N runs passed the convergence gate (thresholds)", with the failing checks.

    Used by the aggregate notebook and the study's last lines, so a study whose runs all failed the
    gate says so and why instead of showing an empty headline.

    Parameters
    ----------
    records : iterable of dict
        Run records (``run.json``).
    """
    from partclust.inference.summary import gate_description

    t = gate_tally(records)
    text = f"{t['passed']} of {t['n']} runs passed the convergence gate ({gate_description()})"
    if t["failed_checks"]:
        parts = []
        finite = {k: v for k, v in t["worst"].items() if abs(v) != float("inf")}
        for check, count in t["failed_checks"].items():
            words, worst = _CHECK_WORDS.get(check, (check, ""))
            try:
                detail = f", {worst.format(**finite)}" if worst else ""
            except KeyError:  # not computable (e.g. R-hat of one chain)
                detail = ", not computable"
            parts.append(f"{words} in {count} run(s){detail}")
        text += "; failing checks: " + "; ".join(parts)
    return text + "."
