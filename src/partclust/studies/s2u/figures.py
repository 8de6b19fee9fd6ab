"""Figures of the σ²_u investigation: mixing per configuration, traces, and the prior traps."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from partclust.evaluation.mc_error import TARGET_MCSE

__all__ = ["plot_mixing", "plot_traces", "plot_traps"]


def plot_mixing(mixing: pd.DataFrame, target: float = TARGET_MCSE) -> plt.Figure:
    """ESS per 1,000 draws and across-seed SD of σ²_u's posterior mean, per configuration."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 0.5 * len(mixing) + 2.2), sharey=True)
    y = np.arange(len(mixing))[::-1]
    colors = ["C0" if s != "metropolis" else "C3" for s in mixing["sampler"]]
    ess = mixing["ess_per_1000"].clip(lower=0.1)
    ax0.barh(y, ess, color=colors, alpha=0.8)
    ax0.set_xscale("log")
    ax0.set_yticks(y, [f"{c}\n({n} effects)" for c, n in zip(mixing["config"], mixing["n_effects"])])
    ax0.set_xlabel("bulk ESS of σ²_u per 1,000 draws (log scale)")
    ax0.set_title("Effective draws per 1,000 draws")
    sd = mixing["sd_of_means"].to_numpy(dtype=float)
    lo = np.where(np.isfinite(mixing["sd_lo"]), sd - mixing["sd_lo"], 0.0)
    hi = np.where(np.isfinite(mixing["sd_hi"]), mixing["sd_hi"] - sd, 0.0)
    ax1.errorbar(sd, y, xerr=[lo, hi], fmt="o", color="k", capsize=3, label="SD of seed means (95 % interval)")
    ax1.plot(mixing["rms_mcse"], y, "x", color="C1", ms=8, label="reported MCSE (RMS over seeds)")
    ax1.axvline(target, color="grey", ls="--", lw=1, label=f"target MCSE {target:g}")
    ax1.set_xscale("log")
    ax1.set_xlabel("Monte Carlo error of σ²_u's posterior mean (units², log scale)")
    ax1.set_title("Across-seed spread vs reported MCSE")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower right", ncol=3)
    fig.suptitle("Mixing of σ²_u: 10 vs 110 cluster effects, NUTS vs Metropolis-within-Gibbs")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_traces(traces: Mapping[str, np.ndarray], exact_mean: float | None = None, max_panels: int = 6) -> plt.Figure:
    """Plot the σ²_u draws of one chain per configuration, to see the autocorrelation."""
    items = list(traces.items())[:max_panels]
    fig, axes = plt.subplots(len(items), 1, figsize=(11, 1.6 * len(items) + 1), sharex=False, squeeze=False)
    for ax, (label, draws) in zip(axes[:, 0], items):
        ax.plot(np.arange(draws.size), draws, lw=0.5)
        if exact_mean is not None:
            ax.axhline(exact_mean, color="k", ls="--", lw=1)
        ax.set_ylabel("σ²_u")
        ax.set_title(label, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("draw (after tuning), first chain of the first seed")
    fig.suptitle("Trace of σ²_u per configuration (dashed: exact posterior mean)")
    fig.tight_layout()
    return fig


def plot_traps(traps: pd.DataFrame) -> plt.Figure:
    """σ²_u's posterior mean per prior translation: NUTS (point ± 1.96 SE) and quadrature (cross)."""
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(traps) + 1.8))
    y = np.arange(len(traps))[::-1]
    ax.errorbar(traps["fit_mean"], y, xerr=1.96 * traps["fit_se"].fillna(0), fmt="o", capsize=3,
                label="NUTS, seeds pooled (± 1.96 SE)")
    ax.plot(traps["exact_mean"], y, "x", color="C3", ms=9, label="quadrature (no Monte Carlo error)")
    ref = traps.iloc[0]
    ax.axvline(ref["exact_mean"] if np.isfinite(ref["exact_mean"]) else ref["fit_mean"], color="grey", ls="--",
               lw=1, label=f"{ref['trap']} translation")
    ax.set_yticks(y, traps["trap"])
    ax.set_xlabel("posterior mean of σ²_u (outcome units²)")
    ax.set_title("σ²_u's posterior mean under each translation of the SAS priors")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig
