"""Monte Carlo error: is the reported MCSE the spread actually seen across seeds, and what it costs.

For each parameter, over S converged seeds with posterior means m_s and reported MCSEs:
``sd_of_means`` = SD(m_s), ``rms_mcse`` = √mean(MCSE_s²), ``calibration_ratio`` = their quotient.
If the MCSE is right, (S−1)·SD²/MCSE² is χ²(S−1), which gives the ratio's 95 % interval.
MCSE falls as 1/√draws once a chain is past its transient, which gives the draws needed for a target.

The χ² interval assumes the seeds' posterior means are independent and normally distributed around
the posterior mean (a central limit theorem for Markov chains; e.g. Geyer 1992).

References
----------
Geyer, C. J. (1992). Practical Markov chain Monte Carlo. *Statistical Science* 7(4), 473–483.
doi:10.1214/ss/1177011137
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["MC_ERROR_COLUMNS", "TARGET_MCSE", "ratio_interval", "sd_interval", "ratio_band", "mc_error_table",
           "z_summary", "draws_needed", "draws_needed_from_ess"]

TARGET_MCSE = 0.005
"""The Monte Carlo standard error of σ²_u's posterior mean a reader would want (outcome units²)."""
MC_ERROR_COLUMNS: tuple[str, ...] = (
    "param", "n_seeds", "mean_of_means", "sd_of_means", "rms_mcse", "calibration_ratio", "ratio_lo",
    "ratio_hi", "ratio_consistent_with_1", "se_pooled",
)


def ratio_interval(ratio: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Interval for SD/MCSE from n seeds: the range of true ratios the observed one is compatible with.

    Parameters
    ----------
    ratio : float
        The observed ratio, SD of the seeds' posterior means / RMS of their MCSEs.
    n : int
        Seeds the SD was computed from.
    level : float
        Confidence level.

    Returns
    -------
    (float, float)
        ``ratio``·√((n−1)/χ²_{n−1}(1−a)) and ``ratio``·√((n−1)/χ²_{n−1}(a)), a = (1 − level)/2; unitless.
        (NaN, NaN) when n < 2 or the ratio is not finite.

    Notes
    -----
    If the true ratio is r, (n−1)·ratio²/r² follows χ²(n−1) (the RMS MCSE treated as known); inverting
    it gives the interval.
    """
    if n < 2 or not np.isfinite(ratio):
        return (np.nan, np.nan)
    df = n - 1
    a = (1 - level) / 2
    return (ratio * np.sqrt(df / stats.chi2.ppf(1 - a, df)), ratio * np.sqrt(df / stats.chi2.ppf(a, df)))


def sd_interval(sd: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Interval for a true SD from a sample SD of ``n`` values (χ² with n − 1 degrees of freedom)."""
    return ratio_interval(sd, n, level)


def ratio_band(n: int, level: float = 0.95) -> tuple[float, float]:
    """Where the observed ratio falls with probability ``level`` when the MCSE is exactly right."""
    if n < 2:
        return (np.nan, np.nan)
    df = n - 1
    a = (1 - level) / 2
    return (np.sqrt(stats.chi2.ppf(a, df) / df), np.sqrt(stats.chi2.ppf(1 - a, df) / df))


def mc_error_table(summaries: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Tabulate each parameter's Monte Carlo error across seeds beside the MCSE its runs reported.

    Parameters
    ----------
    summaries : sequence of pandas.DataFrame
        Run summaries (columns :data:`~partclust.inference.SUMMARY_COLUMNS`), one per converged seed.

    Returns
    -------
    pandas.DataFrame
        One row per parameter, in the first summary's order; columns :data:`MC_ERROR_COLUMNS`:
        ``param``; ``n_seeds`` (S); ``mean_of_means``; ``sd_of_means``, SD of the seeds' posterior means
        (ddof 1; NaN for one seed); ``rms_mcse``, √mean(MCSE²) of their reported MCSEs; ``calibration_ratio``
        = sd_of_means / rms_mcse (unitless, 1 when the MCSE is right); ``ratio_lo``, ``ratio_hi``, its 95 %
        interval (:func:`ratio_interval`); ``ratio_consistent_with_1`` (bool); ``se_pooled`` = sd_of_means /
        √S, the standard error of mean_of_means. Means, SDs and SEs are in the parameter's units
        (variances in outcome units²). Empty, with these columns, when there are no summaries.
    """
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


def draws_needed(draws: float, mcse: float, target: float = TARGET_MCSE) -> float:
    """Draws for MCSE ≤ ``target``, extrapolated from a run of ``draws`` draws with ``mcse``.

    MCSE falls as 1/√draws once a chain is past its transient, so draws·(mcse/target)²; NaN when
    the inputs do not allow it.
    """
    if not (draws > 0 and target > 0) or not np.isfinite(mcse):
        return math.nan
    return float(draws) * (float(mcse) / float(target)) ** 2


def draws_needed_from_ess(posterior_sd: float, ess_per_draw: float, target: float = TARGET_MCSE) -> float:
    """Draws for MCSE ≤ ``target`` via ESS: (sd/target)² effective draws at ``ess_per_draw`` each."""
    if not (ess_per_draw > 0 and target > 0) or not np.isfinite(posterior_sd):
        return math.nan
    return (float(posterior_sd) / float(target)) ** 2 / float(ess_per_draw)
