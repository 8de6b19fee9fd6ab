"""Figures and tables of the data: the outcome by arm and by treated cluster."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from partclust.data import Design, design_frame

__all__ = ["outcome_by_arm_and_cluster", "cluster_size_table", "outcome_by_group"]


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
    """Per treated cluster: size ``n``, ``mean`` and ``sd`` of y (index: cluster labels in the design's order)."""
    df = design_frame(design)
    t = df[df.arm == "treated"].groupby("cluster", sort=False)["y"].agg(["size", "mean", "std"])
    return t.reindex(list(design.clusters)).rename(columns={"size": "n", "std": "sd"})


def outcome_by_group(data) -> plt.Figure:
    """Strip plot of the outcome for the rows without an effect and for every sampled cluster, with means.

    ``data`` is a :class:`~partclust.models.ModelData` (any model of the family); clusters are in the
    data's order, labelled with their size.
    """
    spec = data.spec
    groups = list(data.groups)
    fig, ax = plt.subplots(figsize=(min(16, 3 + 0.45 * (len(groups) + 1)), 4))
    rng = np.random.default_rng(0)
    series = ([("no effect", data.y[data.group < 0])] if (data.group < 0).any() else [])
    series += [(f"{g}\n(n={n})", data.y[data.group == k]) for k, (g, n) in enumerate(data.group_sizes.items())]
    for k, (_, yy) in enumerate(series):
        ax.scatter(k + rng.uniform(-0.15, 0.15, yy.size), yy, s=8, alpha=0.6)
        ax.hlines(yy.mean(), k - 0.3, k + 0.3, color="k")
    ax.set_xticks(range(len(series)), [label for label, _ in series], fontsize=8)
    ax.set_ylabel(f"outcome {spec.outcome}")
    group = spec.random.group if spec.random is not None else "cluster"
    ax.set_xlabel(f"{group} (label and size); rows the random effect does not touch first")
    ax.set_title(f"{spec.outcome} by {group} (line: mean)")
    fig.tight_layout()
    return fig
