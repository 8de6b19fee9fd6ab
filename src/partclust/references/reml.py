"""REML for both models: the PROC MIXED / lme4 / nlme frequentist anchor (Patterson and Thompson 1971).

The restricted log-likelihood of y = Xb + u·Tx + e, with V = Var(y) block-diagonal (σ²_e,t·I + σ²_u·J
per treated cluster, σ²_e,c per control), is

    l_R(θ) = -½ [(n - p) log 2π + log|V| + log|X'V⁻¹X| + r'V⁻¹r],   r = y - X b̂,  b̂ the GLS estimate,

the convention of PROC MIXED's "-2 Res Log Like" and of statsmodels' MixedLM (the tests check
the latter to 1e-8; some packages add a constant such as ½ log|X'X|, which leaves estimates and
likelihood-ratio tests unchanged). Each term has a closed form per cluster (matrix determinant
lemma, Sherman–Morrison), so l_R is maximized over the log variances directly. With 10 clusters
the REML σ²_u differs markedly from the posterior mean, median and mode of σ²_u; this module
provides the frequentist number to show beside them.

References
----------
Patterson, H. D. and Thompson, R. (1971). Recovery of inter-block information when block sizes are
unequal. *Biometrika* 58(3), 545–554. doi:10.1093/biomet/58.3.545
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import optimize, stats

from partclust.data import Design
from partclust.errors import SpecError
from partclust.models.names import residual_names
from partclust.validate import check_residual

__all__ = ["RemlFit", "LikelihoodRatioTest", "reml", "lrt", "restricted_loglik"]

_N_FIXED = 2
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True, eq=False)
class _Stats:
    n_j: np.ndarray
    s_j: np.ndarray  # per treated cluster: size and sum of y
    ssw: float  # within-cluster sum of squares, treated arm
    n_c: float
    s_c: float
    q_c: float  # controls: count, sum, sum of squares about the controls' mean
    n: int


def _stats(design: Design) -> _Stats:
    y = np.asarray(design.y, dtype=float)
    treated = np.asarray(design.treat) == 1
    idx = np.asarray(design.cluster_of_row)[treated]
    n_j = np.bincount(idx, minlength=design.n_clusters).astype(float)
    s_j = np.bincount(idx, weights=y[treated], minlength=design.n_clusters)
    ssw = float(np.sum((y[treated] - (s_j / n_j)[idx]) ** 2))
    yc = y[~treated]
    return _Stats(n_j, s_j, ssw, float(yc.size), float(yc.sum()), float(np.sum((yc - yc.mean()) ** 2)), y.size)


def _parts(st: _Stats, s2u: float, s2c: float, s2t: float) -> tuple[float, np.ndarray, np.ndarray]:
    """l_R, the GLS estimate b̂ and its covariance (X'V⁻¹X)⁻¹ at one value of the variances."""
    d = s2t + st.n_j * s2u
    w_t = float(np.sum(st.n_j / d))
    c_t = float(np.sum(st.s_j / d))
    w_c = st.n_c / s2c
    # GLS: b0 is the controls' mean, b0 + b1 the precision-weighted mean of the cluster means; then
    # r'V⁻¹r is a sum of squares about them (no y'V⁻¹y − c'M⁻¹c cancellation).
    mean_c = st.s_c / st.n_c
    mean_t = c_t / w_t
    quad = st.ssw / s2t + float(np.sum((st.s_j / st.n_j - mean_t) ** 2 * st.n_j / d)) + st.q_c / s2c
    logdet_v = float(np.sum(np.log(d))) + (float(st.n_j.sum()) - st.n_j.size) * math.log(s2t)
    logdet_v += st.n_c * math.log(s2c)
    m = np.array([[w_t + w_c, w_t], [w_t, w_t]])
    logdet_m = math.log(w_t) + math.log(w_c)
    b = np.array([mean_c, mean_t - mean_c])
    ll = -0.5 * ((st.n - _N_FIXED) * _LOG_2PI + logdet_v + logdet_m + quad)
    return ll, b, np.linalg.inv(m)


def _split(residual: str, v: np.ndarray) -> tuple[float, float, float]:
    return (v[0], v[1], v[1]) if residual == "single" else (v[0], v[1], v[2])


def restricted_loglik(design: Design, variances: Mapping[str, Any], residual: str = "single") -> float:
    """Evaluate the restricted log-likelihood l_R (module docstring) at given variances.

    Parameters
    ----------
    design : Design
        The validated data.
    variances : mapping of str to float
        ``s2u`` and ``s2e`` (single), or ``s2u``, ``s2e_control`` and ``s2e_treated`` (per-condition),
        in outcome units².
    residual : {"single", "per_condition"}
        The residual structure.

    Returns
    -------
    float
        l_R in nats, on PROC MIXED's scale ("-2 Res Log Like" is −2·l_R).

    Raises
    ------
    SpecError
        For an unknown residual structure or a variance missing from ``variances``.
    """
    names = _names(residual)
    missing = [k for k in names if k not in variances]
    if missing:
        raise SpecError(f"variances for the {residual} model need {names}; missing {missing}")
    v = np.array([float(variances[k]) for k in names])
    return _parts(_stats(design), *_split(residual, v))[0]


def _names(residual: str) -> tuple[str, ...]:
    check_residual(residual)
    return ("s2u",) + residual_names(residual)


@dataclass(frozen=True)
class RemlFit:
    """A REML fit. ``estimates`` and ``se`` are keyed b0, b1, s2u, then the residual variance(s).

    SEs of b are model-based, from (X'V̂⁻¹X)⁻¹ (PROC MIXED's default); SEs of the variances are from
    the observed information of l_R on the variance scale (for σ²_u NaN when it is on its boundary
    0, where the usual asymptotics do not apply).
    """

    residual: str
    estimates: dict[str, float]
    se: dict[str, float]
    loglik: float
    n_obs: int
    s2u_on_boundary: bool
    converged: bool

    @property
    def neg2_res_loglik(self) -> float:
        """PROC MIXED's "-2 Res Log Like"."""
        return -2.0 * self.loglik

    @property
    def table(self) -> pd.DataFrame:
        """The fit as a table: columns ``param``, ``estimate``, ``se``, rows in the order of ``estimates``."""
        return pd.DataFrame(
            {"param": list(self.estimates), "estimate": list(self.estimates.values()),
             "se": [self.se.get(k, math.nan) for k in self.estimates]}
        )


def reml(design: Design, residual: str = "single") -> RemlFit:
    """Fit one model by REML: maximize the restricted likelihood over the log variances.

    Parameters
    ----------
    design : Design
        The validated data.
    residual : {"single", "per_condition"}
        One residual variance, or one per arm (:func:`lrt` compares the two fits).

    Returns
    -------
    RemlFit
        ``estimates`` and ``se`` keyed ``b0``, ``b1``, ``s2u``, then the residual variance(s) (outcome
        units; variances in units²); ``loglik`` the maximized l_R in nats; ``s2u_on_boundary`` when the
        maximum is at σ²_u = 0 (then its SE is NaN); ``converged`` the optimizer's own flag.

    Raises
    ------
    SpecError
        For an unknown residual structure.

    Notes
    -----
    L-BFGS-B over the log variances, polished by Nelder–Mead when σ²_u is interior; the boundary
    σ²_u = 0 (residual variances re-optimized) is taken when its l_R is as high, since a maximum on the
    boundary is common with few clusters and L-BFGS-B on the log scale only approaches it.
    """
    names = _names(residual)
    st = _stats(design)
    dim = len(names)
    s2t0 = st.ssw / max(float(st.n_j.sum()) - st.n_j.size, 1.0)
    s2c0 = st.q_c / max(st.n_c - 1.0, 1.0)
    s2u0 = max(float(np.var(st.s_j / st.n_j)) - s2t0 / float(np.mean(st.n_j)), 0.1 * s2t0)
    x0 = np.log([s2u0, 0.5 * (s2t0 + s2c0)] if dim == 2 else [s2u0, s2c0, s2t0])
    scale = float(np.var(design.y)) or 1.0
    lo_u = math.log(scale) - 30.0  # σ²_u below 1e-13 of var(y) counts as 0

    def neg(x: np.ndarray) -> float:
        return -_parts(st, *_split(residual, np.exp(x)))[0]

    bounds = [(lo_u, math.log(scale) + 20)] + [(math.log(scale) - 30, math.log(scale) + 20)] * (dim - 1)
    opts = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000}
    res = optimize.minimize(neg, x0, method="L-BFGS-B", bounds=bounds, options=opts)
    x = res.x
    if x[0] > lo_u + 1.0:  # interior: polish (L-BFGS-B with numerical gradients stops early)
        polish = optimize.minimize(neg, x, method="Nelder-Mead",
                                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
        if polish.fun <= res.fun:
            x = polish.x
    # σ²_u = 0 exactly, the residual variance(s) re-optimized: the boundary wins if it is as good.
    edge = optimize.minimize(lambda xr: neg(np.concatenate([[-np.inf], xr])), x[1:], method="L-BFGS-B",
                             bounds=bounds[1:], options=opts)
    boundary = edge.fun <= neg(x) + 1e-9 or x[0] < lo_u + 1.0
    if boundary:
        x, res = np.concatenate([[-np.inf], edge.x]), edge
    v = np.exp(x)
    ll, b, cov_b = _parts(st, *_split(residual, v))
    se_v = _variance_se(st, residual, v, boundary)
    estimates = {"b0": float(b[0]), "b1": float(b[1])}
    se = {"b0": math.sqrt(cov_b[0, 0]), "b1": math.sqrt(cov_b[1, 1])}
    for k, name in enumerate(names):
        estimates[name] = float(v[k])
        se[name] = float(se_v[k])
    return RemlFit(residual, estimates, se, float(ll), st.n, bool(boundary), bool(res.success))


def _variance_se(st: _Stats, residual: str, v: np.ndarray, boundary: bool) -> np.ndarray:
    """Return sqrt(diag(H⁻¹)), H the finite-difference Hessian of -l_R on the variance scale.

    Only the variances not on a boundary are included (σ²_u at 0 gets NaN: the usual asymptotics do not
    hold there).
    """
    free = np.arange(1 if boundary else 0, v.size)
    out = np.full(v.size, math.nan)

    def f(w: np.ndarray) -> float:
        full = v.copy()
        full[free] = w
        return -_parts(st, *_split(residual, full))[0]

    x = v[free]
    h = 1e-4 * x
    eye = np.eye(x.size)
    hess = np.empty((x.size, x.size))
    for i in range(x.size):
        for j in range(i, x.size):
            ei, ej = eye[i] * h[i], eye[j] * h[j]
            val = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
            hess[i, j] = hess[j, i] = val
    try:
        out[free] = np.sqrt(np.diag(np.linalg.inv(hess)))
    except np.linalg.LinAlgError:
        pass
    return out


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """Per-condition versus single residual variance: 2·(l_R,pc - l_R,single) against χ²(df)."""

    statistic: float
    df: int
    p_value: float


def lrt(single: RemlFit, per_condition: RemlFit) -> LikelihoodRatioTest:
    """Test σ²_e,control = σ²_e,treated with the restricted likelihoods of the two fits.

    Parameters
    ----------
    single, per_condition : RemlFit
        REML fits of the single-residual and the per-condition model to the same data, in that order.

    Returns
    -------
    LikelihoodRatioTest
        ``statistic`` = 2·(l_R,pc − l_R,single) (floored at 0), ``df`` = 1 and ``p_value`` from χ²(1).

    Raises
    ------
    SpecError
        When the fits are not a single then a per-condition fit, or were made from different data.

    Notes
    -----
    Comparing REML likelihoods is valid here because both models have the same fixed effects
    (b0, b1), so the restricted likelihoods are built from the same error contrasts. The null value
    is interior (a ratio of 1, not a variance of 0), so the χ²(1) reference applies without the
    boundary mixture that a test of σ²_u = 0 would need (Self and Liang 1987).

    References
    ----------
    Self, S. G. and Liang, K.-Y. (1987). Asymptotic properties of maximum likelihood estimators and
    likelihood ratio tests under nonstandard conditions. *JASA* 82(398), 605–610.
    doi:10.1080/01621459.1987.10478472
    """
    if single.residual != "single" or per_condition.residual != "per_condition":
        raise SpecError("lrt(single, per_condition) needs a single-residual fit then a per-condition fit")
    if single.n_obs != per_condition.n_obs:
        raise SpecError(f"the fits use different data ({single.n_obs} vs {per_condition.n_obs} rows)")
    stat = max(2.0 * (per_condition.loglik - single.loglik), 0.0)
    return LikelihoodRatioTest(stat, 1, float(stats.chi2.sf(stat, 1)))
