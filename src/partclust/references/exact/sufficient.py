"""Sufficient statistics of the model family and everything Gaussian given the variances.

For y = X·b + z ⊙ u[g] + e with residual variance s_r per residual group r (constant within a
cluster), cluster k's covariance block is V_k = s·I + σ²_u·z_k z_kᵀ, so (STUDY.md, "The model family")

    V_k⁻¹ = I/s − w_k z_k z_kᵀ,  w_k = σ²_u / (s (s + σ²_u c_k)),  log|V_k| = n_k log s + log(1 + σ²_u c_k / s)

with c_k = z_kᵀz_k. Splitting each cluster into its part along z_k and the rest,

    X_kᵀV_k⁻¹X_k = (X_kᵀX_k − a_k a_kᵀ/c_k)/s + a_k a_kᵀ/(c_k d_k),   d_k = s + σ²_u c_k,

with a_k = X_kᵀz_k (and likewise with t_k = z_kᵀy_k for Xᵀy and yᵀy), every term is positive
semi-definite: nothing cancels however large σ²_u or small s. XᵀV⁻¹X, XᵀV⁻¹y and yᵀV⁻¹y are then sums of
per-residual-group "within" cross products and per-cluster terms, and given the variances a cluster
enters only through (r_k, c_k): clusters are grouped by those, so one value of the variances costs
O(distinct (r, c) × p²) and no n × n matrix is ever formed.

y is first replaced by its residual from ordinary least squares (b = b_ols + b′), which leaves every
posterior unchanged and keeps the quadratic forms free of large cancelling terms.

The same statistics serve the exact posterior (a Normal or flat prior on each fixed effect) and REML
(a flat prior: the integrated likelihood is then the restricted likelihood).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from partclust.errors import SpecError
from partclust.models.priors import Flat, Normal
from partclust.models.model_data import ModelData

__all__ = ["SufficientStats", "Conditionals", "sufficient_stats", "conditionals", "cluster_moments",
           "moment_estimates", "fixed_effect_prior", "LOG_2PI"]

LOG_2PI = math.log(2.0 * math.pi)
MAX_CELLS = 4_000_000
"""Elements per chunk of the per-cluster arrays (bounds memory whatever the number of clusters)."""


@dataclass(frozen=True, eq=False)
class SufficientStats:
    """Per-residual-group cross products and per-cluster statistics of y′ = y − X·b_ols.

    Shapes: R residual groups, K sampled clusters, G distinct (residual group, c_k) pairs, p fixed effects.
    """

    n: int
    p: int
    n_r: np.ndarray  # (R,) rows per residual group
    xtx_r: np.ndarray  # (R, p, p) within: Σ x x' − Σ_clusters a a'/c
    xty_r: np.ndarray  # (R, p) within: Σ x y' − Σ a t/c
    yty_r: np.ndarray  # (R,) within: Σ y'² − Σ t²/c
    k_r: np.ndarray  # (K,) residual group of each cluster
    k_c: np.ndarray  # (K,) c_k = z_k'z_k
    k_a: np.ndarray  # (K, p) a_k = X_k'z_k
    k_t: np.ndarray  # (K,) t_k = z_k'y'_k
    g_r: np.ndarray  # (G,) residual group of each (r, c) group
    g_c: np.ndarray  # (G,)
    g_m: np.ndarray  # (G,) clusters in the group
    g_aa: np.ndarray  # (G, p, p) Σ a a'
    g_at: np.ndarray  # (G, p) Σ a t
    g_tt: np.ndarray  # (G,) Σ t²
    b_ols: np.ndarray  # (p,) the shift: b = b_ols + b'
    prior_prec: np.ndarray  # (p,) 1/variance of each fixed effect's Normal prior; 0 for flat
    prior_mean: np.ndarray  # (p,) its mean minus b_ols (shifted coordinates)
    has_random: bool

    @property
    def n_residual(self) -> int:
        """Number of residual groups R."""
        return int(self.n_r.size)

    @property
    def n_clusters(self) -> int:
        """Number of sampled clusters K."""
        return int(self.k_c.size)


def fixed_effect_prior(md: ModelData) -> tuple[np.ndarray, np.ndarray]:
    """Precision and mean of each fixed effect's prior (precision 0 for a flat prior).

    Raises
    ------
    SpecError
        When a fixed effect has a prior other than Normal or flat (b would not integrate in closed form).
    """
    prec, mean = np.zeros(md.p), np.zeros(md.p)
    for k, name in enumerate(md.fixed_names):
        prior = md.priors[name]
        if isinstance(prior, Normal):
            prec[k], mean[k] = 1.0 / prior.var, prior.mean
        elif not (isinstance(prior, Flat) and prior.lower == -math.inf):
            raise SpecError(f"the exact posterior needs a normal or flat prior on every fixed effect; {name} has "
                            f"{prior.sas(name)}")
    return prec, mean


def sufficient_stats(md: ModelData, prior: bool = True) -> SufficientStats:
    """Compute the statistics of :class:`SufficientStats` for data read through a specification.

    Parameters
    ----------
    md : ModelData
    prior : bool
        Use the fixed effects' priors (the exact posterior); False: flat (REML).

    Raises
    ------
    SpecError
        When the residual-by level varies within a cluster (among rows the effect touches), or a fixed
        effect's prior is neither Normal nor flat.
    """
    y = np.asarray(md.y, dtype=float)
    X = np.asarray(md.X, dtype=float)
    b_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    yr = y - X @ b_ols
    R = len(md.resid_levels)
    resid = np.asarray(md.resid)
    n_r = np.bincount(resid, minlength=R).astype(float)
    xtx_r = np.stack([X[resid == r].T @ X[resid == r] for r in range(R)])
    xty_r = np.stack([X[resid == r].T @ yr[resid == r] for r in range(R)])
    yty_r = np.array([float(yr[resid == r] @ yr[resid == r]) for r in range(R)])
    p = X.shape[1]
    if md.has_random:
        rows = np.flatnonzero(md.group >= 0)
        g = md.group[rows]
        K = md.n_groups
        z = md.effect_multiplier[rows]
        rr = resid[rows]
        lo = np.full(K, R)
        hi = np.full(K, -1)
        np.minimum.at(lo, g, rr)
        np.maximum.at(hi, g, rr)
        mixed = np.flatnonzero(lo != hi)
        if mixed.size:
            labels = ", ".join(md.groups[k] for k in mixed[:5])
            raise SpecError(f"the residual-by column {md.spec.residual_by} varies within cluster(s) {labels}; the "
                            "exact posterior and REML need one residual variance per cluster")
        k_r = lo
        k_c = np.bincount(g, weights=z * z, minlength=K)
        k_a = np.stack([np.bincount(g, weights=z * X[rows, j], minlength=K) for j in range(p)], axis=1)
        k_t = np.bincount(g, weights=z * yr[rows], minlength=K)
        for r in range(R):  # the within parts: remove each cluster's component along z
            mine = k_r == r
            ca = k_a[mine] / k_c[mine, None]
            xtx_r[r] -= k_a[mine].T @ ca
            xty_r[r] -= ca.T @ k_t[mine]
            yty_r[r] -= float(k_t[mine] @ (k_t[mine] / k_c[mine]))
        key = np.stack([k_r.astype(float), k_c], axis=1)
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.ravel()
        G = uniq.shape[0]
        g_m = np.bincount(inv, minlength=G).astype(float)
        g_aa = np.zeros((G, p, p))
        np.add.at(g_aa, inv, k_a[:, :, None] * k_a[:, None, :])
        g_at = np.zeros((G, p))
        np.add.at(g_at, inv, k_a * k_t[:, None])
        g_tt = np.bincount(inv, weights=k_t * k_t, minlength=G)
        g_r, g_c = uniq[:, 0].astype(np.int64), uniq[:, 1]
    else:
        k_r, k_c, k_a, k_t = (np.zeros(0, np.int64), np.zeros(0), np.zeros((0, p)), np.zeros(0))
        g_r, g_c, g_m, g_aa, g_at, g_tt = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros((0, p, p)),
                                           np.zeros((0, p)), np.zeros(0))
    xtx_r = np.stack([_psd(m) for m in xtx_r])
    yty_r = np.maximum(yty_r, 0.0)
    if prior:
        prec, mean = fixed_effect_prior(md)
    else:
        prec, mean = np.zeros(p), np.zeros(p)
    return SufficientStats(int(y.size), p, n_r, xtx_r, xty_r, yty_r, k_r, k_c, k_a, k_t, g_r, g_c, g_m, g_aa, g_at,
                           g_tt, b_ols, prec, np.where(prec > 0, mean - b_ols, 0.0), bool(md.has_random))


def _psd(m: np.ndarray) -> np.ndarray:
    """Symmetrize ``m`` and set its rounding-level negative eigenvalues (from a difference) to zero."""
    m = 0.5 * (m + m.T)
    vals, vecs = np.linalg.eigh(m)
    tol = 1e-12 * max(float(np.abs(vals).max()), 1e-300)
    vals = np.where(vals < tol, np.where(vals > 0, vals, 0.0), vals)
    return (vecs * vals) @ vecs.T


@dataclass(frozen=True, eq=False)
class Conditionals:
    """Everything Gaussian given the variances, over N points of the variances (shifted coordinates b′).

    ``log_lik`` (N,) is log p(y | variances) with b and u integrated out (for a flat prior on some b:
    up to a constant; with every prior flat it is the restricted log-likelihood); ``mu`` (N, p) and
    ``cov`` (N, p, p) are the mean and covariance of b′ = b − b_ols; ``s2u`` (N,) and ``s`` (N, R) the
    variances.
    """

    log_lik: np.ndarray
    mu: np.ndarray
    cov: np.ndarray
    s2u: np.ndarray
    s: np.ndarray
    shape: tuple[int, ...] = ()

    def grid(self, values: np.ndarray) -> np.ndarray:
        """``values`` (N, …) back on the broadcast shape of the variances given."""
        return values.reshape(self.shape + values.shape[1:])


def conditionals(suff: SufficientStats, s2u: Any, residuals: list[Any]) -> Conditionals:
    """Log p(y | θ) and the Gaussian conditionals of b at variances θ, any (broadcast) shape.

    Parameters
    ----------
    suff : SufficientStats
    s2u : array_like
        σ²_u (ignored without a random effect).
    residuals : list of array_like
        One residual variance per residual group.

    Returns
    -------
    Conditionals
        Flattened over the broadcast shape of the inputs (N points), in the order of ``numpy.broadcast``.
    """
    arrs = np.broadcast_arrays(np.asarray(s2u, dtype=float), *[np.asarray(v, dtype=float) for v in residuals])
    shape = arrs[0].shape
    flat = [a.reshape(-1) for a in arrs]
    s_all = np.stack(flat[1:], axis=1)
    n_pts = flat[0].size
    per = max(1, MAX_CELLS // max(1, (suff.g_c.size + 1) * suff.p * suff.p))
    parts = [_conditionals(suff, flat[0][a:a + per], s_all[a:a + per]) for a in range(0, n_pts, per)]
    if not parts:
        return Conditionals(np.zeros(0), np.zeros((0, suff.p)), np.zeros((0, suff.p, suff.p)), flat[0], s_all, shape)
    return Conditionals(*(np.concatenate([getattr(c, k) for c in parts]) for k in ("log_lik", "mu", "cov")),
                        flat[0], s_all, shape)


def _conditionals(suff: SufficientStats, s2u: np.ndarray, s: np.ndarray) -> Conditionals:
    inv_s = 1.0 / s  # (N, R)
    pp = suff.p * suff.p
    A = (inv_s @ suff.xtx_r.reshape(-1, pp)).reshape(-1, suff.p, suff.p)
    c = inv_s @ suff.xty_r
    quad = inv_s @ suff.yty_r
    logdet = np.log(s) @ suff.n_r
    if suff.has_random and suff.g_c.size:
        sg = s[:, suff.g_r]  # (N, G)
        d = sg + s2u[:, None] * suff.g_c
        w = 1.0 / (suff.g_c * d)  # the component along z: a a'/(c d), positive
        logdet = logdet + np.log1p(s2u[:, None] * suff.g_c / sg) @ suff.g_m
        A = A + (w @ suff.g_aa.reshape(-1, pp)).reshape(-1, suff.p, suff.p)
        c = c + w @ suff.g_at
        quad = quad + w @ suff.g_tt
    P = suff.prior_prec
    A = A + np.diag(P)
    c = c + P * suff.prior_mean
    quad = quad + float(np.sum(P * suff.prior_mean**2))
    cov, logdet_a = _inverse_and_logdet(A)
    mu = np.einsum("nij,nj->ni", cov, c)
    proper = P > 0
    log_norm = float(np.sum(np.log(P[proper]))) + float((~proper).sum()) * LOG_2PI
    resid_quad = quad - np.einsum("ni,ni->n", c, mu)  # r'V⁻¹r ≥ 0; below 0 only where rounding won
    resid_quad = np.where(resid_quad >= -1e-9 * np.abs(quad), np.maximum(resid_quad, 0.0), np.nan)
    log_lik = -0.5 * (suff.n * LOG_2PI + logdet + resid_quad + logdet_a - log_norm)
    log_lik = np.where(np.isfinite(log_lik), log_lik, -np.inf)
    return Conditionals(log_lik, mu, cov, s2u, s, (s2u.size,))


def moment_estimates(suff: SufficientStats) -> tuple[float, np.ndarray]:
    """Rough moment estimates of σ²_u (NaN without a random effect) and of each residual variance.

    Residual variances from the ordinary least-squares residuals of each group; σ²_u from the per-cluster
    slopes t_k/c_k, whose spread is σ²_u plus their sampling variance s/c_k. Starting values for the
    mode search and REML.
    """
    tot = suff.yty_r + (np.bincount(suff.k_r, weights=suff.k_t**2 / np.maximum(suff.k_c, 1e-300),
                                    minlength=suff.n_r.size) if suff.has_random else 0.0)
    res = np.maximum(tot / np.maximum(suff.n_r - suff.p * suff.n_r / suff.n, 1.0), 1e-8 * max(float(tot.max()), 1e-300))
    if not suff.has_random:
        return math.nan, res
    c = np.maximum(suff.k_c, 1e-300)
    u_hat, u_var = suff.k_t / c, res[suff.k_r] / c
    s2u = max(float(np.mean(u_hat**2) - np.mean(u_var)), 0.1 * float(np.mean(u_var)), 1e-6 * float(res.mean()))
    return s2u, res


def _inverse_and_logdet(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log determinants of a stack of symmetric positive-definite matrices (N, p, p).

    Each matrix is first equilibrated to unit diagonal (its entries may span hundreds of orders of
    magnitude at extreme variances), then inverted by closed-form cofactors for p ≤ 3 (numpy's batched
    LAPACK calls cost microseconds per matrix) or by LAPACK otherwise. A matrix that is not positive
    definite gets a log determinant of NaN.
    """
    p = A.shape[-1]
    diag = np.diagonal(A, axis1=1, axis2=2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dinv = 1.0 / np.sqrt(diag)
        B = A * dinv[:, :, None] * dinv[:, None, :]
        if p == 1:
            inv, det = np.ones_like(B), np.ones(B.shape[0])
        elif p == 2:
            b = B[:, 0, 1]
            det = 1.0 - b * b
            inv = np.stack([np.stack([np.ones_like(b), -b], -1), np.stack([-b, np.ones_like(b)], -1)], -2) \
                / det[:, None, None]
        elif p == 3:
            b, c, e = B[:, 0, 1], B[:, 0, 2], B[:, 1, 2]
            c00, c01, c02 = 1.0 - e * e, c * e - b, b * e - c
            c11, c12, c22 = 1.0 - c * c, b * c - e, 1.0 - b * b
            det = c00 + b * c01 + c * c02
            inv = np.stack([np.stack([c00, c01, c02], -1), np.stack([c01, c11, c12], -1),
                            np.stack([c02, c12, c22], -1)], -2) / det[:, None, None]
        else:
            ok = np.isfinite(B).all(axis=(1, 2))
            inv = np.full_like(B, np.nan)
            det = np.full(B.shape[0], np.nan)
            if ok.any():
                sign, logabs = np.linalg.slogdet(B[ok])
                det[ok] = np.where(sign > 0, np.exp(logabs), np.nan)
                inv[ok] = np.linalg.inv(B[ok])
        logdet = np.where(det > 0, np.log(det), np.nan) + np.log(diag).sum(axis=1)
        return inv * dinv[:, :, None] * dinv[:, None, :], logdet


def cluster_moments(suff: SufficientStats, g: Conditionals, clusters: slice) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray, np.ndarray]:
    """E[u_k | θ, y], Var(u_k | θ, y) and the pieces of u_k | θ, b, y for a slice of clusters.

    Returns
    -------
    (mean, var, shrink, cond_var)
        Each (N, k) for the N points of ``g``: mean and variance of u_k given θ; ``shrink`` = σ²_u/d_k and
        ``cond_var`` = σ²_u s/d_k, so that u_k | θ, b′ ~ N(shrink·(t_k − a_k′b′), cond_var).
    """
    r, c, a, t = suff.k_r[clusters], suff.k_c[clusters], suff.k_a[clusters], suff.k_t[clusters]
    s = g.s[:, r]
    d = s + g.s2u[:, None] * c
    shrink = g.s2u[:, None] / d
    mean = shrink * (t - g.mu @ a.T)
    quad = np.einsum("nij,ki,kj->nk", g.cov, a, a)
    cond_var = shrink * s
    return mean, cond_var + shrink**2 * quad, shrink, cond_var
