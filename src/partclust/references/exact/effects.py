"""The cluster effects' posteriors: a mixture of Gaussians over the quadrature nodes for every cluster.

Given the variances, u_k is Gaussian with mean shrink·(t_k − a_k′E[b′]) and a variance that depends on the
cluster only through its shape (r_k, c_k, a_k) (:func:`~partclust.references.exact.sufficient.cluster_moments`).
Clusters are summarized in chunks, so memory stays bounded whatever their number; for many clusters of one
shape the quantiles are a smooth function of t_k alone and are interpolated on Chebyshev nodes
(spectrally accurate; checked against direct solves).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from partclust.references.exact.sufficient import MAX_CELLS, Conditionals, cluster_moments

__all__ = ["cluster_rows", "CHEBYSHEV_NODES", "SHAPE_GROUP_MIN"]

CHEBYSHEV_NODES = 65
SHAPE_GROUP_MIN = 4 * CHEBYSHEV_NODES
"""Clusters sharing (residual group, z'z, X'z) in groups at least this large get their quantiles from a
Chebyshev interpolant in t = z'y (checked against direct solves), not one solve each."""


def cluster_rows(suff: Any, gk: Conditionals, wk: np.ndarray, mixture_rows: Any, probs: np.ndarray,
                  labels: tuple[str, ...], progress: bool) -> list[list[Any]]:
    """Table rows of every cluster effect, in chunks of clusters so that memory stays bounded.

    Given θ, u_k is Gaussian with mean shrink·(t_k − a_k′E[b′]) and a variance that depends on the
    cluster only through its shape (r_k, c_k, a_k); for many clusters of one shape the quantiles are a
    smooth function of t_k alone, interpolated on Chebyshev nodes (spectrally accurate, and checked
    against direct solves at a few clusters; any miss falls back to solving every cluster).
    """
    K = suff.n_clusters
    shape = np.column_stack([suff.k_r, suff.k_c, suff.k_a])
    _, group_of, counts = np.unique(shape, axis=0, return_inverse=True, return_counts=True)
    group_of = group_of.ravel()
    big = counts[group_of] >= SHAPE_GROUP_MIN
    q_all = np.full((K, probs.size), np.nan)
    mean_all, sd_all = np.full(K, np.nan), np.full(K, np.nan)
    note_all = np.full(K, "", dtype=object)
    for gi in np.flatnonzero(counts >= SHAPE_GROUP_MIN):
        idx = np.flatnonzero(group_of == gi)
        q_all[idx], (mean_all[idx], sd_all[idx], note_all[idx]) = _chebyshev_quantiles(
            suff, gk, wk, idx, probs, mixture_rows)
        if not np.isfinite(q_all[idx]).all():
            big[idx] = False
    per = max(1, MAX_CELLS // max(wk.size, 1))
    order = np.flatnonzero(~big)  # the rest, one mixture per cluster
    chunks = range(0, order.size, per)
    if progress and order.size > per:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="cluster effects", unit="chunk", total=math.ceil(order.size / per), leave=False)
    for a in chunks:
        idx = order[a:a + per]
        u_mean, u_var, _, _ = cluster_moments(suff, gk, idx)
        mean_all[idx], sd_all[idx], q_all[idx], note_all[idx] = mixture_rows(u_mean.T, np.sqrt(u_var).T)
    return [[f"u[{labels[k]}]", mean_all[k], sd_all[k], *q_all[k], note_all[k]] for k in range(K)]


def _chebyshev_quantiles(suff: Any, gk: Conditionals, wk: np.ndarray, idx: np.ndarray, probs: np.ndarray,
                         mixture_rows: Any) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, str]]:
    """Interpolate the quantiles of u_k for clusters ``idx`` of one shape in t_k (NaN if the check fails).

    Also returns their means, SDs and the group's note on heavy tails.
    """
    t = suff.k_t[idx]
    lo, hi = float(t.min()), float(t.max())
    rep = idx[:1]
    _, u_var, shrink, _ = cluster_moments(suff, gk, rep)
    base = gk.mu @ suff.k_a[rep[0]]
    sd_mix = np.sqrt(u_var[:, 0])
    if hi == lo:
        nodes_t = np.array([lo])
    else:
        j = np.arange(CHEBYSHEV_NODES)
        nodes_t = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(np.pi * j / (CHEBYSHEV_NODES - 1))
    m = shrink[:, :1] * (nodes_t[None, :] - base[:, None])
    _, _, q_nodes, node_notes = mixture_rows(m.T, np.repeat(sd_mix[None, :], nodes_t.size, axis=0))
    # mean and second moment are polynomials in t: E = t·Σw·k − Σw·k·base, E2 = Σw·var + Σw·k²·(t − base)²
    k1 = shrink[:, 0]
    mean = t * (wk @ k1) - wk @ (k1 * base)
    second = wk @ u_var[:, 0] + t**2 * (wk @ k1**2) - 2 * t * (wk @ (k1**2 * base)) + wk @ (k1**2 * base**2)
    moments = (mean, np.sqrt(np.maximum(second - mean**2, 0.0)), max(node_notes, key=len))
    if hi == lo:
        return np.repeat(q_nodes, idx.size, axis=0), moments
    bw = np.where(np.arange(CHEBYSHEV_NODES) % 2 == 0, 1.0, -1.0)
    bw[[0, -1]] *= 0.5

    def interp(x: np.ndarray) -> np.ndarray:
        diff = x[:, None] - nodes_t[None, :]
        exact = diff == 0
        diff = np.where(exact, 1.0, diff)
        kern = bw / diff
        out = (kern @ q_nodes) / kern.sum(axis=1, keepdims=True)
        hit = exact.any(axis=1)
        out[hit] = q_nodes[np.argmax(exact[hit], axis=1)]
        return out

    q = np.empty((idx.size, probs.size))
    for a in range(0, idx.size, 100_000):
        q[a:a + 100_000] = interp(t[a:a + 100_000])
    check = idx[np.unique(np.linspace(0, idx.size - 1, 5).astype(int))]
    u_mean, u_var, _, _ = cluster_moments(suff, gk, check)
    _, sd_c, q_direct, _ = mixture_rows(u_mean.T, np.sqrt(u_var).T)
    pos = np.searchsorted(idx, check)
    if np.max(np.abs(q_direct - q[pos]) / sd_c[:, None]) > 1e-9:
        return np.full_like(q, np.nan), moments
    return q, moments
