"""The exact posterior by deterministic quadrature, with no Monte Carlo error.

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

Length: over 400 lines because about 200 are docstrings (shapes, units, errors, the method); the code
(under 300 lines) is one concept, the quadrature posterior and what is drawn or evaluated from its grid.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd
from scipy import special

from partclust.config import package_versions
from partclust.data import Design
from partclust.inference.summary import QUANTILES
from partclust.models.names import residual_names
from partclust.models.priors import SAS_PRIORS, Priors
from partclust.references.exact.quadrature import TAIL_NATS, Axis, VarianceProblem, log_prior, open_mesh
from partclust.references.exact.sinc import mixture_quantiles, sinc_inverse
from partclust.references.exact.sufficient import conditionals, sufficient_stats
from partclust.errors import SpecError
from partclust.validate import check_residual

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["TABLE_COLUMNS", "DEFAULT_GRID", "ExactPosterior", "exact_posterior", "exact_draws",
           "log_density_variances"]

TABLE_COLUMNS: tuple[str, ...] = ("param", "mean", "sd", *QUANTILES)
DEFAULT_GRID = 5.0
MAX_CELLS = 4_000_000  # elements per chunk when evaluating conditionals for draws and densities


def log_density_variances(
    design: Design,
    variances: Mapping[str, Any],
    residual: str = "single",
    priors: Priors = SAS_PRIORS,
) -> np.ndarray:
    """Return log p(y, variances) with b and u integrated out exactly, broadcast over arrays.

    This is the unnormalized log posterior density of the variances on their natural scale (no
    Jacobian). Exposed so that the closed forms can be checked independently.

    Parameters
    ----------
    design : Design
        The validated data.
    variances : mapping of str to float or array
        ``s2u`` and ``s2e`` (single) or ``s2u``, ``s2e_control`` and ``s2e_treated`` (per-condition),
        in outcome units²; arrays broadcast against each other.
    residual : {"single", "per_condition"}
        The residual structure.
    priors : Priors
        The priors (default: the SAS program's).

    Returns
    -------
    numpy.ndarray
        The broadcast shape of the variances, in nats: the log posterior density plus log p(y); −inf
        outside the priors' support.

    Raises
    ------
    SpecError
        For an unknown residual structure or a variance missing from ``variances``.
    """
    check_residual(residual)
    s2u, s2c, s2t = _unpack(variances, residual)
    res = [np.asarray(v, float) for v in ((s2c,) if residual == "single" else (s2c, s2t))]
    prior = log_prior(priors, np.asarray(s2u, float), res)
    with np.errstate(divide="ignore", invalid="ignore"):  # outside the support the prior decides
        log_lik = conditionals(sufficient_stats(design), s2u, s2c, s2t, priors.b_sd).log_lik
    return np.where(np.isneginf(prior), -np.inf, log_lik + prior)


def _unpack(variances: Mapping[str, Any], residual: str) -> tuple[Any, Any, Any]:
    names = ("s2u",) + residual_names(residual)
    missing = [k for k in names if k not in variances]
    if missing:
        raise SpecError(f"variances for the {residual} model need {names}; missing {missing}")
    if residual == "single":
        return variances["s2u"], variances["s2e"], variances["s2e"]
    return variances["s2u"], variances["s2e_control"], variances["s2e_treated"]


@dataclass(frozen=True, eq=False)
class ExactPosterior:
    """The exact posterior of one model: a summary table, the σ²_u marginal, and the quadrature behind them.

    The grid is kept so that densities and i.i.d. draws come from the same quadrature as the table.

    Attributes
    ----------
    residual : str
        ``single`` or ``per_condition``.
    clusters : tuple of str
        The treated clusters' labels, in the order of ``u``.
    table : pandas.DataFrame
        Columns :data:`TABLE_COLUMNS` (param, mean, sd, q2.5, median, q97.5) and rows b0, b1, s2u, the
        residual variance(s), then ``u[<label>]`` per treated cluster; outcome units, variances in
        units². Quantiles of b and u are those of their exact mixture-of-Gaussians posteriors.
    s2u_mode : float
        The mode of the marginal density of σ²_u on its natural scale (0 if the density is highest at 0).
    log_evidence : float
        log p(y) under the priors, in nats.
    provenance : dict
        Method, settings, grid, versions and time taken (JSON-ready).
    """

    residual: str
    clusters: tuple[str, ...]
    table: pd.DataFrame
    s2u_mode: float
    log_evidence: float
    provenance: dict[str, Any]
    _problem: VarianceProblem = field(repr=False)
    _axes: tuple[Axis, ...] = field(repr=False)
    _marginals: tuple[np.ndarray, ...] = field(repr=False)  # per-axis node densities in z
    _head: np.ndarray | None = field(repr=False)  # joint density of axes 0 and 1 in z (3-D only)

    @property
    def priors(self) -> Priors:
        """The priors this posterior was computed under."""
        return self._problem.priors

    def _axis_index(self, param: str) -> int:
        """Return the quadrature axis of the variance ``param``; a SpecError names the choices otherwise."""
        names = self._problem.names
        if param not in names:
            raise SpecError(f"param must be one of {names}; got {param!r}")
        return names.index(param)

    def density(self, param: str, x: Any) -> np.ndarray:
        """Exact marginal posterior density of a variance on its natural scale at ``x``, for plots.

        Computed directly at each x (the other variances integrated on the grid), not interpolated.

        Parameters
        ----------
        param : str
            A variance of the model: ``s2u``, then ``s2e`` or ``s2e_control`` and ``s2e_treated``.
        x : float or array_like
            Values of that variance (outcome units²).

        Returns
        -------
        numpy.ndarray
            Same shape as ``x``: the density per outcome unit², zero outside the prior's support.

        Raises
        ------
        SpecError
            When ``param`` is not a variance of the model.
        """
        k = self._axis_index(param)
        x = np.asarray(x, dtype=float)
        flat = x.reshape(-1)
        inside = (flat >= 0) if k == 0 else (flat > 0)
        xs_all = np.where(inside, flat, 1.0)
        axes = self._axes
        others = [i for i in range(len(axes)) if i != k]
        per = max(1, MAX_CELLS // int(np.prod([axes[i].z.size for i in others])))
        out = np.empty(flat.size)
        for a in range(0, flat.size, per):
            grids = open_mesh([xs_all[a:a + per]] + [axes[i].z for i in others])
            vs: list[np.ndarray] = [grids[0]] * len(axes)
            extra = 0.0
            for n, i in enumerate(others, start=1):
                vs[i] = axes[i].var(grids[n])
                extra = extra + axes[i].log_jac(grids[n]) + axes[i].log_w.reshape(grids[n].shape)
            lp = self._problem.log_post_var(vs) + extra
            out[a:a + per] = np.exp(special.logsumexp(lp, axis=tuple(range(1, len(axes)))) - self.log_evidence)
        return np.where(inside, out, 0.0).reshape(x.shape)

    def expectation(self, param: str, fn: Any = None) -> float:
        """Posterior expectation of ``fn(v)`` for a variance ``param`` (default: its mean).

        Computed on the quadrature nodes of that variance, e.g. ``fn=np.log`` gives E[log σ²_u].

        Raises
        ------
        SpecError
            When ``param`` is not a variance of the model.
        """
        k = self._axis_index(param)
        ax = self._axes[k]
        w = self._marginals[k] * np.exp(ax.log_w)
        v = ax.var(ax.z)
        return float(np.sum(w * (v if fn is None else fn(v))) / np.sum(w))

    def s2u_density(self, x: Any) -> np.ndarray:
        """Exact marginal posterior density of σ²_u at ``x`` (the exact curve in density plots)."""
        return self.density("s2u", x)

    def draws(self, n: int, seed: int, chains: int | None = None) -> dict[str, np.ndarray] | xr.Dataset:
        """I.i.d. exact posterior draws: a "perfect sampler" to test the comparison machinery.

        Parameters
        ----------
        n : int
            Draws (per chain when ``chains`` is given), at least 1.
        seed : int
            Seed of :func:`numpy.random.default_rng`; the same seed gives the same draws.
        chains : int, optional
            Shape the draws like a sampler's posterior group with this many chains.

        Returns
        -------
        dict of str to numpy.ndarray or xarray.Dataset
            With ``chains=None``: ``b0``, ``b1`` and each variance with shape (n,), and ``u`` with shape
            (n, cluster). Otherwise an ``xarray.Dataset`` whose scalars have dims (chain, draw) and
            ``u`` dims (chain, draw, cluster), coordinates ``chain`` 0…chains−1, ``draw`` 0…n−1 and
            ``cluster`` the treated clusters' labels, and attributes ``method``, ``residual``, ``seed``
            and ``grid``. Outcome units; variances in units².

        Raises
        ------
        SpecError
            When ``n < 1`` or ``chains < 1``.

        Notes
        -----
        The variances are drawn one after the other, each by inverting its conditional CDF (sinc
        interpolation on the grid, as for the table's quantiles); then b and u from their Gaussian
        conditionals given the variances.
        """
        if n < 1 or (chains is not None and chains < 1):
            raise SpecError(f"need n >= 1 and chains >= 1; got n={n}, chains={chains}")
        total = n * (chains or 1)
        rng = np.random.default_rng(seed)
        prob, axes = self._problem, self._axes
        zs: list[np.ndarray] = []
        for k, ax in enumerate(axes):
            u = rng.random(total)
            if k == 0:
                zs.append(sinc_inverse(ax.z[0], ax.h, self._marginals[0][None, :], u))
            elif k < len(axes) - 1:  # middle axis: band-limited interpolation of the (0, 1) marginal
                kernel = np.sinc((zs[0][:, None] - axes[0].z[None, :]) / axes[0].h)
                zs.append(sinc_inverse(ax.z[0], ax.h, kernel @ self._head, u))
            else:  # last axis: its conditional density evaluated exactly at the earlier draws
                zk = np.empty(total)
                per = max(1, MAX_CELLS // (ax.z.size * prob.suff.sizes.size))
                for a in range(0, total, per):
                    sl = slice(a, a + per)
                    lp = prob.log_post_z(list(axes), [z[sl, None] for z in zs] + [ax.z[None, :]])
                    zk[sl] = sinc_inverse(ax.z[0], ax.h, np.exp(lp - lp.max(axis=1, keepdims=True)), u[sl])
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
        import xarray as xr

        return xr.Dataset(
            data_vars,
            coords={"chain": np.arange(chains), "draw": np.arange(n), "cluster": list(self.clusters)},
            attrs={"method": "exact i.i.d. draws (quadrature over the variances, Gaussian b and u)",
                   "residual": self.residual, "seed": int(seed), "grid": self.provenance["grid"]},
        )


def exact_posterior(
    design: Design,
    residual: str = "single",
    grid: float = DEFAULT_GRID,
    priors: Priors = SAS_PRIORS,
) -> ExactPosterior:
    """Compute the exact posterior of one model by quadrature (no Monte Carlo error).

    Parameters
    ----------
    design : Design
        The validated data; only its sufficient statistics enter the quadrature.
    residual : {"single", "per_condition"}
        One residual variance (a 2-D integral over the variances) or one per arm (3-D).
    grid : float
        Resolution: the z step is 1/grid, about ``grid`` nodes per conditional posterior SD of each
        variance near the mode. Doubling it from the default changes means and SDs below 1e-8 and
        quantiles below 1e-6 (relative) on run1.
    priors : Priors
        Any σ²_u prior family of :mod:`partclust.models.priors` (default: the SAS program's).

    Returns
    -------
    ExactPosterior
        ``table``: columns :data:`TABLE_COLUMNS`, rows b0, b1, s2u, residual variance(s), ``u[<label>]``
        (outcome units; variances in units²); ``provenance`` records how it was computed.

    Raises
    ------
    SpecError
        For an unknown residual structure or ``grid < 1``.
    RuntimeError
        When the quadrature's range does not close around the posterior mass (a posterior too heavy-tailed
        for the grid).

    Notes
    -----
    The trapezoid rule on a uniform grid converges geometrically for smooth, rapidly decaying
    integrands (Trefethen and Weideman 2014), which is why the variances are mapped to scales where the
    posterior is such a function; see the module docstring.

    References
    ----------
    Trefethen, L. N. and Weideman, J. A. C. (2014). The exponentially convergent trapezoidal rule.
    *SIAM Review* 56(3), 385–458. doi:10.1137/130932132
    """
    check_residual(residual)
    if not grid >= 1:
        raise SpecError(f"grid must be >= 1 (nodes per posterior SD); got {grid!r}")
    started = time.perf_counter()
    prob = VarianceProblem(design, residual, priors)
    center, scale = prob.mode_and_scales()
    axes = prob.axes(center, scale, 1.0 / float(grid))
    dim = len(axes)
    zgrid = open_mesh([a.z for a in axes])
    vs = [a.var(z) for a, z in zip(axes, zgrid)]
    g = prob.given(vs)
    lw = sum(a.log_w.reshape(z.shape) + a.log_jac(z) for a, z in zip(axes, zgrid))
    lp = g.log_lik + log_prior(priors, vs[0], vs[1:]) + lw  # log(weight × density) at each node
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
    start_q = mixture_quantiles(wk[ck] / wk[ck].sum(), m[:, ck], s[:, ck], probs)
    mix_q = mixture_quantiles(wk, m, s, probs, start=start_q)

    rows: list[list[Any]] = [["b0", mix_mean[0], mix_sd[0], *mix_q[0]], ["b1", mix_mean[1], mix_sd[1], *mix_q[1]]]
    for k, ax in enumerate(axes):
        mean = float(np.sum(w * vs[k]))
        sd = math.sqrt(max(float(np.sum(w * vs[k] ** 2)) - mean**2, 0.0))
        zq = sinc_inverse(ax.z[0], ax.h, marginals[k][None, :], probs)
        rows.append([ax.name, mean, sd, *ax.var(zq)])
    for j, label in enumerate(design.clusters):
        rows.append([f"u[{label}]", mix_mean[2 + j], mix_sd[2 + j], *mix_q[2 + j]])
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

    def build(mode: float, provenance: dict[str, Any]) -> ExactPosterior:
        return ExactPosterior(residual, tuple(design.clusters), table, mode, log_z, provenance, prob,
                              tuple(axes), marginals, head)

    mode = _s2u_mode(build(math.nan, {}))
    provenance = {
        "method": "exact quadrature: b and u integrated in closed form; trapezoid rule in z over y = log(s2u) = "
                  "c + s*psi(z) and y = logit(s2e/upper) = c + s*sinh(z), psi per axis in 'psi'; sinc-interpolated "
                  "marginal CDFs; mixture-of-Gaussians quantiles for b and u",
        "psi": {a.name: {"long_left": "z + 1 - exp(-z)", "long_right": "z - 1 + exp(z)", "sinh": "sinh(z)"}[a.psi]
                for a in axes},
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
        "tail_cut_nats": TAIL_NATS,
        "log_evidence": log_z,
        "s2u_mode": mode,
        "data_source": design.source,
        "data_sha256": design.sha256,
        "seconds": time.perf_counter() - started,
        "versions": package_versions(),
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
    """I.i.d. draws from the exact posterior: :func:`exact_posterior`, then :meth:`ExactPosterior.draws`.

    Parameters
    ----------
    design, residual, grid, priors
        As for :func:`exact_posterior`.
    n : int
        Draws (per chain when ``chains`` is given).
    seed : int
        Seed of the draws (the quadrature itself is deterministic).
    chains : int, optional
        Shape the draws as (chain, draw) like a sampler's posterior group.

    Returns
    -------
    dict of str to numpy.ndarray or xarray.Dataset
        Flat arrays of shape (n,) and ``u`` of shape (n, cluster); or, with ``chains``, a Dataset with
        dims (chain, draw[, cluster]). See :meth:`ExactPosterior.draws`.

    Raises
    ------
    SpecError
        For an unknown residual structure, ``grid < 1``, ``n < 1`` or ``chains < 1``.
    """
    return exact_posterior(design, residual, grid=grid, priors=priors).draws(n, seed, chains=chains)
