"""Figures of the researcher's other questions: efficiency of set-ups, residual-model choice, prior sensitivity."""

from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["efficiency_plot", "pareto_k_plot", "variance_ratio_plot", "prior_sensitivity_plot"]


def efficiency_plot(table: pd.DataFrame, target: float) -> plt.Figure:
    """Per residual model: σ²_u's bulk ESS per draw and the draws needed for MCSE ≤ ``target`` per set-up.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`partclust.studies.efficiency.efficiency_table`.
    target : float
        The MCSE of σ²_u's mean (outcome units²) the draws are for.
    """
    residuals = list(dict.fromkeys(table["residual"]))
    fig, axes = plt.subplots(len(residuals), 2, figsize=(12, 1.2 + 0.45 * len(table)), squeeze=False)
    for row, residual in zip(axes, residuals):
        g = table[table["residual"] == residual].iloc[::-1]
        y = np.arange(len(g))
        row[0].barh(y, g["ess_bulk_per_draw"], color="tab:blue")
        row[0].set_yticks(y, g["config"])
        row[0].set_xlabel("bulk ESS of σ²_u per draw (1 = i.i.d.)")
        row[0].set_title(f"{residual} residual: mixing")
        row[1].barh(y, g["draws_needed"], color="tab:orange")
        row[1].set_xscale("log")
        row[1].set_yticks(y, [""] * len(g))
        row[1].set_xlabel(f"draws needed for MCSE ≤ {target:g} on σ²_u's mean (log scale)")
        row[1].set_title(f"{residual} residual: cost of a target MCSE")
    fig.suptitle("Efficiency of each parameterization × sampler for σ²_u")
    fig.tight_layout()
    return fig


def pareto_k_plot(loos: Mapping[str, Any], threshold: float = 0.7) -> plt.Figure:
    """PSIS-LOO's Pareto k of every observation for each model, with the reliability threshold."""
    fig, axes = plt.subplots(1, len(loos), figsize=(5.5 * len(loos), 3.5), squeeze=False, sharey=True)
    for ax, (model, loo) in zip(axes[0], loos.items()):
        k = np.asarray(loo.pareto_k).ravel()
        ax.plot(np.arange(k.size), k, ".", ms=4)
        ax.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"k = {threshold:g}")
        ax.set_xlabel("observation (row of the data)")
        ax.set_ylabel("Pareto k")
        ax.set_title(f"{model} residual: {int((k > threshold).sum())} of {k.size} above {threshold:g}")
        ax.legend(fontsize=8)
    fig.suptitle("PSIS-LOO reliability (Pareto k diagnostic)")
    fig.tight_layout()
    return fig


def variance_ratio_plot(ratio_draws: np.ndarray, p_greater: float,
                        label: str = "σ²_e,control / σ²_e,treated") -> plt.Figure:
    """Histogram of σ²_e,control / σ²_e,treated draws on a log axis, with the ratio 1 marked.

    ``label`` names the ratio on the axis (a PROC MCMC program's names, e.g. ``s2e_control / s2e_treated``).
    """
    r = np.asarray(ratio_draws, dtype=float).ravel()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(r, bins=np.geomspace(r.min(), r.max(), 60), density=False, alpha=0.7)
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", ls="--", lw=1, label="equal variances")
    ax.set_xlabel(f"{label} (unitless, log scale)")
    ax.set_ylabel("draws")
    ax.set_title(f"Posterior of the residual variance ratio: P(ratio > 1) = {p_greater:.3f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def prior_sensitivity_plot(curves: pd.DataFrame, table: pd.DataFrame) -> plt.Figure:
    """Prior (dashed) and exact posterior (solid) densities of σ²_u per prior; posterior means and 95 % intervals.

    Parameters
    ----------
    curves : pandas.DataFrame
        :func:`partclust.studies.sensitivity.density_curves`.
    table : pandas.DataFrame
        :func:`partclust.studies.sensitivity.sensitivity_table`.
    """
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.5, 1]})
    priors = list(dict.fromkeys(curves["prior"]))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    top = 0.0
    for k, name in enumerate(priors):
        c = curves[curves["prior"] == name]
        color = colors[k % len(colors)]
        ax0.plot(c["s2u"], c["posterior_density"], color=color, lw=1.8, label=name)
        ax0.plot(c["s2u"], c["prior_density"], color=color, lw=1, ls="--")
        top = max(top, float(c["posterior_density"].max()))
    ax0.set_ylim(0, 1.15 * top)
    ax0.set_xlabel("σ²_u (outcome units²)")
    ax0.set_ylabel("density per outcome unit²")
    ax0.set_title("σ²_u: exact posterior (solid) and prior (dashed)")
    ax0.legend(fontsize=7)
    t = table[table["param"] == "s2u"].iloc[::-1]
    y = np.arange(len(t))
    ax1.errorbar(t["mean"], y, xerr=[t["mean"] - t["q2.5"], t["q97.5"] - t["mean"]], fmt="o", capsize=3,
                 label="mean, 95 % interval")
    ax1.plot(t["median"], y, "k|", ms=12, label="median")
    ax1.set_yticks(y, t["prior"], fontsize=8)
    ax1.set_ylim(-1.3, len(t) - 0.5)  # room below the last prior for the legend
    ax1.set_xlabel("σ²_u (outcome units²)")
    ax1.set_title("σ²_u under each prior (exact)")
    ax1.legend(fontsize=7, loc="lower right", ncol=2)
    fig.suptitle("How much the σ²_u prior matters")
    fig.tight_layout()
    return fig
