"""(a) Skewness: with few clusters σ²_u's posterior mean, median and mode (and REML) are far apart.

:func:`skew_table` puts them side by side with the equal-tail and HPD intervals and says where SAS
and PyMC print each by default.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, optimize

__all__ = ["REPORTED_BY", "SKEW_COLUMNS", "hpd_interval", "skew_table"]

# Where each summary of σ²_u appears by default in the two programs' output (and in PROC MIXED).
REPORTED_BY: dict[str, tuple[str, str]] = {
    "posterior mean": (
        "PostSumInt `Mean` (the default table); PostSummaries `Mean`",
        "`az.summary` `mean` (default); PyMC 2 `stats()['mean']` (the 2011 print)",
    ),
    "posterior median": (
        "PostSummaries `P50` (only with STATISTICS=SUMMARY or ALL)",
        "not in `az.summary`'s default table; PyMC 2 `stats()['quantiles'][50]`",
    ),
    "posterior mode": (
        "not reported",
        "not reported (`pm.find_MAP` is the joint mode of all parameters, a different number)",
    ),
    "REML estimate": (
        "PROC MIXED `Covariance Parameter Estimates` (not PROC MCMC)",
        "not PyMC (lme4, nlme, statsmodels MixedLM)",
    ),
    "95 % equal-tail interval": (
        "PostIntervals `Equal-Tail Interval` (STATISTICS=INTERVAL or ALL)",
        "`az.summary` eti (ArviZ ≥ 1.0; its default level is 89 %)",
    ),
    "95 % HPD interval": (
        "PostSumInt `HPD Interval` (the default table); PostIntervals",
        "`az.hdi` (ArviZ < 1.0's `az.summary` default, at 94 %); PyMC 2 `95% HPD interval`",
    ),
}
SKEW_COLUMNS: tuple[str, ...] = ("statistic", "value", "lower", "upper", "minus_mean", "sas", "pymc")


def hpd_interval(density: Any, upper: float, mass: float = 0.95, lower: float = 0.0,
                 nodes: int = 20001) -> tuple[float, float]:
    """Highest-density interval of a unimodal density on [lower, upper] (``upper`` past the tail).

    The density is evaluated on a fine grid; the CDF is its cumulative trapezoid integral. For a
    level c the interval ends are where the density crosses c (linear interpolation between nodes,
    or ``lower`` when the density there is still above c); c is solved so the interval holds ``mass``
    (the highest density region of Hyndman 1996, for one mode).

    Returns
    -------
    (float, float)
        The interval's ends, in the units of x.

    Raises
    ------
    ValueError
        When ``mass`` is not in (0, 1), ``upper <= lower``, or the density integrates to zero on the grid.

    References
    ----------
    Hyndman, R. J. (1996). Computing and graphing highest density regions. *The American
    Statistician* 50(2), 120–126. doi:10.1080/00031305.1996.10474359
    """
    if not 0 < mass < 1 or not upper > lower:
        raise ValueError(f"need 0 < mass < 1 and upper > lower; got mass={mass}, [{lower}, {upper}]")
    xs = np.linspace(lower, upper, nodes)
    d = np.asarray(density(xs), dtype=float)
    cdf = integrate.cumulative_trapezoid(d, xs, initial=0.0)
    total = cdf[-1]
    if not total > 0:
        raise ValueError("the density integrates to zero on the grid")
    cdf = cdf / total
    d = d / total
    k = int(np.argmax(d))

    def ends(c: float) -> tuple[float, float]:
        left = np.flatnonzero(d[: k + 1] < c)
        if left.size:
            i = left[-1]
            lo = xs[i] + (c - d[i]) / (d[i + 1] - d[i]) * (xs[i + 1] - xs[i])
        else:
            lo = xs[0]
        right = np.flatnonzero(d[k:] < c)
        if right.size:
            i = k + right[0]
            hi = xs[i - 1] + (d[i - 1] - c) / (d[i - 1] - d[i]) * (xs[i] - xs[i - 1])
        else:
            hi = xs[-1]
        return float(lo), float(hi)

    def held(c: float) -> float:
        lo, hi = ends(c)
        return float(np.interp(hi, xs, cdf) - np.interp(lo, xs, cdf)) - mass

    c = optimize.brentq(held, 1e-12 * d[k], d[k] * (1 - 1e-12), xtol=1e-14 * d[k], rtol=1e-12)
    return ends(c)


def skew_table(exact: Any, reml_s2u: float, mass: float = 0.95) -> pd.DataFrame:
    """Set σ²_u's point summaries and intervals side by side, each with where SAS and PyMC report it.

    Parameters
    ----------
    exact : ExactPosterior
        :class:`partclust.references.exact.ExactPosterior` (anything with ``table``, ``s2u_mode`` and
        ``s2u_density``).
    reml_s2u : float
        The REML estimate of σ²_u (:func:`partclust.references.reml.reml`).
    mass : float
        Probability of the equal-tail and HPD intervals.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SKEW_COLUMNS`, six rows: posterior mean, median, mode, REML estimate (``value``),
        then the equal-tail and the HPD interval (``lower``, ``upper``); ``minus_mean`` is each point
        summary minus the posterior mean; ``sas`` and ``pymc`` say where each program prints it
        (:data:`REPORTED_BY`). Values in outcome units².

    Raises
    ------
    ValueError
        When ``mass`` is not in (0, 1) or σ²_u's density integrates to zero (:func:`hpd_interval`).
    """
    row = exact.table.set_index("param").loc["s2u"]
    mean = float(row["mean"])
    lo_eti, hi_eti = float(row["q2.5"]), float(row["q97.5"])
    upper = hi_eti + 12.0 * float(row["sd"])
    lo_hpd, hi_hpd = hpd_interval(exact.s2u_density, upper, mass=mass)
    pct = f"{mass:.0%}".replace("%", " %")
    points = [("posterior mean", mean), ("posterior median", float(row["median"])),
              ("posterior mode", float(exact.s2u_mode)), ("REML estimate", float(reml_s2u))]
    rows = [{"statistic": name, "value": v, "lower": math.nan, "upper": math.nan, "minus_mean": v - mean}
            for name, v in points]
    rows += [{"statistic": f"{pct} equal-tail interval", "value": math.nan, "lower": lo_eti, "upper": hi_eti,
              "minus_mean": math.nan},
             {"statistic": f"{pct} HPD interval", "value": math.nan, "lower": lo_hpd, "upper": hi_hpd,
              "minus_mean": math.nan}]
    for r in rows:
        sas, pymc = REPORTED_BY.get(r["statistic"].replace(pct, "95 %"), ("", ""))
        r["sas"], r["pymc"] = sas, pymc
    return pd.DataFrame(rows, columns=list(SKEW_COLUMNS))
