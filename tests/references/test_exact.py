"""The exact posterior: accuracy by grid refinement, the closed forms against brute force, draws.

Nothing here compares against numbers produced by this code earlier: accuracy is shown by
refinement (the default grid against a grid twice as fine) and the closed forms by an independent
dense computation.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from helpers import unbalanced_frame
from scipy import integrate, stats

from partclust.data import Design, read_table, validate
from partclust.models import Priors, scalar_names
from partclust.references.exact import (
    DEFAULT_GRID,
    TABLE_COLUMNS,
    ExactPosterior,
    exact_draws,
    exact_posterior,
    log_density_variances,
)

RESIDUALS = ("single", "per_condition")
QCOLS = ["q2.5", "median", "q97.5"]


@functools.cache
def _unbalanced() -> Design:
    return validate(unbalanced_frame(), source="unbalanced_frame()")


@functools.cache
def _scaled_run1(path: str, factor: float) -> Design:
    """run1 with y multiplied so that σ²_e would exceed the Uniform(0, 100) bound."""
    df = read_table(Path(path))
    df["y"] = (pd.to_numeric(df["y"]) * factor).map(repr)
    return validate(df, source=f"run1 × {factor}")


_CACHE: dict[tuple, ExactPosterior] = {}


def _post(design: Design, residual: str, grid: float = DEFAULT_GRID) -> ExactPosterior:
    key = (design.source, design.sha256, residual, grid)
    if key not in _CACHE:
        _CACHE[key] = exact_posterior(design, residual, grid=grid)
    return _CACHE[key]


@pytest.fixture(params=["run1", "unbalanced"])
def design(request, run1_design) -> Design:
    return run1_design if request.param == "run1" else _unbalanced()


# ---- structure -----------------------------------------------------------------------------------
@pytest.mark.parametrize("residual", RESIDUALS)
def test_table_layout_and_provenance(design, residual):
    post = _post(design, residual)
    table = post.table
    assert list(table.columns) == list(TABLE_COLUMNS)
    expected = list(scalar_names(residual)) + [f"u[{c}]" for c in design.clusters]
    assert list(table["param"]) == expected
    assert np.isfinite(table[["mean", "sd", *QCOLS]].to_numpy()).all()
    assert (table["q2.5"] < table["median"]).all() and (table["median"] < table["q97.5"]).all()
    assert (table["sd"] > 0).all()
    prov = post.provenance
    for key in ("method", "grid", "nodes", "variance_range", "seconds", "versions", "priors", "data_sha256"):
        assert key in prov
    assert prov["priors"]["s2e_upper"] == 100.0
    json.dumps(prov)  # stored beside the reference, so it must serialize
    assert all(hi <= 100.0 for name, (lo, hi) in prov["variance_range"].items() if name != "s2u")


def test_unknown_residual_raises(run1_design):
    with pytest.raises(ValueError, match="residual"):
        exact_posterior(run1_design, "two")


# Each σ²_u prior family as scipy writes it, independently of partclust.models.priors.
_SCIPY_PRIOR = {
    "gamma": lambda x: stats.gamma(1.0, scale=1.0).logpdf(x),
    "inverse_gamma": lambda x: stats.invgamma(1.0, scale=1.0).logpdf(x),
    "gamma_on_sd": lambda x: stats.gamma(1.0, scale=1.0).logpdf(np.sqrt(x)) - np.log(2.0 * np.sqrt(x)),
    "gamma_on_precision": lambda x: stats.gamma(1.0, scale=1.0).logpdf(1.0 / x) - 2.0 * np.log(x),
}


@pytest.mark.parametrize("kind", list(_SCIPY_PRIOR))
def test_every_s2u_prior_family_matches_brute_force_integration(run1_design, kind):
    """The quadrature under each prior family against a dense log grid with scipy's prior density."""
    base = log_density_variances  # SAS prior inside; swapped for scipy's version of ``kind`` below
    t_u = np.linspace(math.log(1e-6), math.log(30.0), 1500)[:, None]
    t_e = np.linspace(math.log(0.4), math.log(2.5), 300)[None, :]
    s2u, s2e = np.exp(t_u), np.exp(t_e)
    lp = base(run1_design, {"s2u": s2u, "s2e": s2e}, "single")
    lp = lp - stats.gamma(1.0, scale=1.0).logpdf(s2u) + _SCIPY_PRIOR[kind](s2u) + t_u + t_e
    w = np.exp(lp - lp.max()).sum(axis=1)
    brute_mean = float(np.sum(w * s2u[:, 0]) / w.sum())
    ex = exact_posterior(run1_design, "single", priors=Priors(s2u_prior=kind)).table.set_index("param").loc["s2u"]
    assert ex["mean"] == pytest.approx(brute_mean, rel=2e-5)


