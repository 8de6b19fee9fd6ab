"""The exact posterior by deterministic quadrature, with no Monte Carlo error.

For any model of the family (:mod:`partclust.models.spec`: any fixed-effect design with Normal or flat
priors, one grouping factor whose effect multiplies a column, one or two residual variances), y is
Gaussian given the variances θ with a block-diagonal covariance, and b has a Gaussian (or flat)
prior, so b and u integrate out in closed form from per-group sufficient statistics
(:mod:`~partclust.references.exact.sufficient`); one value of θ costs O(distinct cluster shapes), never
an n × n matrix.

What remains is a 1- to 3-dimensional integral over the variances, done on unconstrained scales with
the exact prior densities and the Jacobians (:mod:`~partclust.references.exact.quadrature`): log v, or
logit((v − lower)/(upper − lower)) for a bounded prior (a Uniform prior's bound goes to infinity, so its
zero density above the bound is honoured exactly and the quadrature stays spectrally accurate when the
bound truncates the posterior). Each y is mapped once more, y = ŷ + s·ψ(z), centred at the mode ŷ with s
the conditional posterior SD there. On the uniform z grid the trapezoid rule converges geometrically
for these smooth, rapidly decaying integrands; a coarse pass chooses the z range so that the dropped
density, and for an unbounded variance the dropped part of its first two moments, is below e⁻⁴⁰ of the
peak. Marginal CDFs between nodes use band-limited (sinc) interpolation, whose integral is the sine
integral, so quantiles keep the quadrature's accuracy; b and u are mixtures of Gaussians over the
nodes, so their quantiles are solved on the mixture CDF (clusters in chunks: memory stays bounded
whatever their number).

Heavy tails: a moment that does not exist, or whose value depends on how far the grid reaches, is not
printed; the table's ``note`` says which and why, and the quantiles are reported as usual.

Length: over 400 lines because about half are docstrings (shapes, units, errors, the method); the code is
one concept, the quadrature posterior and what is drawn, evaluated or summarized from its grid.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd
from scipy import special

from partclust.config import package_versions
from partclust.errors import SpecError
from partclust.inference.summary import QUANTILES
from partclust.models.priors import SAS_PRIORS, Priors
from partclust.models.model_data import ModelData, model_data_of
from partclust.references.exact.quadrature import TAIL_NATS, Axis, VarianceProblem, open_mesh
from partclust.references.exact.sinc import mixture_quantiles, sinc_inverse
from partclust.references.exact.effects import cluster_rows
from partclust.references.exact.sufficient import Conditionals, cluster_moments

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["TABLE_COLUMNS", "DEFAULT_GRID", "ExactPosterior", "exact_posterior", "exact_draws",
           "log_density_variances", "as_model_data"]

TABLE_COLUMNS: tuple[str, ...] = ("param", "mean", "sd", *QUANTILES, "note")
DEFAULT_GRID = 5.0
MAX_CELLS = 4_000_000  # elements per chunk (nodes × clusters) when evaluating conditionals, draws and densities
EDGE_TOLERANCE = 1e-9
"""Largest share of a moment allowed on the grid's outermost nodes (beyond: it depends on the grid's range)."""
KEEP_WEIGHT = 1e-18
"""Nodes of smaller normalised weight are left out of the b and u mixtures."""


as_model_data = model_data_of
"""A run1 Design read through a built-in model, or ModelData as given (:func:`~partclust.models.model_data.model_data_of`)."""


def log_density_variances(
    design: Any,
    variances: Mapping[str, Any],
    residual: str = "single",
    priors: Priors = SAS_PRIORS,
) -> np.ndarray:
    """Evaluate log p(y, variances) with b and u integrated out exactly, broadcast over arrays.

    This is the unnormalized log posterior density of the variances on their natural scale (no Jacobian).

    ``variances`` maps each variance name (``s2u`` and ``s2e``, or ``s2e_control`` and ``s2e_treated``
    for the built-in models; the data's :attr:`~partclust.models.ModelData.variance_names` in general) to
    values. Exposed so that the closed forms can be checked independently.

    Raises
    ------
    SpecError
        When a variance is missing.
    """
    md = as_model_data(design, residual, priors)
    names = md.variance_names
    missing = [k for k in names if k not in variances]
    if missing:
        raise SpecError(f"variances for the {md.spec.name} model need {names}; missing {missing}")
    prob = VarianceProblem(md)
    vs = np.broadcast_arrays(*[np.asarray(variances[k], dtype=float) for k in names])
    return prob.log_post_var(list(vs))


@dataclass(frozen=True, eq=False)
class ExactPosterior:
    """The exact posterior of one model: a summary table, the variances' marginals, and their grid.

    The grid is kept so that densities and i.i.d. draws come from the same quadrature as the table.

    ``table`` has columns param, mean, sd, q2.5, median, q97.5, note and rows: the fixed effects, ``s2u``,
    the residual variance(s), then ``u[<label>]`` per sampled cluster; quantiles of b and u are those of
    their exact mixture-of-Gaussians posteriors. A moment that does not exist or depends on the grid's
    range is NaN and ``note`` says so. ``s2u_mode`` is the mode of the marginal density of σ²_u on its
    natural scale (0 if the density is highest at 0; NaN without a random effect). ``log_evidence`` is
    log p(y) under the priors (up to a constant when a prior is improper). ``provenance`` records method,
    settings, grid, tails, versions and time taken (JSON-ready).
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
    _priors: Priors | None = field(default=None, repr=False)

    @property
    def model_data(self) -> ModelData:
        """The data and specification this posterior was computed for."""
        return self._problem.md

    @property
    def priors(self) -> Priors | None:
        """The built-in models' :class:`Priors` this posterior was computed under (None for other specs)."""
        return self._priors

    def _variance_index(self, param: str) -> int:
        """Position of the variance ``param`` among the model's; :class:`SpecError` for any other name."""
        names = self._problem.names
        if param not in names:
            raise SpecError(f"param must be one of {names}; got {param!r}")
        return names.index(param)

    def density(self, param: str, x: Any) -> np.ndarray:
        """Exact marginal posterior density of a variance on its natural scale at ``x``, for plots.

        Computed directly at each x (the other variances integrated on the grid), not interpolated;
        zero outside the prior's support.

        Raises
        ------
        SpecError
            When ``param`` is not a variance of the model.
        """
        k = self._variance_index(param)
        x = np.asarray(x, dtype=float)
        flat = x.reshape(-1)
        lo, hi = self._problem.supports[k]
        inside = (flat >= lo) & (flat <= hi) if (k == 0 and self._problem.has_random) else (flat > lo) & (flat <= hi)
        xs_all = np.where(inside, flat, lo + 1.0 if math.isinf(hi) else 0.5 * (lo + hi))
        axes = self._axes
        others = [i for i in range(len(axes)) if i != k]
        per = max(1, MAX_CELLS // int(np.prod([axes[i].z.size for i in others] or [1])))
        out = np.empty(flat.size)
        for a in range(0, flat.size, per):
            grids = open_mesh([xs_all[a:a + per]] + [axes[i].z for i in others])
            vs: list[np.ndarray] = [grids[0]] * len(axes)
            extra = 0.0
            for n, i in enumerate(others, start=1):
                vs[i] = axes[i].var(grids[n])
                extra = extra + axes[i].log_jac(grids[n]) + axes[i].log_w.reshape(grids[n].shape)
            lp = self._problem.log_post_var(vs) + extra
            lse = special.logsumexp(lp, axis=tuple(range(1, len(axes)))) if others else lp
            out[a:a + per] = np.exp(lse - self.log_evidence)
        return np.where(inside, out, 0.0).reshape(x.shape)

    def expectation(self, param: str, fn: Any = None) -> float:
        """Posterior expectation of ``fn(v)`` for a variance ``param`` (default: its mean).

        Computed on the quadrature nodes of that variance, e.g. ``fn=np.log`` gives E[log σ²_u].

        Raises
        ------
        SpecError
            When ``param`` is not a variance of the model.
        """
        k = self._variance_index(param)
        ax = self._axes[k]
        w = self._marginals[k] * np.exp(ax.log_w)
        v = ax.var(ax.z)
        vals = v if fn is None else fn(v)
        with np.errstate(invalid="ignore", over="ignore"):
            return float(np.sum(np.where(w > 0, w * vals, 0.0)) / np.sum(w))

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

        Raises
        ------
        SpecError
            For n < 1 or chains < 1.
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
                per = max(1, MAX_CELLS // (ax.z.size * max(prob.suff.g_c.size, 1)))
                for a in range(0, total, per):
                    sl = slice(a, a + per)
                    lp = prob.log_post_z(list(axes), [z[sl, None] for z in zs] + [ax.z[None, :]])
                    zk[sl] = sinc_inverse(ax.z[0], ax.h, np.exp(lp - lp.max(axis=1, keepdims=True)), u[sl])
                zs.append(zk)
        vs = [a.var(z) for a, z in zip(axes, zs)]
        g = prob.given(vs)
        suff = prob.suff
        chol = np.linalg.cholesky(g.cov)
        b_shift = g.mu + np.einsum("nij,jn->ni", chol, rng.standard_normal((suff.p, total)))
        out: dict[str, np.ndarray] = {name: b_shift[:, j] + suff.b_ols[j]
                                      for j, name in enumerate(self.model_data.fixed_names)}
        out.update(zip(prob.names, vs))
        if prob.has_random:
            K = suff.n_clusters
            u = np.empty((total, K))
            per = max(1, MAX_CELLS // max(total, 1))
            for a in range(0, K, per):
                sl = slice(a, min(a + per, K))
                _, _, shrink, cond_var = cluster_moments(suff, g, sl)
                mean = shrink * (suff.k_t[sl] - b_shift @ suff.k_a[sl].T)
                u[:, sl] = mean + np.sqrt(cond_var) * rng.standard_normal(mean.shape)
            out["u"] = u
        if chains is None:
            return out
        data_vars = {k: (("chain", "draw"), v.reshape(chains, n)) for k, v in out.items() if k != "u"}
        coords: dict[str, Any] = {"chain": np.arange(chains), "draw": np.arange(n)}
        if "u" in out:
            data_vars["u"] = (("chain", "draw", "cluster"), out["u"].reshape(chains, n, -1))
            coords["cluster"] = list(self.clusters)
        import xarray as xr

        return xr.Dataset(
            data_vars, coords=coords,
            attrs={"method": "exact i.i.d. draws (quadrature over the variances, Gaussian b and u)",
                   "residual": self.residual, "seed": int(seed), "grid": self.provenance["grid"]},
        )


def exact_posterior(
    data: Any,
    residual: str = "single",
    grid: float = DEFAULT_GRID,
    priors: Priors = SAS_PRIORS,
    progress: bool = False,
) -> ExactPosterior:
    """Compute the exact posterior of one model by quadrature (no Monte Carlo error).

    Parameters
    ----------
    data : ModelData or Design
        Data read through a specification, or a run1 design (then ``residual`` and ``priors`` choose
        the built-in model).
    residual : {"single", "per_condition"}
        For a Design only.
    grid : float
        Resolution: the z step is 1/grid, about ``grid`` nodes per conditional posterior SD of each
        variance near the mode. Doubling it from the default changes means and SDs below 1e-8 and
        quantiles below 1e-6 (relative) on run1.
    priors : Priors
        For a Design only: any σ²_u prior family of :mod:`partclust.models.priors` (default: the SAS
        program's).
    progress : bool
        Show a progress bar over the clusters' mixtures (stderr), for large designs.

    Returns
    -------
    ExactPosterior
        ``table``: columns :data:`TABLE_COLUMNS`, rows fixed effects, s2u, residual variance(s),
        ``u[<label>]`` (outcome units; variances in units²).

    Raises
    ------
    SpecError
        For an unknown residual structure, ``grid < 1``, a specification the closed forms do not cover
        (a fixed effect's prior other than Normal or flat, more than two residual variances, a residual
        level varying within a cluster) or an improper posterior.
    """
    md = as_model_data(data, residual, priors)
    if not grid >= 1:
        raise SpecError(f"grid must be >= 1 (nodes per posterior SD); got {grid!r}")
    started = time.perf_counter()
    prob = VarianceProblem(md)
    center, scale = prob.mode_and_scales()
    axes = prob.axes(center, scale, 1.0 / float(grid))
    dim = len(axes)
    zgrid = open_mesh([a.z for a in axes])
    vs = [a.var(z) for a, z in zip(axes, zgrid)]
    g = prob.given(vs)
    lw = sum(a.log_w.reshape(z.shape) + a.log_jac(z) for a, z in zip(axes, zgrid))
    with np.errstate(invalid="ignore"):
        lp = g.grid(g.log_lik) + prob.log_prior(vs) + lw  # log(weight × density) at each node
    lp = np.where(np.isfinite(lp), lp, -np.inf)
    log_z = float(special.logsumexp(lp))
    w = np.exp(lp - log_z)
    marginals = tuple(
        np.sum(w, axis=tuple(i for i in range(dim) if i != k)) / np.exp(axes[k].log_w) for k in range(dim)
    )
    head = w.sum(axis=2) / np.exp(axes[0].log_w[:, None] + axes[1].log_w[None, :]) if dim == 3 else None

    # the grid's outermost nodes on any axis: where a moment that depends on the grid's range shows
    edge = np.zeros(w.shape, dtype=bool)
    for k in range(dim):
        idx = [slice(None)] * dim
        for end in (0, -1):
            idx[k] = end
            edge[tuple(idx)] = True
    wf, edge_f = w.reshape(-1), edge.reshape(-1)
    keep = wf > KEEP_WEIGHT
    wk = wf[keep] / wf[keep].sum()
    edge_k = edge_f[keep]
    gk = Conditionals(g.log_lik[keep], g.mu[keep], g.cov[keep], g.s2u[keep], g.s[keep], (int(keep.sum()),))
    suff = prob.suff
    probs = np.array(list(QUANTILES.values()))
    coarse = np.zeros(w.shape, dtype=bool)  # every second node: a cheap first solve, then a polish on all
    coarse[tuple(slice(0, None, 2) for _ in range(dim))] = True
    ck = coarse.reshape(-1)[keep]
    wck = wk[ck] / wk[ck].sum()

    def mixture_rows(m: np.ndarray, s: np.ndarray, quantiles: bool = True
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str]]:
        mean = m @ wk
        second = (s**2 + m**2) @ wk
        sd = np.sqrt(np.maximum(second - mean**2, 0.0))
        q = None
        if quantiles:
            start_q = mixture_quantiles(wck, m[:, ck], s[:, ck], probs)
            q = mixture_quantiles(wk, m, s, probs, start=start_q)
        share_mean = (np.abs(m[:, edge_k]) @ wk[edge_k]) / np.maximum(np.abs(m) @ wk, 1e-300)
        share_sd = ((s**2 + m**2)[:, edge_k] @ wk[edge_k]) / np.maximum(second, 1e-300)
        notes = []
        for sm, ss in zip(share_mean, share_sd):
            if sm > EDGE_TOLERANCE:
                notes.append("mean and SD depend on the grid's range (heavy tail of the variances): see the quantiles")
            elif ss > EDGE_TOLERANCE:
                notes.append("SD depends on the grid's range (heavy tail of the variances): see the quantiles")
            else:
                notes.append("")
        return mean, sd, q, notes

    m_b = (gk.mu + suff.b_ols).T
    s_b = np.sqrt(np.diagonal(gk.cov, axis1=1, axis2=2)).T
    b_mean, b_sd, b_q, b_notes = mixture_rows(m_b, s_b)
    rows: list[list[Any]] = [[name, b_mean[j], b_sd[j], *b_q[j], b_notes[j]]
                             for j, name in enumerate(md.fixed_names)]
    for k, ax in enumerate(axes):
        v = ax.var(ax.z)
        wm = marginals[k] * np.exp(ax.log_w)
        with np.errstate(invalid="ignore", over="ignore"):
            mean = float(np.sum(np.where(wm > 0, wm * v, 0.0)))
            sd = math.sqrt(max(float(np.sum(np.where(wm > 0, wm * v**2, 0.0))) - mean**2, 0.0))
        zq = sinc_inverse(ax.z[0], ax.h, marginals[k][None, :], probs)
        tail = prob.tails[ax.name]
        note = ""
        if tail.moments[1] != "ok":
            mean, sd = math.nan, math.nan
            note = (f"mean and SD {tail.moments[1]}: the density's tail falls like v^-{tail.alpha + 1:.3g}; "
                    "report the quantiles")
        elif tail.moments[2] != "ok":
            sd = math.nan
            note = (f"SD {tail.moments[2]}: the density's tail falls like v^-{tail.alpha + 1:.3g}; "
                    "report the quantiles")
        rows.append([ax.name, mean, sd, *ax.var(zq), note])

    if prob.has_random:
        u_rows = cluster_rows(suff, gk, wk, mixture_rows, probs, md.groups, progress)
        rows += u_rows
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

    def build(mode: float, provenance: dict[str, Any]) -> ExactPosterior:
        return ExactPosterior(md.spec.name, tuple(md.groups), table, mode, log_z, provenance, prob,
                              tuple(axes), marginals, head)

    mode = _s2u_mode(build(math.nan, {})) if prob.has_random else math.nan
    provenance = {
        "method": "exact quadrature: b and u integrated in closed form from per-group sufficient statistics; "
                  "trapezoid rule in z over y = log(v) = c + s*psi(z), or y = logit(v/upper) for a bounded prior; "
                  "psi per axis in 'psi'; sinc-interpolated marginal CDFs; mixture-of-Gaussians quantiles for b and u",
        "psi": {a.name: {"long_left": "z + 1 - exp(-z)", "long_right": "z - 1 + exp(z)", "sinh": "sinh(z)"}[a.psi]
                for a in axes},
        "residual": md.spec.name,
        "model": md.spec.record(),
        "priors": _priors_record(data, md, priors),
        "grid": float(grid),
        "z_step": 1.0 / float(grid),
        "nodes": {a.name: int(a.z.size) for a in axes},
        "grid_points": int(w.size),
        "mixture_components": int(wk.size),
        "z_range": {a.name: [float(a.z[0]), float(a.z[-1])] for a in axes},
        "variance_range": {a.name: [float(a.var(a.z[0])), float(a.var(a.z[-1]))] for a in axes},
        "mode_unconstrained": {a.name: a.center for a in axes},
        "scale_unconstrained": {a.name: a.scale for a in axes},
        "tails": {n: {"alpha": t.alpha if math.isfinite(t.alpha) else None, "moments": dict(t.moments)}
                  for n, t in prob.tails.items()},
        "tail_cut_nats": TAIL_NATS,
        "log_evidence": log_z,
        "s2u_mode": mode,
        "data_source": md.source,
        "data_sha256": md.sha256,
        "seconds": time.perf_counter() - started,
        "versions": package_versions(),
    }
    post = build(mode, provenance)
    if not isinstance(data, ModelData):
        object.__setattr__(post, "_priors", priors)
    return post


def _priors_record(data: Any, md: ModelData, priors: Priors) -> dict[str, Any]:
    from dataclasses import asdict

    out: dict[str, Any] = {name: p.sas(name) for name, p in md.priors.items()}
    if not isinstance(data, ModelData):
        out.update(asdict(priors))
    return out


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
    data: Any,
    residual: str = "single",
    n: int = 4000,
    seed: int = 0,
    chains: int | None = None,
    grid: float = DEFAULT_GRID,
    priors: Priors = SAS_PRIORS,
) -> dict[str, np.ndarray] | xr.Dataset:
    """I.i.d. draws from the exact posterior (see :meth:`ExactPosterior.draws`)."""
    return exact_posterior(data, residual, grid=grid, priors=priors).draws(n, seed, chains=chains)
