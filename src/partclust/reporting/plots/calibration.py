"""Figures of the calibration studies: SBC rank histograms and ECDF differences, coverage and bias by design.

The ECDF-difference bands are ArviZ's simultaneous bands (``arviz_stats.ecdf_utils.ecdf_pit``: pointwise
bands whose level is adjusted by simulation so that the whole curve stays inside with the stated
probability, Säilynoja, Bürkner & Vehtari 2022). Each function returns a matplotlib figure and never shows
or saves it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["rank_histograms", "ecdf_differences", "coverage_plot", "bias_plot", "BAND_PROB"]

BAND_PROB = 0.95
"""Probability of the simultaneous ECDF band and of the per-bin binomial band of the rank histograms."""


def _grid(n_rows: int, n_cols: int, width: float = 2.6, height: float = 2.2):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width * n_cols + 0.6, height * n_rows + 0.6), squeeze=False,
                             layout="constrained")
    return fig, axes


def _panels(frame: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Each model with its parameters: fixed effects, σ²_u, then the residual variances."""
    def order(p: str) -> tuple:
        return (0 if p.startswith("b") else 1 if p == "s2u" else 2, p)

    return [(m, sorted(frame.loc[frame["model"] == m, "parameter"].unique(), key=order))
            for m in sorted(frame["model"].unique())]


def rank_histograms(ranks: pd.DataFrame, bins: int = 10) -> Any:
    """Draw SBC rank histograms per model (rows) and parameter (columns) with the uniform expectation.

    Parameters
    ----------
    ranks : pandas.DataFrame
        Columns ``model``, ``parameter``, ``rank``, ``n_draws`` (ranks 0 … n_draws).
    bins : int

    Returns
    -------
    matplotlib.figure.Figure
        Counts per bin; the line is the expected count under uniformity, the grey band its central
        ``BAND_PROB`` binomial range per bin (Talts et al. 2018, Fig. 2).
    """
    from scipy import stats

    panels = _panels(ranks)
    fig, axes = _grid(len(panels), max(len(p) for _, p in panels))
    for i, (model, params) in enumerate(panels):
        for ax in axes[i, len(params):]:
            ax.set_axis_off()
        for j, param in enumerate(params):
            ax = axes[i, j]
            g = ranks[(ranks["model"] == model) & (ranks["parameter"] == param)]
            L = int(g["n_draws"].iloc[0])
            edges = np.linspace(-0.5, L + 0.5, bins + 1)
            n = len(g)
            p = 1.0 / bins
            lo, hi = stats.binom.ppf([(1 - BAND_PROB) / 2, (1 + BAND_PROB) / 2], n, p)
            ax.axhspan(lo, hi, color="0.85", zorder=0)
            ax.axhline(n * p, color="0.4", lw=1)
            ax.hist(g["rank"], bins=edges, color="C0", edgecolor="white")
            ax.set_title(f"{model}: {param}", fontsize=9)
            ax.set_xlabel(f"SBC rank (0–{L})")
            if j == 0:
                ax.set_ylabel("replicates")
    per_model = ", ".join(f"{m}: {n}" for m, n in ranks.groupby("model")["replicate"].nunique().items())
    fig.suptitle(f"SBC rank histograms (replicates {per_model}; band: central {BAND_PROB:.0%} binomial range per bin)")
    return fig


def ecdf_differences(pit: pd.DataFrame, n_simulations: int = 1000, seed: int = 214) -> Any:
    """Draw ECDF − uniform CDF of the fractional SBC ranks with ArviZ's simultaneous band.

    Parameters
    ----------
    pit : pandas.DataFrame
        Columns ``model``, ``parameter``, ``pit`` (fractional ranks in (0, 1)).
    n_simulations : int
        Simulations ArviZ uses to set the band's pointwise level.
    seed : int

    Returns
    -------
    matplotlib.figure.Figure
        One panel per model × parameter; outside the band means "not uniform" at level 1 − ``BAND_PROB``
        for the whole curve.
    """
    from arviz_stats.ecdf_utils import ecdf_pit

    panels = _panels(pit)
    fig, axes = _grid(len(panels), max(len(p) for _, p in panels))
    for i, (model, params) in enumerate(panels):
        for ax in axes[i, len(params):]:
            ax.set_axis_off()
        for j, param in enumerate(params):
            ax = axes[i, j]
            vals = pit.loc[(pit["model"] == model) & (pit["parameter"] == param), "pit"].to_numpy()
            if vals.size < 2:
                ax.set_axis_off()
                continue
            x, ecdf, lower, upper = ecdf_pit(vals, BAND_PROB, n_simulations, rng=np.random.default_rng(seed))
            ax.fill_between(x, lower - x, upper - x, color="0.85", step="post", label=f"{BAND_PROB:.0%} simultaneous")
            ax.step(x, ecdf - x, where="post", color="C0")
            ax.axhline(0, color="0.4", lw=0.8)
            ax.set_title(f"{model}: {param}", fontsize=9)
            ax.set_xlabel("fractional rank")
            if j == 0:
                ax.set_ylabel("ECDF − uniform")
    fig.suptitle("SBC: ECDF difference of fractional ranks with ArviZ's simultaneous band")
    return fig