def test_other_priors_are_converged_and_gamma_on_precision_is_inverse_gamma(run1_design):
    p_prec = Priors(s2u_prior="gamma_on_precision")
    coarse = exact_posterior(run1_design, "single", priors=p_prec).table.set_index("param").loc["s2u"]
    fine = exact_posterior(run1_design, "single", grid=10, priors=p_prec).table.set_index("param").loc["s2u"]
    # The σ²_u scale is tuned to the Gamma prior's long left tail; under the inverse-gamma-like prior
    # (a sharp left cut-off) doubling the grid still moves the mean by only ~1e-8 relative.
    assert coarse["mean"] == pytest.approx(fine["mean"], rel=1e-7)
    assert coarse["median"] == pytest.approx(fine["median"], rel=1e-6)
    # τ ~ Gamma(α, rate β) ⇔ 1/τ ~ InverseGamma(α, scale β)
    ig = exact_posterior(run1_design, "single", priors=Priors(s2u_prior="inverse_gamma"))
    assert ig.table.set_index("param").loc["s2u", "mean"] == pytest.approx(coarse["mean"], rel=1e-9)
    on_sd = exact_posterior(run1_design, "single", priors=Priors(s2u_prior="gamma_on_sd"))
    sas = exact_posterior(run1_design, "single")
    means = [p.table.set_index("param").loc["s2u", "mean"] for p in (on_sd, sas, ig)]
    assert means[0] < means[1] < means[2]
    m_log = sas.expectation("s2u", np.log)
    assert sas.expectation("s2u") == pytest.approx(means[1], rel=1e-10)
    assert sas.expectation("s2u", lambda v: (np.log(v) - m_log) ** 2) > 0


def test_row_order_and_labels_do_not_matter():
    df = unbalanced_frame()
    a = _post(_unbalanced(), "single").table
    b = exact_posterior(validate(df.sample(frac=1.0, random_state=3), source="shuffled"), "single").table
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-12)


# ---- accuracy by refinement ----------------------------------------------------------------------
@pytest.mark.parametrize("residual", RESIDUALS)
def test_doubling_the_grid_changes_nothing_that_matters(design, residual):
    coarse = _post(design, residual).table.set_index("param")
    fine = _post(design, residual, 2 * DEFAULT_GRID).table.set_index("param")
    # Relative to max(|value|, sd): a mean or quantile near 0 (a u_j) has no relative precision.
    scale = np.maximum(fine["mean"].abs(), fine["sd"])
    assert ((coarse["mean"] - fine["mean"]).abs() / scale).max() < 1e-6
    assert ((coarse["sd"] / fine["sd"] - 1).abs()).max() < 1e-6
    for col in QCOLS:
        qscale = np.maximum(fine[col].abs(), fine["sd"])
        assert ((coarse[col] - fine[col]).abs() / qscale).max() < 1e-4, col
    a, b = _post(design, residual), _post(design, residual, 2 * DEFAULT_GRID)
    assert a.s2u_mode == pytest.approx(b.s2u_mode, rel=1e-4)
    assert a.log_evidence == pytest.approx(b.log_evidence, abs=1e-8)


def test_prior_bound_is_honoured_when_it_binds(run1_path):
    """With y × 10.3 the likelihood alone puts σ²_e near 0.93 · 10.3² ≈ 99: the Uniform(0, 100)
    bound cuts the posterior where its density is still high."""
    design = _scaled_run1(str(run1_path), 10.3)
    post = _post(design, "single")
    row = post.table.set_index("param").loc["s2e"]
    assert row["q97.5"] <= 100.0 and row["mean"] < 100.0
    assert np.all(post.density("s2e", [100.000001, 150.0, 1e4]) == 0.0)
    assert post.density("s2e", [99.99])[0] > 0.01  # truncated, not a tail
    mass, _ = integrate.quad(lambda v: post.density("s2e", [v])[0], 30.0, 100.0, limit=200)
    assert mass == pytest.approx(1.0, abs=1e-5)  # a density cut at the bound converges more slowly
    fine = _post(design, "single", 2 * DEFAULT_GRID).table.set_index("param").loc["s2e"]
    assert row["mean"] == pytest.approx(fine["mean"], rel=1e-6)
    assert row["median"] == pytest.approx(fine["median"], rel=1e-4)
    draws = post.draws(4000, seed=5)
    assert draws["s2e"].max() <= 100.0


