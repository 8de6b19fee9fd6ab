"""Stage 4 (references) — the exact posterior by deterministic quadrature, with no Monte Carlo error.

Given the variances θ, y is Gaussian with a block-diagonal covariance V (σ²_e,t·I + σ²_u·J in each
treated cluster, σ²_e,c for each control) and b has a Gaussian prior, so b and u integrate out in
closed form. Per cluster, compound symmetry gives |V_j| and V_j⁻¹ by the matrix determinant lemma
and Sherman–Morrison, so one value of θ costs O(number of clusters) from the sufficient statistics
(n_j, Σy, within-cluster sum of squares) — in fact O(number of distinct cluster sizes), since
given θ a cluster enters only through its size; unequal sizes need nothing special.

What remains is a 2-D (single residual) or 3-D (per-condition) integral over the variances, done on
unconstrained scales with the exact prior densities and the Jacobians: y = log σ²_u, and for each
residual variance y = logit(σ²_e/upper), which is log σ²_e − log(upper) well below the Uniform(0,
upper) bound and puts the bound at infinity, so the zero prior density above it is honoured
exactly and the quadrature stays spectrally accurate even when the bound truncates the posterior.
Each y is mapped once more, y = ŷ + s·ψ(z), centred at the mode ŷ with s the conditional posterior
SD there; ψ(z) = z + 1 − e⁻ᶻ for σ²_u (its long exponential left tail, from the Gamma prior and the
likelihood's flat limit at σ²_u = 0, costs a few nodes) and ψ = sinh for the residual variances.
On the uniform z grid the trapezoid rule converges geometrically for these smooth, rapidly decaying
integrands; a coarse pass chooses the z range so that the dropped density is below e⁻⁴⁰ of the
peak. Marginal CDFs between nodes use band-limited (sinc) interpolation, whose integral is the sine
integral, so quantiles keep the quadrature's accuracy; b and u are mixtures of Gaussians over the
nodes, so their quantiles are solved on the mixture CDF.
"""

from __future__ import annotations

import functools
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any, Mapping

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from partclust.data import Design
from partclust.model import RESIDUALS, SAS_PRIORS, Priors, residual_names

QUANTILES: dict[str, float] = {"q2.5": 0.025, "median": 0.5, "q97.5": 0.975}
TABLE_COLUMNS: tuple[str, ...] = ("param", "mean", "sd", *QUANTILES)
DEFAULT_GRID = 5.0
_LOG_2PI = math.log(2.0 * math.pi)
_TAIL_NATS = 40.0  # dropped density is below exp(-40) of the peak
_COARSE_STEP = 0.5
_MAX_CELLS = 4_000_000  # elements per chunk when evaluating conditionals for draws


@dataclass(frozen=True, eq=False)
class _Suff:
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


def _sufficient(design: Design) -> _Suff:
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
    return _Suff(
        n_j, s_j, sizes, np.bincount(size_of, **group).astype(float),
        np.bincount(size_of, weights=s_j, **group), np.bincount(size_of, weights=s_j**2 / n_j, **group),
        size_of, ssw, float(treated.sum()), float(yk.size), float(yk.sum()), float(np.sum(yk**2)),
        shift, int(y.size),
    )


@dataclass(frozen=True, eq=False)
class _Given:
    """Everything that is Gaussian given the variances, in centred coordinates."""

    log_lik: np.ndarray
    mu: tuple[np.ndarray, np.ndarray]  # E[b0'], E[b1'] (b0' = b0 - shift)
    cov: tuple[np.ndarray, np.ndarray, np.ndarray]  # Var b0, Var b1, Cov(b0, b1)
    var_eta1: np.ndarray  # Var(b0 + b1)
    s2u: np.ndarray
    s2t: np.ndarray


def _given(suff: _Suff, s2u: Any, s2c: Any, s2t: Any, b_sd: float) -> _Given:
    """log p(y | θ) and the Gaussian conditionals of b, broadcast over arrays of variances."""
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
    log_lik = -0.5 * (suff.n * _LOG_2PI + logdet + quad + np.log(det) + 4.0 * math.log(b_sd))
    return _Given(log_lik, (mu0, mu1), (a11 / det, a00 / det, -a01 / det),
                  (w_c + 2.0 * p0) / det, s2u, s2t)


