"""Stage 7 — Monte Carlo error across seeds: is the reported MCSE the spread we actually see?

For each parameter, over S converged seeds with posterior means m_s and reported MCSEs:
``sd_of_means`` = SD(m_s), ``rms_mcse`` = √mean(MCSE_s²), ``calibration_ratio`` = their quotient.
If the MCSE is right, (S−1)·SD²/MCSE² is χ²(S−1), which gives the ratio's 95 % interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

MC_ERROR_COLUMNS: tuple[str, ...] = (
    "param", "n_seeds", "mean_of_means", "sd_of_means", "rms_mcse", "calibration_ratio", "ratio_lo",
    "ratio_hi", "ratio_consistent_with_1", "se_pooled",
)


def ratio_interval(ratio: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Interval for SD/MCSE from n seeds: the range of true ratios the observed one is compatible with."""
    if n < 2 or not np.isfinite(ratio):
        return (np.nan, np.nan)
    df = n - 1
    a = (1 - level) / 2
    return (ratio * np.sqrt(df / stats.chi2.ppf(1 - a, df)), ratio * np.sqrt(df / stats.chi2.ppf(a, df)))


def ratio_band(n: int, level: float = 0.95) -> tuple[float, float]:
    """Where the observed ratio falls with probability ``level`` when the MCSE is exactly right."""
    if n < 2:
        return (np.nan, np.nan)
    df = n - 1
    a = (1 - level) / 2
    return (np.sqrt(stats.chi2.ppf(a, df) / df), np.sqrt(stats.chi2.ppf(1 - a, df) / df))


def mc_error_table(summaries: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One row per parameter, in the summaries' order (see the module docstring)."""
    if not summaries:
        return pd.DataFrame(columns=list(MC_ERROR_COLUMNS))
    df = pd.concat([s[["param", "mean", "mcse_mean"]].assign(seed_index=k) for k, s in enumerate(summaries)])
    order = list(summaries[0]["param"])
    rows = []
    for param in order:
        g = df[df["param"] == param]
        n = len(g)
        sd = g["mean"].std(ddof=1) if n > 1 else np.nan
        rms = float(np.sqrt(np.mean(g["mcse_mean"] ** 2)))
        ratio = sd / rms if rms > 0 else np.nan
        lo, hi = ratio_interval(ratio, n)
        rows.append({
            "param": param, "n_seeds": n, "mean_of_means": g["mean"].mean(), "sd_of_means": sd,
            "rms_mcse": rms, "calibration_ratio": ratio, "ratio_lo": lo, "ratio_hi": hi,
            "ratio_consistent_with_1": bool(lo <= 1 <= hi) if np.isfinite(lo) else False,
            "se_pooled": sd / np.sqrt(n) if n > 1 else np.nan,
        })
    return pd.DataFrame(rows, columns=list(MC_ERROR_COLUMNS))


def z_summary(z: pd.DataFrame) -> pd.DataFrame:
    """Per parameter: how many seeds, mean and SD of z (≈ 0 and 1 if only Monte Carlo error)."""
    if z.empty:
        return pd.DataFrame(columns=["param", "n", "z_mean", "z_sd"])
    return z.groupby("param", sort=False)["z"].agg(n="size", z_mean="mean", z_sd="std").reset_index()


@dataclass
class ModelAggregate:
    """Everything notebook 04 shows for one model; the CSVs it writes are the same numbers."""

    model: str
    runs: object  # compare.RunSet
    mc: pd.DataFrame
    z: pd.DataFrame
    z_by_param: pd.DataFrame
    fit: pd.DataFrame
    comparison: pd.DataFrame
    references: list
    exact: object
    mc_error_csv: Path
    comparison_csv: Path

    @property
    def n_seeds(self) -> int:
        return len(self.runs.included)


def aggregate_model(model: str, results: Path, design, sas_output_dir: str | None = None) -> ModelAggregate:
    """Read a model's runs, compute calibration, per-seed z and the comparison; write both CSVs.

    With no converged run the tables are empty (and say so) rather than failing: the report must
    still show which runs were excluded and why.
    """
    from partclust.compare import COMPARISON_COLUMNS, compare_all, fit_table, load_runs, per_seed_z
    from partclust.exact import exact_posterior
    from partclust.references import all_references

    dirs = sorted((results / "runs" / model).glob("seed-*"), key=lambda p: int(p.name.split("-")[1]))
    runs = load_runs([str(d) for d in dirs], model=model, data_sha256=design.sha256)
    mc = mc_error_table(runs.summaries)
    exact = exact_posterior(design, model)
    references = all_references(design, model, sas_output_dir or None, exact_posterior=exact)
    if runs.summaries:
        z = per_seed_z(runs.summaries, references[0])
        fit = fit_table(runs.summaries)
        comparison = compare_all(fit, references)
    else:
        z = pd.DataFrame(columns=["seed_index", "param", "fit_value", "mcse", "z"])
        fit = pd.DataFrame(columns=["param", "statistic", "fit_value", "fit_se", "n_seeds"])
        comparison = pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    mc_csv = results / "study" / model / "mc_error.csv"
    cmp_csv = results / "comparison" / f"{model}.csv"
    for path, table in ((mc_csv, mc), (cmp_csv, comparison)):
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False, float_format="%.10g")
    return ModelAggregate(model, runs, mc, z, z_summary(z), fit, comparison, references, exact, mc_csv, cmp_csv)
