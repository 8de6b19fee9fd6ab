"""Sufficient statistics of the partially clustered design and everything Gaussian given the variances.

Given the variances, a treated cluster enters the likelihood only through its size and its sum, so
log p(y | θ) with b and u integrated out costs O(number of distinct cluster sizes) per θ (matrix
determinant lemma and Sherman–Morrison per compound-symmetric block).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from partclust.data import Design

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True, eq=False)
class SufficientStats:
    """Sufficient statistics, with y centred at its mean so no large terms cancel.

    Given the variances a treated cluster enters only through its size, so the sums over clusters
    are grouped by distinct size: the cost per grid point is O(number of distinct sizes).
    """

    n_j: np.ndarray  # per cluster: size, centred sum
    s_j: np.ndarray
    sizes: np.ndarray  # distinct sizes, and per size: count, Σ s_j, Σ s_j²/n_j
    count: np.ndarray
    sum_s: np.ndarray
    sum_s2n: np.ndarray
    size_of: np.ndarray  # cluster -> index into sizes
    ssw: float
    n_t: float
    n_c: float
    s_c: float
    q_c: float
    shift: float
    n: int


def sufficient_stats(design: Design) -> SufficientStats:
    """Compute the design's sufficient statistics, y centred at its mean."""
    y = np.asarray(design.y, dtype=float)
    treated = np.asarray(design.treat) == 1
    shift = float(y.mean())
    yc = y - shift
    idx = np.asarray(design.cluster_of_row)[treated]
    yt = yc[treated]
    n_j = np.bincount(idx, minlength=design.n_clusters).astype(float)
    s_j = np.bincount(idx, weights=yt, minlength=design.n_clusters)
    ssw = float(np.sum((yt - (s_j / n_j)[idx]) ** 2))
    sizes, size_of = np.unique(n_j, return_inverse=True)
    group = dict(minlength=sizes.size)
    yk = yc[~treated]
    return SufficientStats(
        n_j, s_j, sizes, np.bincount(size_of, **group).astype(float),
        np.bincount(size_of, weights=s_j, **group), np.bincount(size_of, weights=s_j**2 / n_j, **group),
        size_of, ssw, float(treated.sum()), float(yk.size), float(yk.sum()), float(np.sum(yk**2)),
        shift, int(y.size),
    )


@dataclass(frozen=True, eq=False)
class Conditionals:
    """Everything that is Gaussian given the variances, in centred coordinates."""

    log_lik: np.ndarray
    mu: tuple[np.ndarray, np.ndarray]  # E[b0'], E[b1'] (b0' = b0 - shift)
    cov: tuple[np.ndarray, np.ndarray, np.ndarray]  # Var b0, Var b1, Cov(b0, b1)
    var_eta1: np.ndarray  # Var(b0 + b1)
    s2u: np.ndarray
    s2t: np.ndarray


def conditionals(suff: SufficientStats, s2u: Any, s2c: Any, s2t: Any, b_sd: float) -> Conditionals:
    """Return log p(y | θ) and the Gaussian conditionals of b, broadcast over arrays of variances."""
    s2c = np.asarray(s2c, dtype=float)
    # The O(clusters) work depends on (s2u, s2e_t) only: keep it off the s2e_c axis of a grid.
    s2u, s2t = np.broadcast_arrays(np.asarray(s2u, dtype=float), np.asarray(s2t, dtype=float))
    d = s2t[..., None] + suff.sizes * s2u[..., None]
    inv_d = 1.0 / d
    w_t = inv_d @ (suff.count * suff.sizes)
    c_t = inv_d @ suff.sum_s
    logdet = np.log(d) @ suff.count + (suff.n_t - suff.n_j.size) * np.log(s2t)
    quad = suff.ssw / s2t + inv_d @ suff.sum_s2n
    w_c = suff.n_c / s2c
    logdet = logdet + suff.n_c * np.log(s2c)
    quad = quad + suff.q_c / s2c
    # Prior b ~ N(m0, b_sd² I) with m0 = (-shift, 0) in centred coordinates.
    p0 = 1.0 / b_sd**2
    m0 = -suff.shift
    a00, a01, a11 = w_t + w_c + p0, w_t, w_t + p0
    det = w_t * (w_c + 2.0 * p0) + (w_c + p0) * p0
    c0 = c_t + suff.s_c / s2c + p0 * m0
    c1 = c_t
    mu0 = (a11 * c0 - a01 * c1) / det
    mu1 = (a00 * c1 - a01 * c0) / det
    quad = quad + p0 * m0**2 - (c0 * mu0 + c1 * mu1)
    log_lik = -0.5 * (suff.n * LOG_2PI + logdet + quad + np.log(det) + 4.0 * math.log(b_sd))
    return Conditionals(log_lik, (mu0, mu1), (a11 / det, a00 / det, -a01 / det),
                  (w_c + 2.0 * p0) / det, s2u, s2t)