def _log_prior(priors: Priors, s2u: np.ndarray, residuals: list[np.ndarray]) -> np.ndarray:
    a, b = priors.s2u_alpha, priors.s2u_beta
    out = a * math.log(b) - special.gammaln(a) + special.xlogy(a - 1.0, s2u) - b * s2u
    out = np.where(s2u >= 0, out, -np.inf)
    for s in residuals:
        out = out + np.where((s > 0) & (s <= priors.s2e_upper), -math.log(priors.s2e_upper), -np.inf)
    return out


def _check(residual: str, priors: Priors) -> None:
    if residual not in RESIDUALS:
        raise ValueError(f"residual must be one of {', '.join(RESIDUALS)}; got {residual!r}")
    if priors.s2u_prior != "gamma":
        raise NotImplementedError(
            f"the exact posterior supports only s2u_prior='gamma' (a Gamma prior on the variance), "
            f"got {priors.s2u_prior!r}; use the sampled fits for the translation-trap priors."
        )


def log_density_variances(
    design: Design,
    variances: Mapping[str, Any],
    residual: str = "single",
    priors: Priors = SAS_PRIORS,
) -> np.ndarray:
    """log p(y, variances) with b and u integrated out exactly: the unnormalized log posterior
    density of the variances on their natural scale (no Jacobian), broadcast over arrays.

    ``variances`` maps ``s2u`` and ``s2e`` (single) or ``s2e_control`` and ``s2e_treated``
    (per-condition) to values. Exposed so that the closed forms can be checked independently.
    """
    _check(residual, priors)
    s2u, s2c, s2t = _unpack(variances, residual)
    res = [np.asarray(v, float) for v in ((s2c,) if residual == "single" else (s2c, s2t))]
    prior = _log_prior(priors, np.asarray(s2u, float), res)
    with np.errstate(divide="ignore", invalid="ignore"):  # outside the support the prior decides
        log_lik = _given(_sufficient(design), s2u, s2c, s2t, priors.b_sd).log_lik
    return np.where(np.isneginf(prior), -np.inf, log_lik + prior)


def _unpack(variances: Mapping[str, Any], residual: str) -> tuple[Any, Any, Any]:
    names = ("s2u",) + residual_names(residual)
    missing = [k for k in names if k not in variances]
    if missing:
        raise ValueError(f"variances for the {residual} model need {names}; missing {missing}")
    if residual == "single":
        return variances["s2u"], variances["s2e"], variances["s2e"]
    return variances["s2u"], variances["s2e_control"], variances["s2e_treated"]


@dataclass(frozen=True, eq=False)
class _Axis:
    """One variance on its quadrature scale: y = center + scale·ψ(z) at nodes z0 + k·h, where y is
    log σ²_u (``bound`` infinite) or logit(σ²_e / bound)."""

    name: str
    center: float
    scale: float
    bound: float
    z: np.ndarray
    log_w: np.ndarray  # log trapezoid weights

    @property
    def h(self) -> float:
        return float(self.z[1] - self.z[0])

    def y(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=float)
        psi = z + 1.0 - np.exp(-z) if math.isinf(self.bound) else np.sinh(z)
        return self.center + self.scale * psi

    def var(self, z: np.ndarray) -> np.ndarray:
        return _var_of(self.y(z), self.bound)

    def log_jac(self, z: np.ndarray) -> np.ndarray:
        """log |d variance / dz|."""
        z = np.asarray(z, dtype=float)
        if math.isinf(self.bound):
            log_dpsi = np.logaddexp(0.0, -z)
        else:
            log_dpsi = np.logaddexp(z, -z) - math.log(2.0)
        return math.log(self.scale) + log_dpsi + _log_dvar_dy(self.y(z), self.bound)


def _var_of(y: np.ndarray, bound: float) -> np.ndarray:
    """Variance from its unconstrained value: exp(y), or bound·sigmoid(y) (never above bound)."""
    return np.exp(y) if math.isinf(bound) else bound / (1.0 + np.exp(-y))


def _log_dvar_dy(y: np.ndarray, bound: float) -> np.ndarray:
    if math.isinf(bound):
        return np.asarray(y, dtype=float)
    return math.log(bound) - np.logaddexp(0.0, -y) - np.logaddexp(0.0, y)


