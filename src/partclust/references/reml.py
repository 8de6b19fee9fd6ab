"""REML for the whole model family: the PROC MIXED / lme4 / nlme frequentist anchor.

The restricted log-likelihood of y = X·b + z ⊙ u[g] + e, with V = Var(y) block-diagonal
(s·I + σ²_u·z_k z_kᵀ per cluster, s the cluster's residual variance; s for each unclustered row), is

    l_R(θ) = -½ [(n - p) log 2π + log|V| + log|X'V⁻¹X| + r'V⁻¹r],   r = y - X b̂,  b̂ the GLS estimate,

the convention of PROC MIXED's "-2 Res Log Like" and of statsmodels' MixedLM (the tests check
the latter to 1e-8; some packages add a constant such as ½ log|X'X|, which leaves estimates and
likelihood-ratio tests unchanged). It equals the likelihood with b integrated out under a flat
prior, so it is computed from the same per-group sufficient statistics as the exact posterior
(:mod:`partclust.references.exact.sufficient`; no n × n matrix), and maximized over the log variances
directly. With few clusters the REML σ²_u differs markedly from the posterior mean, median and mode
of σ²_u; this module provides the frequentist number to show beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import optimize, stats

from partclust.errors import SpecError
from partclust.references.exact.posterior import as_model_data
from partclust.references.exact.sufficient import SufficientStats, conditionals, moment_estimates, sufficient_stats

__all__ = ["RemlFit", "LikelihoodRatioTest", "reml", "lrt", "restricted_loglik"]


def _loglik(suff: SufficientStats, has_random: bool, v: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """l_R, the GLS estimate b̂ and its covariance (X'V⁻¹X)⁻¹ at one value of the variances."""
    s2u, res = (v[0], list(v[1:])) if has_random else (0.0, list(v))
    with np.errstate(divide="ignore", invalid="ignore"):
        g = conditionals(suff, s2u, res)
    return float(g.log_lik[0]), suff.b_ols + g.mu[0], g.cov[0]


def restricted_loglik(design: Any, variances: Mapping[str, Any], residual: str = "single") -> float:
    """Evaluate the restricted log-likelihood l_R at given variances.

    The variances are ``s2u`` and ``s2e``, or ``s2e_control`` and ``s2e_treated``; in general the data's
    :attr:`~partclust.models.ModelData.variance_names`.

    Raises
    ------
    SpecError
        When a variance is missing.
    """
    md = as_model_data(design, residual)
    names = md.variance_names
    missing = [k for k in names if k not in variances]
    if missing:
        raise SpecError(f"variances for the {md.spec.name} model need {names}; missing {missing}")
    v = np.array([float(variances[k]) for k in names])
    return _loglik(sufficient_stats(md, prior=False), md.has_random, v)[0]


@dataclass(frozen=True)
class RemlFit:
    """A REML fit.

    ``estimates`` and ``se`` are keyed by the fixed effects, then ``s2u``, then the residual variance(s).

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
        """One row per parameter: ``param``, ``estimate``, ``se``."""
        return pd.DataFrame(
            {"param": list(self.estimates), "estimate": list(self.estimates.values()),
             "se": [self.se.get(k, math.nan) for k in self.estimates]}
        )


def reml(design: Any, residual: str = "single") -> RemlFit:
    """Maximize the restricted likelihood over log variances (σ²_u may end on its boundary 0).

    Parameters
    ----------
    design : ModelData or Design
        Data read through a specification, or a run1 design (then ``residual`` chooses the built-in model).
    residual : {"single", "per_condition"}
        For a Design only.

    Returns
    -------
    RemlFit

    Raises
    ------
    SpecError
        For an unknown residual structure, or a residual level that varies within a cluster.
    """
    md = as_model_data(design, residual)
    names = md.variance_names
    has_random = md.has_random
    st = sufficient_stats(md, prior=False)
    dim = len(names)
    s2u0, res0 = moment_estimates(st)
    x0 = np.log(([s2u0] if has_random else []) + list(res0))
    scale = float(np.var(md.y)) or 1.0
    lo_u = math.log(scale) - 30.0  # σ²_u below 1e-13 of var(y) counts as 0

    def neg(x: np.ndarray) -> float:
        val = -_loglik(st, has_random, np.exp(x))[0]
        return val if math.isfinite(val) else 1e300

    bounds = [(math.log(scale) - 30, math.log(scale) + 20)] * dim
    opts = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000}
    res = optimize.minimize(neg, x0, method="L-BFGS-B", bounds=bounds, options=opts)
    x = res.x
    boundary = False
    if not has_random or x[0] > lo_u + 1.0:  # interior: polish (L-BFGS-B with numerical gradients stops early)
        polish = optimize.minimize(neg, x, method="Nelder-Mead",
                                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000})
        if polish.fun <= res.fun:
            x = polish.x
    if has_random:
        # σ²_u = 0 exactly, the residual variance(s) re-optimized: the boundary wins if it is as good.
        edge = optimize.minimize(lambda xr: neg(np.concatenate([[-np.inf], xr])), x[1:], method="L-BFGS-B",
                                 bounds=bounds[1:], options=opts)
        boundary = edge.fun <= neg(x) + 1e-9 or x[0] < lo_u + 1.0
        if boundary:
            x, res = np.concatenate([[-np.inf], edge.x]), edge
    v = np.exp(x)
    ll, b, cov_b = _loglik(st, has_random, v)
    se_v = _variance_se(st, has_random, v, boundary)
    estimates = {name: float(b[j]) for j, name in enumerate(md.fixed_names)}
    se = {name: math.sqrt(cov_b[j, j]) for j, name in enumerate(md.fixed_names)}
    for k, name in enumerate(names):
        estimates[name] = float(v[k])
        se[name] = float(se_v[k])
    return RemlFit(md.spec.name, estimates, se, float(ll), md.n, bool(boundary), bool(res.success))


def _variance_se(st: SufficientStats, has_random: bool, v: np.ndarray, boundary: bool) -> np.ndarray:
    """Return sqrt(diag(H⁻¹)), H the finite-difference Hessian of -l_R on the variance scale.

    Only over the variances not on a boundary (σ²_u at 0 gets NaN: the usual asymptotics do not hold there).
    """
    free = np.arange(1 if boundary else 0, v.size)
    out = np.full(v.size, math.nan)

    def f(w: np.ndarray) -> float:
        full = v.copy()
        full[free] = w
        return -_loglik(st, has_random, full)[0]

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

    Comparing REML likelihoods is valid here because both models have the same fixed effects
    (b0, b1), so the restricted likelihoods are built from the same error contrasts. The null value
    is interior (a ratio of 1, not a variance of 0), so the χ²(1) reference applies without the
    boundary mixture. The fits may be of any model of the family with one residual variance and of the same
    model with one per level of a column (a PROC MCMC program's, say): the degrees of freedom are the
    number of levels minus one.

    Raises
    ------
    SpecError
        When the second fit does not have more residual variances than the first, or the fits' data differ.
    """
    df = len(per_condition.estimates) - len(single.estimates)
    if df < 1 or single.residual == "per_condition" or per_condition.residual == "single":
        raise SpecError("lrt(single, per_condition) needs a single-residual fit then a per-condition fit")
    if single.n_obs != per_condition.n_obs:
        raise SpecError(f"the fits use different data ({single.n_obs} vs {per_condition.n_obs} rows)")
    stat = max(2.0 * (per_condition.loglik - single.loglik), 0.0)
    return LikelihoodRatioTest(stat, df, float(stats.chi2.sf(stat, df)))
