"""Summaries of posterior draws with Monte Carlo standard errors, and the convergence gate.

Every statistic comes from ArviZ (rank-normalized ESS, R-hat and MCSE over all chains, the methods of
Vehtari et al. 2021); the same function summarizes PyMC fits and PROC MCMC's OUTPOST draws, so both are
judged alike.

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Bürkner, P.-C. (2021). Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC. *Bayesian Analysis*
16(2), 667–718. doi:10.1214/20-BA1221
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import pandas as pd

from partclust.models.names import scalar_names

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["QUANTILES", "STATISTICS", "MCSE_COLUMN", "SUMMARY_COLUMNS", "GATE", "flat_params", "summarize",
           "select_params", "summarize_params", "convergence_gate", "gate_description"]

QUANTILES: dict[str, float] = {"q2.5": 0.025, "median": 0.5, "q97.5": 0.975}
"""Column name → probability of the quantiles every summary and reference reports."""
STATISTICS: tuple[str, ...] = ("mean", "sd", *QUANTILES)
"""The posterior statistics compared between a fit and a reference."""
MCSE_COLUMN: dict[str, str] = {"mean": "mcse_mean", "sd": "mcse_sd", **{q: f"mcse_{q}" for q in QUANTILES}}
"""Statistic → the summary column holding its Monte Carlo standard error."""
SUMMARY_COLUMNS: tuple[str, ...] = (
    "param", "mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat",
    "q2.5", "median", "q97.5", "mcse_q2.5", "mcse_median", "mcse_q97.5",
)
GATE: dict[str, float] = {"r_hat_max": 1.01, "ess_bulk_min": 400.0, "ess_tail_min": 400.0, "divergences_max": 0}
"""The convergence gate of STUDY.md: only runs that pass it count in a comparison.