# ---- the closed forms against brute force --------------------------------------------------------
def _brute_log_density(design: Design, s2u: float, s2c: float, s2t: float) -> float:
    """log p(y, variances) from the dense n×n covariance (u integrated, no per-cluster algebra), with
    b integrated numerically by nested Gauss–Legendre rules (scipy.integrate.fixed_quad).

    The dense GLS fit only chooses coordinates w (b = b̂ + L·w, L L' = Cov(b̂)) so the ±9 box holds
    the mass; the integral is still numerical, and it is computed twice to show it has converged.
    """
    treat = design.treat.astype(float)
    z = np.zeros((design.n, design.n_clusters))
    rows = np.flatnonzero(design.treat == 1)
    z[rows, design.cluster_of_row[rows]] = 1.0
    v = np.diag(np.where(treat == 1, s2t, s2c)) + s2u * z @ z.T
    mvn = stats.multivariate_normal(mean=np.zeros(design.n), cov=v)
    x = np.column_stack([np.ones(design.n), treat])
    vi = np.linalg.inv(v)
    cov_b = np.linalg.inv(x.T @ vi @ x)
    b_hat = cov_b @ x.T @ vi @ design.y
    chol = np.linalg.cholesky(cov_b)

    def log_f(w: np.ndarray) -> np.ndarray:  # rows of w -> log likelihood × prior of b
        b = b_hat + w @ chol.T
        return mvn.logpdf(design.y[None, :] - b @ x.T) + stats.norm.logpdf(b, 0.0, 100.0).sum(axis=1)

    peak = float(log_f(np.zeros((1, 2)))[0])

    def integral(order: int) -> float:
        def inner(w0: np.ndarray) -> np.ndarray:  # ∫ dw1 for every outer node at once
            def f(w1: np.ndarray) -> np.ndarray:
                w = np.column_stack([np.repeat(w0, w1.size), np.tile(w1, w0.size)])
                return np.exp(log_f(w) - peak).reshape(w0.size, w1.size)

            return integrate.fixed_quad(f, -9, 9, n=order)[0]

        return integrate.fixed_quad(inner, -9, 9, n=order)[0]

    coarse, fine = integral(40), integral(56)
    assert abs(coarse / fine - 1) < 1e-11, "the brute-force quadrature has not converged"
    prior = stats.gamma(a=1.0, scale=1.0).logpdf(s2u) + stats.uniform(0.0, 100.0).logpdf(s2c)
    if s2t != s2c:
        prior += stats.uniform(0.0, 100.0).logpdf(s2t)
    return peak + math.log(fine) + math.log(np.linalg.det(chol)) + prior


def test_single_model_closed_form_equals_brute_force_integration(run1_design):
    points = [(0.26, 0.93), (0.05, 1.2), (1.7, 0.7)]
    exact = log_density_variances(
        run1_design, {"s2u": np.array([p[0] for p in points]), "s2e": np.array([p[1] for p in points])}
    )
    brute = np.array([_brute_log_density(run1_design, u, e, e) for u, e in points])
    np.testing.assert_allclose(np.diff(exact), np.diff(brute), atol=1e-7)  # up to a common constant
    np.testing.assert_allclose(exact, brute, atol=1e-7)  # and in fact absolutely


def test_per_condition_closed_form_with_unequal_clusters():
    design = _unbalanced()
    points = [(0.4, 1.3, 0.8), (2.0, 0.6, 1.5)]
    exact = log_density_variances(
        design,
        {"s2u": np.array([p[0] for p in points]), "s2e_control": np.array([p[1] for p in points]),
         "s2e_treated": np.array([p[2] for p in points])},
        residual="per_condition",
    )
    brute = np.array([_brute_log_density(design, *p) for p in points])
    np.testing.assert_allclose(exact, brute, atol=1e-7)
    assert log_density_variances(design, {"s2u": 0.4, "s2e_control": 100.5, "s2e_treated": 1.0},
                                 residual="per_condition") == -np.inf