def _nominal_band(n: float, nominal: float) -> tuple[float, float]:
    half = 1.96 * np.sqrt(nominal * (1 - nominal) / max(n, 1))
    return max(nominal - half, 0.0), min(nominal + half, 1.0)


def coverage_plot(coverage: pd.DataFrame, parameters: Sequence[str] = ("b1", "s2u"), x: str = "treated_clusters",
                  nominal: float = 0.95) -> Any:
    """Plot interval coverage against a design factor, one line per other-factor combination and model.

    Parameters
    ----------
    coverage : pandas.DataFrame
        ``coverage.csv`` (:data:`partclust.studies.simulation.COVERAGE_COLUMNS`).
    parameters : sequence of str
        One panel column each.
    x : str
        The design factor on the x axis.
    nominal : float
        The nominal coverage; the grey band is nominal ± 1.96 √(nominal(1 − nominal)/n) for the
        replicates per cell (where a calibrated interval's observed coverage falls 95 % of the time).

    Returns
    -------
    matplotlib.figure.Figure
        Rows: models; error bars ± 1 Monte Carlo SE.
    """
    return _by_factor(coverage, parameters, x, "coverage", "coverage_mcse", nominal)


def bias_plot(coverage: pd.DataFrame, parameters: Sequence[str] = ("b1", "s2u"), x: str = "treated_clusters") -> Any:
    """Plot bias (posterior mean − truth) against a design factor, with ± 1 Monte Carlo SE.

    Returns
    -------
    matplotlib.figure.Figure
        Rows: models; columns: ``parameters``; units of each parameter (squared for variances).
    """
    return _by_factor(coverage, parameters, x, "bias", "bias_mcse", None)


def _by_factor(coverage: pd.DataFrame, parameters: Sequence[str], x: str, y: str, err: str,
               nominal: float | None) -> Any:
    from partclust.studies.simulation import FACTORS

    models = sorted(coverage["model"].unique())
    others = [f for f in FACTORS if f != x and coverage[f].nunique() > 1]
    fig, axes = _grid(len(models), len(parameters), width=3.6, height=2.8)
    for i, model in enumerate(models):
        for j, param in enumerate(parameters):
            ax = axes[i, j]
            sub = coverage[(coverage["model"] == model) & (coverage["parameter"] == param)]
            if sub.empty:
                ax.set_axis_off()
                continue
            if nominal is not None:
                lo, hi = _nominal_band(float(sub["n"].median()), nominal)
                ax.axhspan(lo, hi, color="0.88", zorder=0)
                ax.axhline(nominal, color="0.4", lw=0.8)
            else:
                ax.axhline(0.0, color="0.4", lw=0.8)
            groups = sub.groupby(others, sort=True) if others else [((), sub)]
            for k, (key, g) in enumerate(groups):
                g = g.sort_values(x)
                label = ", ".join(f"{f}={v}" for f, v in zip(others, key if isinstance(key, tuple) else (key,)))
                ax.errorbar(g[x].astype(str) if g[x].dtype == object else g[x], g[y], yerr=g[err], marker="o",
                            ms=3, lw=1, capsize=2, label=label or None, alpha=0.85)
            if sub[x].dtype != object:
                ax.set_xticks(sorted(sub[x].unique()))
            ax.set_title(f"{model}: {param}", fontsize=9)
            ax.set_xlabel(x.replace("_", " "))
            ax.set_ylabel("coverage of 95 % interval" if nominal is not None else f"bias of {param}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="outside lower center", fontsize=7, ncol=min(4, len(labels)))
    what = "Coverage of the central 95 % interval" if nominal is not None else "Bias (posterior mean − truth)"
    note = ("grey: where a calibrated interval's coverage falls 95 % of the time; " if nominal is not None else "")
    fig.suptitle(f"{what} by {x.replace('_', ' ')}\n({note}bars ± 1 Monte Carlo SE)", fontsize=10)
    return fig