class _Problem:
    """The posterior of the variances on the unconstrained scale; shared by quadrature and draws."""

    def __init__(self, design: Design, residual: str, priors: Priors):
        self.suff = _sufficient(design)
        self.priors = priors
        self.names = ("s2u",) + residual_names(residual)
        self.dim = len(self.names)
        self.bounds = (math.inf,) + (float(priors.s2e_upper),) * (self.dim - 1)

    def given(self, vs: list[np.ndarray]) -> _Given:
        full = (vs[0], vs[1], vs[1]) if self.dim == 2 else tuple(vs)
        return _given(self.suff, *full, self.priors.b_sd)

    def log_post_var(self, vs: list[np.ndarray]) -> np.ndarray:
        """log p(y, variances) on the variances' natural scale."""
        return self.given(vs).log_lik + _log_prior(self.priors, vs[0], vs[1:])

    def log_post_y(self, ys: list[np.ndarray]) -> np.ndarray:
        vs = [_var_of(y, b) for y, b in zip(ys, self.bounds)]
        return self.log_post_var(vs) + sum(_log_dvar_dy(y, b) for y, b in zip(ys, self.bounds))

    def log_post_z(self, axes: list[_Axis], zs: list[np.ndarray]) -> np.ndarray:
        vs = [a.var(z) for a, z in zip(axes, zs)]
        return self.log_post_var(vs) + sum(a.log_jac(z) for a, z in zip(axes, zs))

    def start(self) -> np.ndarray:
        s = self.suff
        s2t = max(s.ssw / max(s.n_t - s.n_j.size, 1.0), 1e-8)
        s2c = max((s.q_c - s.s_c**2 / max(s.n_c, 1.0)) / max(s.n_c - 1.0, 1.0), 1e-8)
        s2u = max(float(np.var(s.s_j / s.n_j)) - s2t / float(np.mean(s.n_j)), 0.1 * s2t, 1e-6)
        res = [0.5 * (s2t + s2c)] if self.dim == 2 else [s2c, s2t]
        up = self.priors.s2e_upper
        return np.array([math.log(s2u)] + [special.logit(min(v / up, 0.5)) for v in res])

    def mode_and_scales(self) -> tuple[np.ndarray, np.ndarray]:
        """Mode on the unconstrained scale and the conditional posterior SD of each coordinate.

        Damped Newton with a finite-difference gradient and Hessian, each step one vectorized call.
        """
        d, eps = self.dim, 1e-4
        eye = np.eye(d)
        pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
        stencil = [np.zeros(d)] + [sg * eye[i] for i in range(d) for sg in (1, -1)]
        stencil += [si * eye[i] + sj * eye[j] for i, j in pairs for si in (1, -1) for sj in (1, -1)]
        stencil = np.array(stencil) * eps

        def f(points: np.ndarray) -> np.ndarray:
            v = self.log_post_y([points[:, k] for k in range(d)])
            return np.where(np.isfinite(v), v, -np.inf)

        x = self.start()
        for _ in range(200):
            v = f(x + stencil)
            f0, fp, fm = v[0], v[1:2 * d + 1:2], v[2:2 * d + 1:2]
            grad = (fp - fm) / (2 * eps)
            hess = np.diag((fp - 2 * f0 + fm) / eps**2)
            for n, (i, j) in enumerate(pairs):
                c = v[2 * d + 1 + 4 * n: 2 * d + 5 + 4 * n]
                hess[i, j] = hess[j, i] = (c[0] - c[1] - c[2] + c[3]) / (4 * eps**2)
            try:
                np.linalg.cholesky(-hess)
                step = np.linalg.solve(-hess, grad)
            except np.linalg.LinAlgError:
                step = grad / max(float(np.max(np.abs(np.diag(hess)))), 1.0)
            step *= min(1.0, 1.0 / max(float(np.max(np.abs(step))), 1e-300))
            trials = x + step * 0.5 ** np.arange(30)[:, None]
            better = np.flatnonzero(f(trials) > f0)
            if better.size == 0:
                break
            moved = np.max(np.abs(trials[better[0]] - x))
            x = trials[better[0]]
            if moved < 1e-10:
                break
        curv = -np.diag(hess)
        scales = np.where(np.isfinite(curv) & (curv > 1e-8), 1.0 / np.sqrt(np.maximum(curv, 1e-8)), 1.0)
        return x, np.clip(scales, 1e-3, 5.0)

    def axes(self, center: np.ndarray, scale: np.ndarray, h: float) -> list[_Axis]:
        """Grids of step h whose z ranges leave out density below exp(-_TAIL_NATS) of the peak.

        A coarse pass (step 0.5) finds the ranges from the marginal log densities, growing the box
        until the cut is inside it; the fine grids then cover the same ranges with step h.
        """
        box = [[-6.0, 6.0] for _ in range(self.dim)]
        for _ in range(20):
            coarse = [self._axis(k, center, scale, np.arange(lo, hi + 1e-9, _COARSE_STEP))
                      for k, (lo, hi) in enumerate(box)]
            g = self.log_post_z(coarse, _mesh([a.z for a in coarse]))
            grown, ranges = False, []
            for k, ax in enumerate(coarse):
                lm = special.logsumexp(g, axis=tuple(i for i in range(self.dim) if i != k))
                keep = np.flatnonzero(lm >= lm.max() - _TAIL_NATS)
                if keep[0] == 0:
                    box[k][0] -= 3.0
                    grown = True
                if keep[-1] == ax.z.size - 1:
                    box[k][1] += 3.0
                    grown = True
                ranges.append((ax.z[keep[0]] - _COARSE_STEP, ax.z[keep[-1]] + _COARSE_STEP))
            if not grown:
                return [self._axis(k, center, scale, np.arange(math.floor(lo / h), math.ceil(hi / h) + 1) * h)
                        for k, (lo, hi) in enumerate(ranges)]
        raise RuntimeError("the exact posterior's quadrature range did not close after 20 expansions")

    def _axis(self, k: int, center: np.ndarray, scale: np.ndarray, z: np.ndarray) -> _Axis:
        h = float(z[1] - z[0])
        log_w = np.full(z.size, math.log(h))
        log_w[[0, -1]] = math.log(h / 2)
        return _Axis(self.names[k], float(center[k]), float(scale[k]), self.bounds[k], z, log_w)


