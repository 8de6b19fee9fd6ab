"""Quadrature scales for the variances and the posterior of the variances on them.

Each variance is integrated on an unconstrained scale y (log σ²_u; logit(σ²_e / upper) for a residual
variance, which puts the Uniform prior's bound at infinity), mapped once more as y = ŷ + s·ψ(z) around
the mode; the trapezoid rule on a uniform z grid then converges geometrically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from partclust.data import Design
from partclust.models.names import residual_names
from partclust.models.priors import Priors, log_prior_residual, log_prior_s2u
from partclust.references.exact.sufficient import Conditionals, conditionals, sufficient_stats

TAIL_NATS = 40.0  # dropped density is below exp(-40) of the peak
COARSE_STEP = 0.5
LONG_LEFT_TAIL = ("gamma", "gamma_on_sd")
"""σ²_u prior families whose posterior density in log σ²_u has a long exponential left tail."""


def log_prior(priors: Priors, s2u: np.ndarray, residuals: list[np.ndarray]) -> np.ndarray:
    """Joint log prior density of σ²_u and the residual variance(s) on their natural scale."""
    out = log_prior_s2u(priors, s2u)
    for s in residuals:
        out = out + log_prior_residual(priors, s)
    return out


@dataclass(frozen=True, eq=False)
class Axis:
    """One variance on its quadrature scale: y = center + scale·ψ(z) at nodes z0 + k·h.

    y is log σ²_u (``bound`` infinite) or logit(σ²_e / bound).

    ``psi`` chooses ψ: ``"long_left"``, ψ(z) = z + 1 − e⁻ᶻ, spends few nodes on a long exponential
    left tail in y (σ²_u under a Gamma prior on the variance or the SD, whose density in log σ²_u
    decays only exponentially towards 0) and is linear to the right; ``"long_right"``, its mirror
    ψ(z) = z − 1 + eᶻ, for a sharp left cut-off and an exponential right tail (σ²_u under an
    inverse-gamma prior, or a Gamma prior on the precision); ``"sinh"`` for the residual variances.
    """

    name: str
    center: float
    scale: float
    bound: float
    z: np.ndarray
    log_w: np.ndarray  # log trapezoid weights
    psi: str = "sinh"

    @property
    def h(self) -> float:
        """Step between the nodes in z."""
        return float(self.z[1] - self.z[0])

    def y(self, z: np.ndarray) -> np.ndarray:
        """Return the unconstrained value y = center + scale·ψ(z)."""
        z = np.asarray(z, dtype=float)
        if self.psi == "long_left":
            psi = z + 1.0 - np.exp(-z)
        elif self.psi == "long_right":
            psi = z - 1.0 + np.exp(z)
        else:
            psi = np.sinh(z)
        return self.center + self.scale * psi

    def var(self, z: np.ndarray) -> np.ndarray:
        """Return the variance at ``z``, on its natural scale."""
        return var_of(self.y(z), self.bound)

    def log_jac(self, z: np.ndarray) -> np.ndarray:
        """Return log |d variance / dz| at ``z``."""
        z = np.asarray(z, dtype=float)
        if self.psi == "long_left":
            log_dpsi = np.logaddexp(0.0, -z)
        elif self.psi == "long_right":
            log_dpsi = np.logaddexp(0.0, z)
        else:
            log_dpsi = np.logaddexp(z, -z) - math.log(2.0)
        return math.log(self.scale) + log_dpsi + log_dvar_dy(self.y(z), self.bound)


def var_of(y: np.ndarray, bound: float) -> np.ndarray:
    """Variance from its unconstrained value: exp(y), or bound·sigmoid(y) (never above bound)."""
    return np.exp(y) if math.isinf(bound) else bound / (1.0 + np.exp(-y))


def log_dvar_dy(y: np.ndarray, bound: float) -> np.ndarray:
    """Return log |d variance / dy|: y itself for exp(y), the log-logistic slope for bound·sigmoid(y)."""
    if math.isinf(bound):
        return np.asarray(y, dtype=float)
    return math.log(bound) - np.logaddexp(0.0, -y) - np.logaddexp(0.0, y)


class VarianceProblem:
    """The posterior of the variances on the unconstrained scale; shared by quadrature and draws."""

    def __init__(self, design: Design, residual: str, priors: Priors):
        self.suff = sufficient_stats(design)
        self.priors = priors
        self.names = ("s2u",) + residual_names(residual)
        self.dim = len(self.names)
        self.bounds = (math.inf,) + (float(priors.s2e_upper),) * (self.dim - 1)

    def given(self, vs: list[np.ndarray]) -> Conditionals:
        """Return log p(y | θ) and the Gaussian conditionals at the variances ``vs`` (in ``names`` order)."""
        full = (vs[0], vs[1], vs[1]) if self.dim == 2 else tuple(vs)
        return conditionals(self.suff, *full, self.priors.b_sd)

    def log_post_var(self, vs: list[np.ndarray]) -> np.ndarray:
        """Return log p(y, variances) on the variances' natural scale."""
        return self.given(vs).log_lik + log_prior(self.priors, vs[0], vs[1:])

    def log_post_y(self, ys: list[np.ndarray]) -> np.ndarray:
        """Return the log posterior density on the unconstrained y scale (Jacobian included)."""
        vs = [var_of(y, b) for y, b in zip(ys, self.bounds)]
        return self.log_post_var(vs) + sum(log_dvar_dy(y, b) for y, b in zip(ys, self.bounds))

    def log_post_z(self, axes: list[Axis], zs: list[np.ndarray]) -> np.ndarray:
        """Return the log posterior density on the quadrature axes' z scale (Jacobian included)."""
        vs = [a.var(z) for a, z in zip(axes, zs)]
        return self.log_post_var(vs) + sum(a.log_jac(z) for a, z in zip(axes, zs))

    def start(self) -> np.ndarray:
        """Return a starting point for the mode search: moment estimates of the variances, on the y scale."""
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

    def axes(self, center: np.ndarray, scale: np.ndarray, h: float) -> list[Axis]:
        """Grids of step h whose z ranges leave out density below exp(-TAIL_NATS) of the peak.

        A coarse pass (step 0.5) finds the ranges from the marginal log densities, growing the box
        until the cut is inside it; the fine grids then cover the same ranges with step h.
        """
        box = [[-6.0, 6.0] for _ in range(self.dim)]
        for _ in range(20):
            coarse = [self._axis(k, center, scale, np.arange(lo, hi + 1e-9, COARSE_STEP))
                      for k, (lo, hi) in enumerate(box)]
            g = self.log_post_z(coarse, open_mesh([a.z for a in coarse]))
            grown, ranges = False, []
            for k, ax in enumerate(coarse):
                lm = special.logsumexp(g, axis=tuple(i for i in range(self.dim) if i != k))
                keep = np.flatnonzero(lm >= lm.max() - TAIL_NATS)
                if keep[0] == 0:
                    box[k][0] -= 3.0
                    grown = True
                if keep[-1] == ax.z.size - 1:
                    box[k][1] += 3.0
                    grown = True
                ranges.append((ax.z[keep[0]] - COARSE_STEP, ax.z[keep[-1]] + COARSE_STEP))
            if not grown:
                return [self._axis(k, center, scale, np.arange(math.floor(lo / h), math.ceil(hi / h) + 1) * h)
                        for k, (lo, hi) in enumerate(ranges)]
        raise RuntimeError("the exact posterior's quadrature range did not close after 20 expansions")

    def _axis(self, k: int, center: np.ndarray, scale: np.ndarray, z: np.ndarray) -> Axis:
        h = float(z[1] - z[0])
        log_w = np.full(z.size, math.log(h))
        log_w[[0, -1]] = math.log(h / 2)
        psi = "sinh" if k else ("long_left" if self.priors.s2u_prior in LONG_LEFT_TAIL else "long_right")
        return Axis(self.names[k], float(center[k]), float(scale[k]), self.bounds[k], z, log_w, psi)


def open_mesh(arrs: list[np.ndarray]) -> list[np.ndarray]:
    """Open mesh: axis k varies along dimension k."""
    d = len(arrs)
    return [a.reshape([-1 if i == k else 1 for i in range(d)]) for k, a in enumerate(arrs)]
