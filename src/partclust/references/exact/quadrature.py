"""Quadrature scales for the variances and the posterior of the variances on them.

Each variance is integrated on an unconstrained scale y: log v for a prior with no upper bound,
logit((v − lower)/(upper − lower)) for a bounded one (which puts a Uniform prior's bound at infinity),
mapped once more as y = ŷ + s·ψ(z) around the mode; the trapezoid rule on a uniform z grid then
converges geometrically.

Heavy tails: for a variance with no upper bound the z range is grown until not only its density but
also the integrands of its first two moments (v·p(v), v²·p(v)) have fallen e⁻⁴⁰ below their peaks. When
an integrand has not fallen by the time v reaches e^600, the moment is marked: it does not exist when
the tail falls like v^−(α+1) with α ≤ the moment's order (α measured at the grid's end), else it
converges too slowly to be computed (its value depends on the grid's range).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from partclust.errors import SpecError
from partclust.models.priors import (Gamma, GammaOnPrecision, GammaOnSD, HalfCauchyOnSD, HalfNormalOnSD, InverseGamma,
                                     Prior, UniformOnSD)
from partclust.models.model_data import ModelData
from partclust.references.exact.sufficient import Conditionals, conditionals, moment_estimates, sufficient_stats

TAIL_NATS = 40.0  # dropped density is below exp(-40) of the peak
COARSE_STEP = 0.5
Y_CAP = 600.0  # log variance beyond which a tail is not followed (e^600 ≈ 1e260)
MAX_EXPANSIONS = 40
SCALE_MAX = 1.5
"""Largest ψ scale (units of the unconstrained variance per unit of z): a flat or plateau-shaped posterior
still gets at least grid/1.5 nodes per unit of log variance."""
MAX_RESIDUAL_GROUPS = 2
LONG_LEFT_TAIL = (Gamma, GammaOnSD, HalfCauchyOnSD, HalfNormalOnSD, UniformOnSD)
"""σ²_u prior families whose posterior density in log σ²_u has a long exponential left tail (prior ∝ v^(a−1) near 0)."""
LONG_RIGHT_TAIL = (InverseGamma, GammaOnPrecision)
"""σ²_u prior families with a sharp left cut-off and a long right tail in log σ²_u."""


@dataclass(frozen=True, eq=False)
class Axis:
    """One variance on its quadrature scale: y = center + scale·ψ(z) at nodes z0 + k·h.

    y is log(v − lower) (``upper`` infinite) or logit((v − lower)/(upper − lower)).

    ``psi`` chooses ψ: ``"long_left"``, ψ(z) = z + 1 − e⁻ᶻ, spends few nodes on a long exponential
    left tail in y (σ²_u under a Gamma prior on the variance or the SD, whose density in log σ²_u
    decays only exponentially towards 0) and is linear to the right; ``"long_right"``, its mirror
    ψ(z) = z − 1 + eᶻ, for a sharp left cut-off and an exponential right tail (σ²_u under an
    inverse-gamma prior, or a Gamma prior on the precision); ``"sinh"`` otherwise.
    """

    name: str
    center: float
    scale: float
    lower: float
    upper: float
    z: np.ndarray
    log_w: np.ndarray  # log trapezoid weights
    psi: str = "sinh"

    @property
    def bound(self) -> float:
        """The upper end of the prior's support (infinite when it has none)."""
        return self.upper

    @property
    def h(self) -> float:
        """The node spacing in z."""
        return float(self.z[1] - self.z[0])

    def y(self, z: np.ndarray) -> np.ndarray:
        """Return the unconstrained value y at ``z``."""
        z = np.asarray(z, dtype=float)
        with np.errstate(over="ignore"):
            if self.psi == "long_left":
                psi = z + 1.0 - np.exp(-z)
            elif self.psi == "long_right":
                psi = z - 1.0 + np.exp(z)
            else:
                psi = np.sinh(z)
        return self.center + self.scale * psi

    def var(self, z: np.ndarray) -> np.ndarray:
        """Return the variance at ``z``, on its natural scale."""
        return var_of(self.y(z), self.lower, self.upper)

    def log_jac(self, z: np.ndarray) -> np.ndarray:
        """Log |d variance / dz|."""
        z = np.asarray(z, dtype=float)
        if self.psi == "long_left":
            log_dpsi = np.logaddexp(0.0, -z)
        elif self.psi == "long_right":
            log_dpsi = np.logaddexp(0.0, z)
        else:
            log_dpsi = np.logaddexp(z, -z) - math.log(2.0)
        return math.log(self.scale) + log_dpsi + log_dvar_dy(self.y(z), self.lower, self.upper)


def var_of(y: np.ndarray, lower: float, upper: float = math.inf) -> np.ndarray:
    """Variance from its unconstrained value: lower + exp(y), or lower + (upper − lower)·sigmoid(y)."""
    with np.errstate(over="ignore"):
        if math.isinf(upper):
            return lower + np.exp(y)
        return lower + (upper - lower) / (1.0 + np.exp(-y))


