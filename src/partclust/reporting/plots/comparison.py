"""Figures of comparisons: z against N(0, 1), MCSE calibration, σ²_u's density, forest plots."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["z_against_normal", "calibration_plot", "s2u_density", "forest"]


def z_against_normal(z: pd.DataFrame, title: str) -> plt.Figure:
    """Histogram of per-seed z values with the N(0, 1) density, and a normal QQ plot."""
    from scipy import stats

    vals = z["z"].to_numpy(dtype=float)
    vals = vals[np.isfinite(vals)]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
    lim = max(4.0, float(np.abs(vals).max()) + 0.5) if vals.size else 4.0
    ax0.hist(vals, bins=np.linspace(-lim, lim, 33), density=True, alpha=0.6, label=f"z, {vals.size} values")
    xs = np.linspace(-lim, lim, 200)
    ax0.plot(xs, stats.norm.pdf(xs), "k-", label="N(0, 1)")
    ax0.set_xlabel("z = (seed mean − exact) / MCSE")
    ax0.set_ylabel("density")
    ax0.set_title("Per-seed z against N(0, 1)")
    ax0.legend(fontsize=8)
    q = stats.norm.ppf((np.arange(1, vals.size + 1) - 0.5) / max(vals.size, 1))
    ax1.plot(q, np.sort(vals), ".", ms=4)
    ax1.plot([-lim, lim], [-lim, lim], "k--", lw=1)
    ax1.set_xlabel("N(0, 1) quantile")
    ax1.set_ylabel("observed z quantile")
    ax1.set_title("Normal QQ plot")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def calibration_plot(mc: pd.DataFrame, band: tuple[float, float], title: str, ax: plt.Axes | None = None) -> plt.Figure:
    """SD of seed means / RMS MCSE per parameter with 95 % intervals; 1 means the MCSE is right.

    Drawn on ``ax`` when given (the figure is then ``ax``'s), else on a new figure.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.32 * len(mc) + 1.5))
    else:
        fig = ax.figure
    y = np.arange(len(mc))[::-1]
    ax.errorbar(mc["calibration_ratio"], y,
                xerr=[mc["calibration_ratio"] - mc["ratio_lo"], mc["ratio_hi"] - mc["calibration_ratio"]],
                fmt="o", capsize=3)
    ax.axvline(1.0, color="k", lw=1)
    if np.all(np.isfinite(band)):
        ax.axvspan(*band, color="grey", alpha=0.15, label="95 % range if the MCSE is right")
        ax.set_ylim(-1.4, len(mc) - 0.5)  # an empty row under the last parameter holds the legend, off the data
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(y, mc["param"])
    ax.set_xlabel("calibration ratio: SD across seeds / RMS reported MCSE")
    ax.set_title(title)
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


def s2u_density(draws: np.ndarray, exact, reml_value: float | None, title: str,
                ax: plt.Axes | None = None) -> plt.Figure:
    """Plot sampled σ²_u (histogram) with the exact marginal density; mean, median, mode and REML marked.

    With no draws only the exact density is drawn. Drawn on ``ax`` when given, else on a new figure.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 4))
    else:
        fig = ax.figure
    draws = np.asarray(draws, dtype=float).ravel()
    row = exact.table.set_index("param").loc["s2u"]
    hi = float(np.quantile(draws, 0.995)) if draws.size else 1.6 * float(row["q97.5"])
    if draws.size:
        ax.hist(draws[draws <= hi], bins=80, density=True, alpha=0.45, label=f"PyMC draws ({draws.size:,})")
    xs = np.linspace(1e-4, hi, 400)
    ax.plot(xs, exact.s2u_density(xs), "k-", lw=1.5, label="exact posterior density")
    marks = [("exact mean", row["mean"], "C3"), ("exact median", row["median"], "C2"),
             ("exact mode", exact.s2u_mode, "C4")]
    if reml_value is not None and np.isfinite(reml_value):
        marks.append(("REML estimate", reml_value, "C1"))
    for label, x, color in marks:
        ax.axvline(x, color=color, ls="--", lw=1.2, label=f"{label} {x:.3f}")
    ax.set_xlabel("σ²_u (cluster variance, outcome units²)")
    ax.set_ylabel("posterior density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


def forest(intervals: pd.DataFrame, title: str) -> plt.Figure:
    """Point and 95 % interval per parameter and source (columns param, source, value, lo, hi)."""
    params = list(dict.fromkeys(intervals["param"]))
    sources = list(dict.fromkeys(intervals["source"]))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(params) * max(1, len(sources) / 2) + 1.5))
    step = 0.8 / max(len(sources), 1)
    for k, src in enumerate(sources):
        d = intervals[intervals["source"] == src].set_index("param").reindex(params)
        y = np.arange(len(params))[::-1] + 0.4 - k * step
        has = d["lo"].notna()
        ax.errorbar(d["value"], y, xerr=[(d["value"] - d["lo"]).where(has, 0), (d["hi"] - d["value"]).where(has, 0)],
                    fmt="o", ms=4, capsize=2, label=src)
    ax.set_yticks(np.arange(len(params))[::-1] + 0.4 - step * (len(sources) - 1) / 2, params)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("posterior mean (point) and 95 % interval (bar); outcome units, variances in units²")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig
