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


def rank_plot(trace, var_names: list[str]) -> plt.Figure:
    """Rank ECDF plots: chains that mix well stay inside the envelope."""
    pc = az.plot_rank(trace, var_names=var_names, backend="matplotlib")
    return _figure_of(pc, "Rank ECDF per chain (inside the band = chains agree)")


def _figure_of(pc, title: str) -> plt.Figure:
    fig = pc.viz["figure"].item() if "figure" in pc.viz else plt.gcf()
    fig.suptitle(title)
    return fig