def log_dvar_dy(y: np.ndarray, lower: float, upper: float = math.inf) -> np.ndarray:
    """Log |d variance / dy| for :func:`var_of`."""
    if math.isinf(upper):
        return np.asarray(y, dtype=float)
    return math.log(upper - lower) - np.logaddexp(0.0, -y) - np.logaddexp(0.0, y)


def y_of(v: float, lower: float, upper: float) -> float:
    """Return the unconstrained value of variance v (inverse of :func:`var_of`), kept inside the support."""
    if math.isinf(upper):
        return math.log(max(v - lower, 1e-300))
    frac = min(max((v - lower) / (upper - lower), 1e-12), 0.5)
    return float(special.logit(frac))


@dataclass
class TailReport:
    """How far a variance's axis reaches and whether its moments could be computed.

    ``moments`` maps the moment's order (1, 2) to ``"ok"``, ``"does not exist"`` or ``"depends on the grid's
    range"``; ``alpha`` is the tail exponent measured at the grid's end (density ∝ v^−(α+1)).
    """

    alpha: float = math.inf
    moments: dict[int, str] = field(default_factory=lambda: {1: "ok", 2: "ok"})


class VarianceProblem:
    """The posterior of the variances on the unconstrained scale; shared by quadrature and draws.

    Raises
    ------
    SpecError
        For more than two residual groups, a prior the closed forms cannot use, or a residual level that
        varies within a cluster.
    """

    def __init__(self, md: ModelData):
        if len(md.resid_levels) > MAX_RESIDUAL_GROUPS:
            raise SpecError(f"the exact posterior integrates at most {MAX_RESIDUAL_GROUPS} residual variances "
                            f"(plus s2u) by quadrature; {md.spec.residual_by} has {len(md.resid_levels)} levels. "
                            "Fit it with PyMC, which takes any number")
        self.md = md
        self.suff = sufficient_stats(md)
        self.names = md.variance_names
        self.priors: list[Prior] = [md.priors[n] for n in self.names]
        self.dim = len(self.names)
        self.has_random = md.has_random
        self.supports = [p.support for p in self.priors]
        self.bounds = tuple(hi for _, hi in self.supports)
        self.tails: dict[str, TailReport] = {n: TailReport() for n in self.names}

    def split(self, vs: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """(σ²_u, residual variances) from the variances in :attr:`names` order (σ²_u = 0 without an effect)."""
        return (vs[0], list(vs[1:])) if self.has_random else (np.zeros(()), list(vs))

    def given(self, vs: list[np.ndarray]) -> Conditionals:
        """Return log p(y | θ) and the Gaussian conditionals at the variances ``vs`` (in ``names`` order)."""
        s2u, res = self.split(vs)
        return conditionals(self.suff, s2u, res)

    def log_prior(self, vs: list[np.ndarray]) -> np.ndarray:
        """Joint log prior density of the variances on their natural scale."""
        out = 0.0
        for prior, v in zip(self.priors, vs):
            out = out + prior.log_density(v)
        return out

    def log_post_var(self, vs: list[np.ndarray]) -> np.ndarray:
        """Log p(y, variances) on the variances' natural scale (−inf outside the priors' support)."""
        prior = self.log_prior(vs)
        safe = [np.where(np.isfinite(v) & (v > 0), v, 1.0) for v in vs]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g = self.given(safe)
            ll = g.grid(g.log_lik)
        return np.where(np.isneginf(prior) | ~np.isfinite(ll), -np.inf, ll + prior)

    def log_post_y(self, ys: list[np.ndarray]) -> np.ndarray:
        """Return the log posterior density on the unconstrained y scale (Jacobian included)."""
        vs = [var_of(y, lo, hi) for y, (lo, hi) in zip(ys, self.supports)]
        return self.log_post_var(vs) + sum(log_dvar_dy(y, lo, hi) for y, (lo, hi) in zip(ys, self.supports))

    def log_post_z(self, axes: list[Axis], zs: list[np.ndarray]) -> np.ndarray:
        """Return the log posterior density on the axes' z scales (Jacobians included)."""
        vs = [a.var(z) for a, z in zip(axes, zs)]
        return self.log_post_var(vs) + sum(a.log_jac(z) for a, z in zip(axes, zs))

    def start(self) -> np.ndarray:
        """Return a starting point for the mode search: moment estimates of every variance, on the y scale."""
        s2u, res = moment_estimates(self.suff)
        vals = ([s2u] if self.has_random else []) + list(res)
        out = []
        for v, (lo, hi) in zip(vals, self.supports):
            out.append(y_of(min(max(v, lo + 1e-12), hi if math.isinf(hi) else lo + 0.5 * (hi - lo)), lo, hi))
        return np.array(out)

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
        return x, np.clip(scales, 1e-3, SCALE_MAX)

    def axes(self, center: np.ndarray, scale: np.ndarray, h: float) -> list[Axis]:
        """Build grids of step h whose z ranges leave out less than exp(-TAIL_NATS) of the peak density.

        For a variance without upper bound the same holds for its first two moments' integrands (module
        docstring).

        A coarse pass (step 0.5) finds the ranges from the marginal log densities, growing the box
        until every cut is inside it; the fine grids then cover the same ranges with step h. Fills
        :attr:`tails`.

        Raises
        ------
        SpecError
            When a variance's density does not fall off within v ≤ e^600 (an improper posterior).
        """
        box = [[-6.0, 6.0] for _ in range(self.dim)]
        open_moments = {k: [1, 2] for k in range(self.dim) if math.isinf(self.supports[k][1])}
        for _ in range(MAX_EXPANSIONS):
            coarse = [self._axis(k, center, scale, np.arange(lo, hi + 1e-9, COARSE_STEP))
                      for k, (lo, hi) in enumerate(box)]
            g = self.log_post_z(coarse, open_mesh([a.z for a in coarse]))
            if not np.isfinite(g).any():
                raise SpecError("the posterior of the variances vanishes everywhere on the quadrature grid: check "
                                "that the data's scale fits the priors' support")
            grown, ranges = False, []
            for k, ax in enumerate(coarse):
                lm = special.logsumexp(g, axis=tuple(i for i in range(self.dim) if i != k))
                keep = np.flatnonzero(lm >= lm.max() - TAIL_NATS)
                unbounded = math.isinf(self.supports[k][1])
                yk = ax.y(ax.z)
                valid = yk <= Y_CAP if unbounded else np.ones(ax.z.size, dtype=bool)
                last = int(np.flatnonzero(valid)[-1])
                capped = last < ax.z.size - 1
                if keep[0] == 0:
                    box[k][0] -= 3.0
                    grown = True
                if keep[-1] >= last:
                    if capped:
                        raise SpecError(f"the posterior of {ax.name} does not fall off as {ax.name} grows (its "
                                        f"density is still within e^-{TAIL_NATS:g} of its peak at {ax.name} = "
                                        "e^600): the posterior is improper; choose a proper prior for it")
                    box[k][1] += 3.0
                    grown = True
                hi_k = ax.z[keep[-1]] + COARSE_STEP
                for j in list(open_moments.get(k, [])):
                    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                        gj = np.where(np.isfinite(lm) & valid, lm + j * yk, -np.inf)
                    ok = np.flatnonzero(gj >= gj.max() - TAIL_NATS)
                    if ok[-1] < last:
                        hi_k = max(hi_k, ax.z[ok[-1]] + COARSE_STEP)
                        open_moments[k].remove(j)
                    elif capped:
                        self.tails[ax.name].moments[j] = "pending"
                        open_moments[k].remove(j)
                        log_py = lm - ax.log_jac(ax.z) + log_dvar_dy(yk, *self.supports[k])
                        self.tails[ax.name].alpha = _tail_exponent(log_py[:last + 1], yk[:last + 1])
                    else:
                        box[k][1] += 3.0
                        grown = True
                if unbounded:
                    hi_k = min(hi_k, float(ax.z[last]))
                ranges.append((ax.z[keep[0]] - COARSE_STEP, hi_k))
            if not grown:
                for name, rep in self.tails.items():
                    for j, st in rep.moments.items():
                        if st == "pending":
                            rep.moments[j] = "does not exist" if rep.alpha <= j else "depends on the grid's range"
                return [self._axis(k, center, scale, np.arange(math.floor(lo / h), math.ceil(hi / h) + 1) * h)
                        for k, (lo, hi) in enumerate(ranges)]
        raise SpecError(f"the exact posterior's quadrature range did not close after {MAX_EXPANSIONS} expansions; "
                        "the posterior may be improper")

    def _axis(self, k: int, center: np.ndarray, scale: np.ndarray, z: np.ndarray) -> Axis:
        h = float(z[1] - z[0])
        log_w = np.full(z.size, math.log(h))
        log_w[[0, -1]] = math.log(h / 2)
        psi = "sinh"
        if self.has_random and k == 0:
            prior = self.priors[0]
            psi = "long_left" if isinstance(prior, LONG_LEFT_TAIL) else (
                "long_right" if isinstance(prior, LONG_RIGHT_TAIL) else "sinh")
        lo, hi = self.supports[k]
        return Axis(self.names[k], float(center[k]), float(scale[k]), lo, hi, z, log_w, psi)


def _tail_exponent(log_density_y: np.ndarray, y: np.ndarray) -> float:
    """α with density ∝ v^−(α+1), i.e. −d log p(y)/dy for y = log v, over the last coarse interval."""
    ok = np.isfinite(log_density_y)
    ld, yy = log_density_y[ok], y[ok]
    if ld.size < 2 or yy[-1] == yy[-2]:
        return math.inf
    return float(-(ld[-1] - ld[-2]) / (yy[-1] - yy[-2]))


def open_mesh(arrs: list[np.ndarray]) -> list[np.ndarray]:
    """Open mesh: axis k varies along dimension k."""
    d = len(arrs)
    return [a.reshape([-1 if i == k else 1 for i in range(d)]) for k, a in enumerate(arrs)]
