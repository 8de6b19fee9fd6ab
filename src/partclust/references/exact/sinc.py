"""Root finding on monotone CDFs: sinc-interpolated marginals and Gaussian mixtures.

Marginal CDFs between quadrature nodes use band-limited (sinc) interpolation, whose integral is the sine
integral, so quantiles keep the quadrature's accuracy; b and u are mixtures of Gaussians over the nodes,
so their quantiles are solved on the mixture CDF.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

def safeguarded_step(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, active: np.ndarray,
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


def sinc_inverse(z0: float, h: float, dens: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Solve F(x) = u where F is the CDF of the band-limited (sinc) interpolant of ``dens``.

    ``dens`` holds node values at z0 + k·h: one row per target, or a single row shared by all targets.
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
        new, moved, newton = safeguarded_step(x, lo, hi, active, err, f)
        done = (newton & (moved < 1e-5 * h)) | (moved < 1e-15 * (1.0 + np.abs(new)))
        active = active[~done]
        if active.size == 0:
            break
    return x


def mixture_quantiles(
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
        new, moved, newton = safeguarded_step(x, lo, hi, active, err, f)
        done = (newton & (moved < 3e-5 * sd[r])) | (moved < 1e-14 * (1.0 + np.abs(new)))
        active = active[~done]
        if active.size == 0:
            break
    return x.reshape(m.shape[0], probs.size)