R-hat ≤ 1.01 and bulk and tail ESS ≥ 400 (100 per chain for four chains) are the thresholds Vehtari et
al. (2021) recommend for the rank-normalized diagnostics; no divergent transition is allowed because one
signals a region NUTS could not explore."""


def gate_description(gate: dict[str, float] = GATE) -> str:
    """Describe the gate in words, for prose in notebooks and reports (thresholds come from :data:`GATE`).

    Returns
    -------
    str
        E.g. ``"R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergences"``.
    """
    return (f"R-hat ≤ {gate['r_hat_max']:g}, bulk and tail ESS ≥ {gate['ess_bulk_min']:.0f}"
            + (", no divergences" if gate["divergences_max"] == 0 else
               f", at most {gate['divergences_max']:.0f} divergences"))


def flat_params(posterior: xr.Dataset, params: str | Sequence[str]) -> dict[str, xr.DataArray]:
    """Split a posterior into the reported parameters, one scalar draws array each.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws with dims (chain, draw[, cluster]): the scalar parameters (``b0``, ``b1``, ``s2u``, the
        residual variance(s); or ``b[<column>]`` …) and, optionally, ``u`` with dim ``cluster``.
    params : {"single", "per_condition"} or sequence of str
        A built-in model's residual structure (its names ``b0 b1 s2u`` and ``s2e`` or ``s2e_control
        s2e_treated``), or the scalar names themselves (:attr:`partclust.models.ModelData.scalar_names`), or
        the items a translated PROC MCMC program reports (:attr:`partclust.translate.Translation.summary_items`:
        then exactly those, :func:`select_params`).

    Returns
    -------
    dict of str to xarray.DataArray
        The scalar parameters in that order, then ``u[<cluster label>]`` per cluster; each with dims
        (chain, draw), in the parameter's units (variances in outcome units²).

    Raises
    ------
    SpecError
        For a residual structure other than ``single`` or ``per_condition``.
    KeyError
        When the posterior lacks one of the model's scalar parameters.
    """
    if not isinstance(params, str) and any(not isinstance(p, str) for p in params):
        return select_params(posterior, params)
    out: dict[str, xr.DataArray] = {}
    for name in (scalar_names(params) if isinstance(params, str) else params):
        out[name] = posterior[name]
    if "u" in posterior and "cluster" in posterior["u"].dims:
        for label in posterior["u"].coords["cluster"].values:
            out[f"u[{label}]"] = posterior["u"].sel(cluster=label, drop=True)
    return out


def select_params(posterior: xr.Dataset, items: Iterable[Any]) -> dict[str, xr.DataArray]:
    """Pick named scalar draws from a posterior.

    Each item is ``(name, variable, dim, label)`` (dim and label ``None`` for a scalar variable), e.g.
    ``("u[3]", "u", "j", "3")``; objects with those attributes work too. A label is looked up in ``dim``, or in
    the variable's one dimension besides chain and draw when ``dim`` is not one of its dims.

    Raises
    ------
    FitError
        When a variable or label is not in the posterior.
    """
    from partclust.errors import FitError

    out: dict[str, xr.DataArray] = {}
    for item in items:
        name, var, dim, label = (item if isinstance(item, tuple) else (item.name, item.var, item.dim, item.label))
        if var not in posterior:
            raise FitError(f"the posterior has no variable {var!r} (needed for {name})")
        da = posterior[var]
        if label is not None:
            extra = [d for d in da.dims if d not in ("chain", "draw")]
            if dim not in da.dims and len(extra) == 1:
                dim = extra[0]
            if dim not in da.dims or str(label) not in set(map(str, da.coords[dim].values)):
                raise FitError(f"the posterior's {var} has no {dim} = {label!r} (needed for {name})")
            labels = [str(v) for v in da.coords[dim].values]
            da = da.isel({dim: labels.index(str(label))}, drop=True)
        out[name] = da
    return out


def summarize(posterior: xr.Dataset, residual: str | Sequence[str]) -> pd.DataFrame:
    """Posterior table with MCSEs (ArviZ, rank-normalized, over all chains).

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws with dims (chain, draw[, cluster]): b0, b1, s2u, the residual variance(s), optionally u.
    residual : {"single", "per_condition"} or sequence of str
        A built-in model's residual structure, or the names of the scalar parameters in table order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`, one row per scalar then ``u[<cluster label>]``; values in the
        parameters' units (variances in outcome units²), ESS in draws. ``mean``, ``sd`` (ddof 1) and the
        quantiles are computed from all draws pooled; ``mcse_*``, ``ess_bulk``, ``ess_tail`` and
        ``r_hat`` are ArviZ's (Vehtari et al. 2021).

    Raises
    ------
    SpecError
        For an unknown residual structure.
    """
    return summarize_params(flat_params(posterior, residual))


def summarize_params(params: dict[str, xr.DataArray]) -> pd.DataFrame:
    """:func:`summarize` for any named scalar draws (dims chain, draw), in the given order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`, one row per entry of ``params``.
    """
    from arviz_stats.base import array_stats  # ArviZ's diagnostics on arrays, without its plotting package
    from arviz_stats.validate import validate_ci_prob

    # one (parameter, chain, draw) array: each statistic is one vectorized ArviZ call rather than one
    # xarray apply_ufunc per parameter (the same functions and numbers as ``arviz_stats.ess(dataset)``)
    draws = np.stack([np.asarray(v.transpose("chain", "draw"), dtype=float) for v in params.values()])
    stats: dict[str, np.ndarray] = {
        "mcse_mean": array_stats.mcse(draws, method="mean"),
        "mcse_sd": array_stats.mcse(draws, method="sd"),
        "ess_bulk": array_stats.ess(draws, method="bulk"),
        "ess_tail": array_stats.ess(draws, method="tail", prob=validate_ci_prob(None)),  # ArviZ's default
        "r_hat": array_stats.rhat(draws),
    }
    for col, p in QUANTILES.items():
        stats[f"mcse_{col}"] = array_stats.mcse(draws, method="quantile", prob=p)
    flat = draws.reshape(len(draws), -1)
    rows = []
    for k, name in enumerate(params):
        row = {"param": name, "mean": flat[k].mean(), "sd": flat[k].std(ddof=1)}
        for col, p in QUANTILES.items():
            row[col] = float(np.quantile(flat[k], p))
        for col, st in stats.items():
            row[col] = float(st[k])
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def convergence_gate(summary: pd.DataFrame, divergences: int) -> dict[str, Any]:
    """Apply the convergence gate (:data:`GATE`) to a summary.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`summarize` (columns ``r_hat``, ``ess_bulk``, ``ess_tail`` are read).
    divergences : int
        Divergent transitions after tuning, over all chains.

    Returns
    -------
    dict
        ``passed`` (bool), ``checks`` (per check), ``worst`` (largest R-hat, smallest ESS,
        divergences), ``thresholds`` and ``reason`` ("" when passed, else the failed checks).
    """
    worst = {
        "r_hat_max": float(summary["r_hat"].max()),
        "ess_bulk_min": float(summary["ess_bulk"].min()),
        "ess_tail_min": float(summary["ess_tail"].min()),
        "divergences": int(divergences),
    }
    checks = {
        "r_hat": worst["r_hat_max"] <= GATE["r_hat_max"],
        "ess_bulk": worst["ess_bulk_min"] >= GATE["ess_bulk_min"],
        "ess_tail": worst["ess_tail_min"] >= GATE["ess_tail_min"],
        "divergences": worst["divergences"] <= GATE["divergences_max"],
    }
    failed = [k for k, ok in checks.items() if not ok]
    return {
        "passed": not failed,
        "checks": checks,
        "worst": worst,
        "thresholds": dict(GATE),
        "reason": "" if not failed else "failed: " + ", ".join(
            f"{k} ({_worst_text(k, worst)})" for k in failed
        ),
    }


def _worst_text(check: str, worst: dict[str, float]) -> str:
    key = {"r_hat": "r_hat_max", "ess_bulk": "ess_bulk_min", "ess_tail": "ess_tail_min"}.get(check, "divergences")
    return f"{key}={worst[key]:.4g}"