def _dense_b_u_moments(design: Design, residual: str, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and SDs of (b0, b1, u) from the joint Gaussian of (b, u) given the variances
    (dense (2 + J)-dimensional precision matrices, no marginal of y), averaged over a plain
    trapezoid grid of log variances weighted by :func:`log_density_variances`."""
    treat = design.treat.astype(float)
    j = design.n_clusters
    w_mat = np.zeros((design.n, 2 + j))
    w_mat[:, 0], w_mat[:, 1] = 1.0, treat
    rows = np.flatnonzero(design.treat == 1)
    w_mat[rows, 2 + design.cluster_of_row[rows]] = 1.0
    tu, te = np.arange(-22.0, 4.0, step), np.arange(-2.6, 3.6, step)
    if residual == "single":
        lu, lc = np.meshgrid(tu, te, indexing="ij")
        lt = lc
        lp = log_density_variances(design, {"s2u": np.exp(lu), "s2e": np.exp(lc)}) + lu + lc
    else:
        lu, lc, lt = np.meshgrid(tu, te, te, indexing="ij")
        lp = log_density_variances(
            design, {"s2u": np.exp(lu), "s2e_control": np.exp(lc), "s2e_treated": np.exp(lt)}, "per_condition"
        ) + lu + lc + lt
    w = np.exp(lp - lp.max()).ravel()
    keep = w > 1e-16 * w.sum()
    w = w[keep] / w[keep].sum()
    s2u, s2c, s2t = (np.exp(a).ravel()[keep] for a in (lu, lc, lt))
    prec_e = np.where(treat[None, :] == 1, 1 / s2t[:, None], 1 / s2c[:, None])
    prec = np.einsum("ni,kn,nj->kij", w_mat, prec_e, w_mat)
    prec[:, [0, 1], [0, 1]] += 1 / 100.0**2
    idx = np.arange(2, 2 + j)
    prec[:, idx, idx] += 1 / s2u[:, None]
    cov = np.linalg.inv(prec)
    mu = np.einsum("kij,kj->ki", cov, np.einsum("ni,kn,n->ki", w_mat, prec_e, design.y))
    mean = w @ mu
    return mean, np.sqrt(w @ (np.diagonal(cov, axis1=1, axis2=2) + mu**2) - mean**2)


@pytest.mark.parametrize("residual", RESIDUALS)
def test_b_and_u_moments_equal_dense_joint_gaussian(residual):
    """The closed-form conditionals of b and u (through the marginal of y) against the dense joint."""
    design = _unbalanced()
    mean, sd = _dense_b_u_moments(design, residual, 0.1 if residual == "single" else 0.2)
    names = ["b0", "b1"] + [f"u[{c}]" for c in design.clusters]
    table = _post(design, residual).table.set_index("param").loc[names]
    np.testing.assert_allclose(mean, table["mean"], rtol=0, atol=1e-7 * table["sd"].min())
    np.testing.assert_allclose(sd, table["sd"], rtol=1e-7)


@pytest.mark.parametrize("residual", RESIDUALS)
def test_marginal_densities_integrate_to_one_and_mode_is_the_peak(run1_design, residual):
    post = _post(run1_design, residual)
    for name in scalar_names(residual)[2:]:
        mass, _ = integrate.quad(lambda v: post.density(name, [v])[0], 0.0, 100.0, points=[0.2, 1.0, 3.0],
                                 limit=400, epsabs=1e-12)
        assert mass == pytest.approx(1.0, abs=1e-8), name
    m = post.s2u_mode
    assert m > 0
    around = post.s2u_density([m * (1 - 1e-3), m, m * (1 + 1e-3)])
    assert around[1] >= around[0] and around[1] >= around[2]


# ---- i.i.d. draws --------------------------------------------------------------------------------
@pytest.mark.parametrize("residual", RESIDUALS)
def test_draws_agree_with_quadrature(run1_design, residual):
    post = _post(run1_design, residual)
    n = 20_000
    draws = post.draws(n, seed=20240607)
    table = post.table.set_index("param")
    columns = {name: draws[name] for name in scalar_names(residual)}
    columns.update({f"u[{c}]": draws["u"][:, j] for j, c in enumerate(post.clusters)})
    for name, x in columns.items():
        row = table.loc[name]
        se_mean = row["sd"] / math.sqrt(n)
        m4 = np.mean((x - x.mean()) ** 4)
        se_sd = math.sqrt(max(m4 - row["sd"] ** 4, 1e-300) / n) / (2 * row["sd"])
        assert abs(x.mean() - row["mean"]) < 4 * se_mean, name
        assert abs(x.std(ddof=1) - row["sd"]) < 4 * se_sd, name
    for name in scalar_names(residual)[3:]:
        assert 0.0 < draws[name].min() and draws[name].max() <= 100.0
    assert draws["s2u"].min() >= 0.0


def test_draws_as_chains_dataset(run1_design):
    ds = exact_draws(run1_design, "per_condition", n=300, seed=1, chains=4)
    again = _post(run1_design, "per_condition").draws(300, seed=1, chains=4)
    assert isinstance(ds, xr.Dataset)
    assert set(ds.data_vars) == {"b0", "b1", "s2u", "s2e_control", "s2e_treated", "u"}
    assert ds["b0"].dims == ("chain", "draw") and ds["b0"].shape == (4, 300)
    assert ds["u"].dims == ("chain", "draw", "cluster")
    assert list(ds["cluster"].values) == list(run1_design.clusters)
    xr.testing.assert_identical(ds, again)