def _mesh(arrs: list[np.ndarray]) -> list[np.ndarray]:
    """Open mesh: axis k varies along dimension k."""
    d = len(arrs)
    return [a.reshape([-1 if i == k else 1 for i in range(d)]) for k, a in enumerate(arrs)]


# ---- sinc-interpolated CDFs ----------------------------------------------------------------------
def _safeguarded_step(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, active: np.ndarray,
                      err: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Newton step on CDF(x) = target for the ``active`` entries, in place.

    ``err`` = CDF − target and ``f`` the density there. The CDF is monotone, so the sign of ``err``
    narrows the bracket [lo, hi]; a Newton step leaving it is replaced by bisection.
    """
    lo[active] = np.where(err < 0, x[active], lo[active])
    hi[active] = np.where(err > 0, x[active], hi[active])
    step = x[active] - err / np.where(f > 0, f, 1.0)
    newton = (err == 0) | ((f > 0) & (step > lo[active]) & (step < hi[active]))
    new = np.where(newton, step, 0.5 * (lo[active] + hi[active]))
    moved = np.abs(new - x[active])
    x[active] = new
    return new, moved, newton


def _sinc_inverse(z0: float, h: float, dens: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Solve F(x) = u where F is the CDF of the band-limited (sinc) interpolant of ``dens``: rows of
    node values at z0 + k·h, one row per target or a single row shared by all targets.

    F(x) = Σ_k q_k (1/2 + Si(π(x - z_k)/h)/π) integrates the interpolant exactly, so it is as
    accurate as the quadrature. Newton from a piecewise-linear inverse, bisection-safeguarded; a
    Newton step below 1e-5·h leaves an error of order 1e-10·h and ends the iteration.
    """
    dens = np.atleast_2d(np.maximum(dens, 0.0))
    u = np.asarray(u, dtype=float).ravel()
    q = dens / dens.sum(axis=1, keepdims=True)
    zk = z0 + np.arange(dens.shape[1]) * h
    c = np.cumsum(q, axis=1)
    if q.shape[0] == 1:  # shared row: start from a fine table of the exact CDF
        xt = zk[0] - h + np.arange(8 * (zk.size + 1) + 1) * (h / 8)
        ft = np.sum(q[0] * (0.5 + special.sici(np.pi * (xt[:, None] - zk) / h)[0] / np.pi), axis=1)
        x = np.interp(u, np.maximum.accumulate(ft), xt)
        row = np.zeros(u.size, dtype=int)
    else:
        j = np.minimum((c < u[:, None]).sum(axis=1), q.shape[1] - 1)
        prev = np.where(j > 0, np.take_along_axis(c, np.maximum(j - 1, 0)[:, None], 1)[:, 0], 0.0)
        qj = np.take_along_axis(q, j[:, None], 1)[:, 0]
        frac = np.clip((u - prev) / np.where(qj > 0, qj, 1.0), 0.0, 1.0)
        x = zk[j] - 0.5 * h + frac * h
        row = np.arange(u.size)
    lo = np.full(u.size, zk[0] - h)
    hi = np.full(u.size, zk[-1] + h)
    active = np.arange(u.size)
    for _ in range(100):
        qa = q[row[active]]
        arg = (x[active, None] - zk) / h
        F = np.sum(qa * (0.5 + special.sici(np.pi * arg)[0] / np.pi), axis=1)
        f = np.sum(qa * np.sinc(arg), axis=1) / h
        err = F - u[active]
        new, moved, newton = _safeguarded_step(x, lo, hi, active, err, f)
        done = (newton & (moved < 1e-5 * h)) | (moved < 1e-15 * (1.0 + np.abs(new)))
        active = active[~done]
        if active.size == 0:
            break
    return x


def _mixture_quantiles(
    w: np.ndarray, m: np.ndarray, s: np.ndarray, probs: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray:
    """Quantiles of mixtures Σ_k w_k N(m_rk, s_rk²), one mixture per row r (shape rows × probs).

    Vectorized Newton from ``start`` (default: the moment-matched normal guess) with a bisection
    safeguard (the CDF is monotone, so the bracket always holds the root); only unconverged targets
    are re-evaluated. A Newton step smaller than 3e-5 SD leaves an error of order 1e-9 SD, so it
    is accepted without another pass over the mixture.
    """
    mean = m @ w
    sd = np.maximum(np.sqrt(np.maximum((s**2 + m**2) @ w - mean**2, 0.0)), 1e-300)
    rows = np.repeat(np.arange(m.shape[0]), probs.size)
    p = np.tile(probs, m.shape[0])
    x = mean[rows] + special.ndtri(p) * sd[rows] if start is None else np.array(start, float).ravel()
    lo = (m - 12 * s).min(axis=1)[rows]
    hi = (m + 12 * s).max(axis=1)[rows]
    inv_s = 1.0 / s
    active = np.arange(x.size)
    for _ in range(100):
        r = rows[active]
        F, f = np.empty(active.size), np.empty(active.size)
        per = max(1, 2**20 // w.size)  # chunks of about a million elements: less memory traffic
        for a in range(0, active.size, per):
            rr = r[a:a + per]
            zz = (x[active[a:a + per], None] - m[rr]) / s[rr]
            F[a:a + per] = special.ndtr(zz) @ w
            f[a:a + per] = (np.exp(-0.5 * zz * zz) * inv_s[rr]) @ w
        f *= 1.0 / math.sqrt(2 * math.pi)
        err = F - p[active]
        new, moved, newton = _safeguarded_step(x, lo, hi, active, err, f)
        done = (newton & (moved < 3e-5 * sd[r])) | (moved < 1e-14 * (1.0 + np.abs(new)))
        active = active[~done]
        if active.size == 0:
            break
    return x.reshape(m.shape[0], probs.size)


# ---- the public result ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ExactPosterior:
    """The exact posterior of one model: a summary table, the σ²_u marginal, and the grid that
    produced them (kept so that densities and i.i.d. draws come from the same quadrature).

    ``table`` has columns param, mean, sd, q2.5, median, q97.5 and rows b0, b1, s2u, the residual
    variance(s), then ``u[<label>]`` per treated cluster; quantiles of b and u are those of their
    exact mixture-of-Gaussians posteriors. ``s2u_mode`` is the mode of the marginal density of σ²_u
    on its natural scale (0 if the density is highest at 0). ``log_evidence`` is log p(y) under the
    priors. ``provenance`` records method, settings, grid, versions and time taken (JSON-ready).
    """

    residual: str
    clusters: tuple[str, ...]
    table: pd.DataFrame
    s2u_mode: float
    log_evidence: float
    provenance: dict[str, Any]
    _problem: _Problem = field(repr=False)
    _axes: tuple[_Axis, ...] = field(repr=False)
    _marginals: tuple[np.ndarray, ...] = field(repr=False)  # per-axis node densities in z
    _head: np.ndarray | None = field(repr=False)  # joint density of axes 0 and 1 in z (3-D only)

    def density(self, param: str, x: Any) -> np.ndarray:
        """Exact marginal posterior density of a variance on its natural scale at ``x``, for plots.

        Computed directly at each x (the other variances integrated on the grid), not interpolated;
        zero outside the prior's support.
        """
        names = self._problem.names
        if param not in names:
            raise ValueError(f"param must be one of {names}; got {param!r}")
        k = names.index(param)
        x = np.asarray(x, dtype=float)
        flat = x.reshape(-1)
        inside = (flat >= 0) if k == 0 else (flat > 0)
        xs_all = np.where(inside, flat, 1.0)
        axes = self._axes
        others = [i for i in range(len(axes)) if i != k]
        per = max(1, _MAX_CELLS // int(np.prod([axes[i].z.size for i in others])))
        out = np.empty(flat.size)
        for a in range(0, flat.size, per):
            grids = _mesh([xs_all[a:a + per]] + [axes[i].z for i in others])
            vs: list[np.ndarray] = [grids[0]] * len(axes)
            extra = 0.0
            for n, i in enumerate(others, start=1):
                vs[i] = axes[i].var(grids[n])
                extra = extra + axes[i].log_jac(grids[n]) + axes[i].log_w.reshape(grids[n].shape)
            lp = self._problem.log_post_var(vs) + extra
            out[a:a + per] = np.exp(special.logsumexp(lp, axis=tuple(range(1, len(axes)))) - self.log_evidence)
        return np.where(inside, out, 0.0).reshape(x.shape)

    def s2u_density(self, x: Any) -> np.ndarray:
        """Exact marginal posterior density of σ²_u at ``x`` (the exact curve in density plots)."""
        return self.density("s2u", x)

    def draws(self, n: int, seed: int, chains: int | None = None) -> dict[str, np.ndarray] | xr.Dataset:
        """I.i.d. exact posterior draws: a "perfect sampler" to test the comparison machinery.

        The variances are drawn one after the other, each by inverting its conditional CDF (sinc
        interpolation on the grid, as for the table's quantiles); then b and u from their Gaussian
        conditionals. With ``chains=None`` returns ``n`` draws as flat arrays (``u`` has shape
        (n, clusters)); otherwise an ``xarray.Dataset`` with dims (chain, draw[, cluster]) holding
        ``n`` draws per chain, shaped like a sampler's posterior group.
        """
        if n < 1 or (chains is not None and chains < 1):
            raise ValueError(f"need n >= 1 and chains >= 1; got n={n}, chains={chains}")
        total = n * (chains or 1)
        rng = np.random.default_rng(seed)
        prob, axes = self._problem, self._axes
        zs: list[np.ndarray] = []
        for k, ax in enumerate(axes):
            u = rng.random(total)
            if k == 0:
                zs.append(_sinc_inverse(ax.z[0], ax.h, self._marginals[0][None, :], u))
            elif k < len(axes) - 1:  # middle axis: band-limited interpolation of the (0, 1) marginal
                kernel = np.sinc((zs[0][:, None] - axes[0].z[None, :]) / axes[0].h)
                zs.append(_sinc_inverse(ax.z[0], ax.h, kernel @ self._head, u))
            else:  # last axis: its conditional density evaluated exactly at the earlier draws
                zk = np.empty(total)
                per = max(1, _MAX_CELLS // (ax.z.size * prob.suff.sizes.size))
                for a in range(0, total, per):
                    sl = slice(a, a + per)
                    lp = prob.log_post_z(list(axes), [z[sl, None] for z in zs] + [ax.z[None, :]])
                    zk[sl] = _sinc_inverse(ax.z[0], ax.h, np.exp(lp - lp.max(axis=1, keepdims=True)), u[sl])
                zs.append(zk)
        vs = [a.var(z) for a, z in zip(axes, zs)]
        g = prob.given(vs)
        e0, e1 = rng.standard_normal((2, total))
        v0, v1, c01 = g.cov
        l00 = np.sqrt(v0)
        l10 = c01 / l00
        l11 = np.sqrt(np.maximum(v1 - l10**2, 0.0))
        b0c = g.mu[0] + l00 * e0
        b1 = g.mu[1] + l10 * e0 + l11 * e1
        suff = prob.suff
        s2u, s2t = g.s2u[:, None], g.s2t[:, None]
        d = s2t + suff.n_j * s2u
        u_mean = s2u * (suff.s_j - suff.n_j * (b0c + b1)[:, None]) / d
        u = u_mean + np.sqrt(s2u * s2t / d) * rng.standard_normal(u_mean.shape)
        out: dict[str, np.ndarray] = {"b0": b0c + suff.shift, "b1": b1}
        out.update(zip(prob.names, vs))
        out["u"] = u
        if chains is None:
            return out
        data_vars = {k: (("chain", "draw"), v.reshape(chains, n)) for k, v in out.items() if k != "u"}
        data_vars["u"] = (("chain", "draw", "cluster"), u.reshape(chains, n, -1))
        return xr.Dataset(
            data_vars,
            coords={"chain": np.arange(chains), "draw": np.arange(n), "cluster": list(self.clusters)},
            attrs={"method": "exact i.i.d. draws (quadrature over the variances, Gaussian b and u)",
                   "residual": self.residual, "seed": int(seed), "grid": self.provenance["grid"]},
        )


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    out = [("python", platform.python_version())]
    for pkg in ("partclust", "numpy", "scipy", "pandas"):
        try:
            out.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            out.append((pkg, "not installed"))
    return tuple(out)


def exact_posterior(
    design: Design,
    residual: str = "single",
    grid: float = DEFAULT_GRID,
    priors: Priors = SAS_PRIORS,
) -> ExactPosterior:
    """The exact posterior of ``residual`` ("single" or "per_condition") by quadrature.

    ``grid`` sets the resolution: the z step is 1/grid, about ``grid`` nodes per conditional
    posterior SD of each variance near the mode. Accuracy is shown by refinement: doubling ``grid``
    from the default changes means and SDs below 1e-8 and quantiles below 1e-6 (relative) on run1.
    Only the default Gamma prior on σ²_u is supported.
    """
    _check(residual, priors)
    if not grid >= 1:
        raise ValueError(f"grid must be >= 1 (nodes per posterior SD); got {grid!r}")
    started = time.perf_counter()
    prob = _Problem(design, residual, priors)
    center, scale = prob.mode_and_scales()
    axes = prob.axes(center, scale, 1.0 / float(grid))
    dim = len(axes)
    zgrid = _mesh([a.z for a in axes])
    vs = [a.var(z) for a, z in zip(axes, zgrid)]
    g = prob.given(vs)
    lw = sum(a.log_w.reshape(z.shape) + a.log_jac(z) for a, z in zip(axes, zgrid))
    lp = g.log_lik + _log_prior(priors, vs[0], vs[1:]) + lw  # log(weight × density) at each node
    log_z = float(special.logsumexp(lp))
    w = np.exp(lp - log_z)
    marginals = tuple(
        np.sum(w, axis=tuple(i for i in range(dim) if i != k)) / np.exp(axes[k].log_w) for k in range(dim)
    )
    head = w.sum(axis=2) / np.exp(axes[0].log_w[:, None] + axes[1].log_w[None, :]) if dim == 3 else None

    # b and u are Gaussian at each node: their posteriors are mixtures over the nodes that matter.
    suff = prob.suff
    keep = w > 1e-18
    wk = w[keep] / w[keep].sum()

    def at_keep(a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(a, w.shape)[keep]

    s2u, s2t = at_keep(g.s2u)[:, None], at_keep(g.s2t)[:, None]
    mu0, mu1 = at_keep(g.mu[0]), at_keep(g.mu[1])
    d = s2t + suff.n_j * s2u
    u_mean = s2u * (suff.s_j - suff.n_j * (mu0 + mu1)[:, None]) / d
    u_var = s2u * s2t / d + (s2u * suff.n_j / d) ** 2 * at_keep(g.var_eta1)[:, None]
    m = np.vstack([mu0 + suff.shift, mu1, u_mean.T])
    s = np.vstack([np.sqrt(at_keep(g.cov[0])), np.sqrt(at_keep(g.cov[1])), np.sqrt(u_var).T])
    mix_mean = m @ wk
    mix_sd = np.sqrt(np.maximum((s**2 + m**2) @ wk - mix_mean**2, 0.0))
    probs = np.array(list(QUANTILES.values()))
    # Solve on every second node first (cheap, about 1e-6 accurate), then polish on all nodes.
    coarse = np.zeros(w.shape, dtype=bool)
    coarse[tuple(slice(0, None, 2) for _ in range(dim))] = True
    ck = coarse[keep]
    start_q = _mixture_quantiles(wk[ck] / wk[ck].sum(), m[:, ck], s[:, ck], probs)
    mix_q = _mixture_quantiles(wk, m, s, probs, start=start_q)

    rows: list[list[Any]] = [["b0", mix_mean[0], mix_sd[0], *mix_q[0]], ["b1", mix_mean[1], mix_sd[1], *mix_q[1]]]
    for k, ax in enumerate(axes):
        mean = float(np.sum(w * vs[k]))
        sd = math.sqrt(max(float(np.sum(w * vs[k] ** 2)) - mean**2, 0.0))
        zq = _sinc_inverse(ax.z[0], ax.h, marginals[k][None, :], probs)
        rows.append([ax.name, mean, sd, *ax.var(zq)])
    for j, label in enumerate(design.clusters):
        rows.append([f"u[{label}]", mix_mean[2 + j], mix_sd[2 + j], *mix_q[2 + j]])
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

    def build(mode: float, provenance: dict[str, Any]) -> ExactPosterior:
        return ExactPosterior(residual, tuple(design.clusters), table, mode, log_z, provenance, prob,
                              tuple(axes), marginals, head)

    mode = _s2u_mode(build(math.nan, {}))
    provenance = {
        "method": "exact quadrature: b and u integrated in closed form; trapezoid rule in z over "
                  "y = log(s2u) = c + s*(z + 1 - exp(-z)) and y = logit(s2e/upper) = c + s*sinh(z); "
                  "sinc-interpolated marginal CDFs; mixture-of-Gaussians quantiles for b and u",
        "residual": residual,
        "priors": asdict(priors),
        "grid": float(grid),
        "z_step": 1.0 / float(grid),
        "nodes": {a.name: int(a.z.size) for a in axes},
        "grid_points": int(w.size),
        "mixture_components": int(wk.size),
        "z_range": {a.name: [float(a.z[0]), float(a.z[-1])] for a in axes},
        "variance_range": {a.name: [float(a.var(a.z[0])), float(a.var(a.z[-1]))] for a in axes},
        "mode_unconstrained": {a.name: a.center for a in axes},
        "scale_unconstrained": {a.name: a.scale for a in axes},
        "tail_cut_nats": _TAIL_NATS,
        "log_evidence": log_z,
        "s2u_mode": mode,
        "data_source": design.source,
        "data_sha256": design.sha256,
        "seconds": time.perf_counter() - started,
        "versions": dict(_versions()),
    }
    return build(mode, provenance)


def _s2u_mode(post: ExactPosterior) -> float:
    """Mode of the σ²_u marginal density on the natural scale (0 when the density peaks there).

    Bracketed by the grid nodes, then zoomed in vectorized rounds and finished by the vertex of a
    parabola through the three best points.
    """
    ax = post._axes[0]
    xs = np.concatenate([[0.0], ax.var(ax.z)])
    i = int(np.argmax(post.s2u_density(xs)))
    if i == 0:
        return 0.0
    lo, hi = xs[i - 1], xs[min(i + 1, xs.size - 1)]
    for _ in range(5):
        x = np.linspace(lo, hi, 41)
        dens = post.s2u_density(x)
        j = int(np.clip(np.argmax(dens), 1, x.size - 2))
        lo, hi = x[j - 1], x[j + 1]
    (x0, x1, _), (f0, f1, f2) = x[j - 1:j + 2], dens[j - 1:j + 2]
    denom = f0 - 2 * f1 + f2
    if lo <= 0.0 and f0 >= f1:
        return 0.0
    return float(x1 + 0.5 * (x1 - x0) * (f0 - f2) / denom) if denom < 0 else float(x1)


def exact_draws(
    design: Design,
    residual: str = "single",
    n: int = 4000,
    seed: int = 0,
    chains: int | None = None,
    grid: float = DEFAULT_GRID,
    priors: Priors = SAS_PRIORS,
) -> dict[str, np.ndarray] | xr.Dataset:
    """I.i.d. draws from the exact posterior (see :meth:`ExactPosterior.draws`)."""
    return exact_posterior(design, residual, grid=grid, priors=priors).draws(n, seed, chains=chains)
