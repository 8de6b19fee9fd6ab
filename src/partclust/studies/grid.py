"""Fit every configuration × seed in this process and tabulate one row per run.

Shared by the studies that compare set-ups (mixing, prior traps, efficiency): each job is a label,
run settings and priors; each row holds σ²_u's summary, the run's diagnostics, its convergence-gate
verdict (a column, never a filter: slow mixing may be what is measured) and its timings.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from partclust.data import Design
from partclust.inference.settings import FitSettings
from partclust.models.priors import SAS_PRIORS, Priors

__all__ = ["RUN_COLUMNS", "GridJob", "GridResult", "n_effects", "fit_grid"]

RUN_COLUMNS: tuple[str, ...] = (
    "config", "sampler", "parameterization", "n_effects", "seed", "chains", "draws", "tune", "total_draws",
    "mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat", "divergences", "gate_passed", "gate_reason",
    "compile_s", "sample_s", "wall_s",
)
"""Columns of a grid's run table (σ²_u's statistics; times in seconds)."""


@dataclass(frozen=True)
class GridJob:
    """One run: a configuration label, its settings and priors, and extra columns for its row."""

    label: str
    settings: FitSettings
    priors: Priors = SAS_PRIORS
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class GridResult:
    """The run table and, per configuration, σ²_u's draws from the first chain of its first run."""

    runs: pd.DataFrame
    traces: dict[str, np.ndarray] = field(default_factory=dict)


def n_effects(design: Design, parameterization: str) -> int:
    """Cluster effects a parameterization samples: the treated clusters, or one per value of j.

    ``design`` may also be data read through a specification (:class:`~partclust.models.ModelData`).
    """
    if parameterization == "sas_singletons":
        return len(design.sas_clusters)
    return design.n_clusters if hasattr(design, "n_clusters") else design.n_groups


@contextlib.contextmanager
def _quiet(names: Sequence[str] = ("pymc", "pymc.sampling", "pymc.stats")) -> Iterator[None]:
    """Silence the samplers' progress logging while the grid runs (restored afterwards)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _run_row(design: Design, job: GridJob, cores: int | None) -> tuple[dict[str, Any], Any]:
    from partclust.inference.sample import fit
    from partclust.inference.summary import convergence_gate, summarize

    settings = job.settings
    t = time.perf_counter()
    result = fit(design, settings, priors=job.priors, cores=cores, log_likelihood=False)
    summary = summarize(result.posterior, getattr(design, "scalar_names", settings.model))
    wall = time.perf_counter() - t
    gate = convergence_gate(summary, result.divergences)
    s = summary.set_index("param").loc["s2u"]
    row = {
        **job.extra,
        "config": job.label, "sampler": settings.sampler, "parameterization": settings.parameterization,
        "n_effects": n_effects(design, settings.parameterization), "seed": settings.seed,
        "chains": settings.chains, "draws": settings.draws, "tune": settings.tune,
        "total_draws": settings.draws * settings.chains,
        **{k: float(s[k]) for k in ("mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat")},
        "divergences": result.divergences, "gate_passed": gate["passed"], "gate_reason": gate["reason"],
        "compile_s": float(result.timings.get("compile_s", 0.0)),
        "sample_s": float(result.timings.get("sample_s", math.nan)), "wall_s": wall,
    }
    return row, result


def fit_grid(design: Design, jobs: Sequence[GridJob], cores: int | None = None,
             columns: Sequence[str] = RUN_COLUMNS) -> GridResult:
    """Fit every job in order; one row per run with the given ``columns``.

    Parameters
    ----------
    design : Design
    jobs : sequence of GridJob
    cores : int, optional
        Threads nutpie samples chains on (the draws do not depend on it).
    columns : sequence of str
        Columns of the table (:data:`RUN_COLUMNS` plus any ``extra`` keys the jobs carry).

    Returns
    -------
    GridResult
        ``runs`` one row per job; ``traces`` σ²_u's first-chain draws of each label's first job.
    """
    rows, traces = [], {}
    with _quiet():
        for job in jobs:
            row, result = _run_row(design, job, cores)
            rows.append(row)
            if job.label not in traces:
                traces[job.label] = np.asarray(result.posterior["s2u"].isel(chain=0)).copy()
    return GridResult(pd.DataFrame(rows, columns=list(columns)), traces)
