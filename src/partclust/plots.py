"""Figures shared by the notebooks: the data by arm and cluster, the model graph, fit diagnostics.

Every function returns a matplotlib figure (or a displayable object) and never shows or saves it:
the notebook decides, so reports embed exactly what a reader sees in JupyterLab.
"""

from __future__ import annotations

import shutil
from typing import Any

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from partclust.data import Design, design_frame


def model_graph(model) -> Any:
    """The PyMC model graph (graphviz) where Graphviz's ``dot`` is installed, else the model's text."""
    import pymc as pm

    if shutil.which("dot"):
        return pm.model_to_graphviz(model)
    return model.str_repr() if hasattr(model, "str_repr") else str(model)


def outcome_by_arm_and_cluster(design: Design) -> plt.Figure:
    """Strip plot of y for every control and every treated cluster, with cluster means."""
    df = design_frame(design)
    fig, (ax0, ax1) = plt.subplots(
        1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, max(3, design.n_clusters / 3)]}, sharey=True
    )
    rng = np.random.default_rng(0)
    for k, arm in enumerate(("control", "treated")):
        yy = df.loc[df.arm == arm, "y"].to_numpy()
        ax0.scatter(k + rng.uniform(-0.15, 0.15, yy.size), yy, s=10, alpha=0.6)
        ax0.hlines(yy.mean(), k - 0.3, k + 0.3, color="k")
    ax0.set_xticks([0, 1], ["control\n(unclustered)", "treated\n(all clusters)"])
    ax0.set_ylabel("outcome y")
    ax0.set_title("Outcome by arm (line: arm mean)")
    treated = df[df.arm == "treated"]
    for k, label in enumerate(design.clusters):
        yy = treated.loc[treated.cluster == label, "y"].to_numpy()
        ax1.scatter(k + rng.uniform(-0.15, 0.15, yy.size), yy, s=10, alpha=0.6)
        ax1.hlines(yy.mean(), k - 0.3, k + 0.3, color="k")
    ax1.axhline(treated["y"].mean(), color="grey", ls="--", lw=1, label="treated-arm mean")
    ax1.set_xticks(range(design.n_clusters), [f"{c}\n(n={design.cluster_sizes[c]})" for c in design.clusters])
    ax1.set_xlabel("treated cluster (label and size)")
    ax1.set_title("Treated subjects by cluster (line: cluster mean)")
    ax1.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def cluster_size_table(design: Design) -> pd.DataFrame:
    df = design_frame(design)
    t = df[df.arm == "treated"].groupby("cluster", sort=False)["y"].agg(["size", "mean", "std"])
    return t.reindex(list(design.clusters)).rename(columns={"size": "n", "std": "sd"})


def trace_plot(trace, var_names: list[str]) -> plt.Figure:
    """Per-chain densities and traces (ArviZ)."""
    pc = az.plot_trace_dist(trace, var_names=var_names, backend="matplotlib")
    return _figure_of(pc, "Trace and per-chain density")


def rank_plot(trace, var_names: list[str], max_points: int = 500) -> plt.Figure:
    """Rank ECDF plots: chains that mix well stay inside the envelope.

    Thinned to about ``max_points`` draws per chain for the picture (the envelope's simulation is
    what makes this plot slow); the R-hat and ESS numbers use every draw.
    """
    n_draws = trace["posterior"].sizes["draw"]
    pc = az.plot_rank(trace, var_names=var_names, backend="matplotlib", thin=max(1, n_draws // max_points))
    return _figure_of(pc, "Rank ECDF per chain (inside the band = chains agree)")


def _figure_of(pc, title: str) -> plt.Figure:
    fig = pc.viz["figure"].item() if "figure" in pc.viz else plt.gcf()
    fig.suptitle(title)
    return fig


def close_all() -> None:
    """Free the figures already displayed (a study kernel runs many notebooks in one process)."""
    plt.close("all")


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


def calibration_plot(mc: pd.DataFrame, band: tuple[float, float], title: str) -> plt.Figure:
    """SD of seed means / RMS MCSE per parameter with 95 % intervals; 1 means the MCSE is right."""
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(mc) + 1.5))
    y = np.arange(len(mc))[::-1]
    ax.errorbar(mc["calibration_ratio"], y,
                xerr=[mc["calibration_ratio"] - mc["ratio_lo"], mc["ratio_hi"] - mc["calibration_ratio"]],
                fmt="o", capsize=3)
    ax.axvline(1.0, color="k", lw=1)
    if np.all(np.isfinite(band)):
        ax.axvspan(*band, color="grey", alpha=0.15, label="95 % range if the MCSE is right")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(y, mc["param"])
    ax.set_xlabel("calibration ratio: SD across seeds / RMS reported MCSE")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def s2u_density(draws: np.ndarray, exact, reml_value: float | None, title: str) -> plt.Figure:
    """Sampled σ²_u (histogram) with the exact marginal density; mean, median, mode and REML marked."""
    fig, ax = plt.subplots(figsize=(9, 4))
    hi = float(np.quantile(draws, 0.995))
    ax.hist(draws[draws <= hi], bins=80, density=True, alpha=0.45, label=f"PyMC draws ({draws.size:,})")
    xs = np.linspace(1e-4, hi, 400)
    ax.plot(xs, exact.s2u_density(xs), "k-", lw=1.5, label="exact posterior density")
    row = exact.table.set_index("param").loc["s2u"]
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
