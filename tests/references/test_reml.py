"""REML: the closed-form restricted likelihood against dense matrices and against statsmodels."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import unbalanced_frame
from scipy import stats

from partclust.data import Design, validate
from partclust.references.reml import lrt, reml, restricted_loglik


def _dense(design: Design, s2u: float, s2c: float, s2t: float):
    """V, X and the dense restricted log-likelihood -½[(n-p)log 2π + log|V| + log|X'V⁻¹X| + r'V⁻¹r]."""
    treat = design.treat.astype(float)
    z = np.zeros((design.n, design.n_clusters))
    rows = np.flatnonzero(design.treat == 1)
    z[rows, design.cluster_of_row[rows]] = 1.0
    v = np.diag(np.where(treat == 1, s2t, s2c)) + s2u * z @ z.T
    x = np.column_stack([np.ones(design.n), treat])
    vi = np.linalg.inv(v)
    xvx = x.T @ vi @ x
    b = np.linalg.solve(xvx, x.T @ vi @ design.y)
    r = design.y - x @ b
    ll = -0.5 * ((design.n - 2) * math.log(2 * math.pi) + np.linalg.slogdet(v)[1]
                 + np.linalg.slogdet(xvx)[1] + r @ vi @ r)
    return ll, b, np.linalg.inv(xvx)


def _statsmodels_fit(design: Design):
    import statsmodels.api as sm

    # The random effect is u_j·Tx: a random slope on treat, grouped by j. Each control is its own
    # group (as in PROC MIXED with SUBJECT=j); its treat is 0, so its group contributes no effect.
    groups = np.asarray(design.sas_clusters, dtype=object)[design.sas_cluster_of_row]
    x = np.column_stack([np.ones(design.n), design.treat.astype(float)])
    model = sm.MixedLM(design.y, x, groups=groups, exog_re=design.treat.astype(float)[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=True)


@pytest.fixture(scope="module")
def fits(run1_design):
    return reml(run1_design, "single"), reml(run1_design, "per_condition")


def test_single_matches_statsmodels_mixedlm(run1_design, fits):
    single, _ = fits
    sm_fit = _statsmodels_fit(run1_design)
    assert sm_fit.converged
    ours = single.estimates
    theirs = {"b0": sm_fit.fe_params[0], "b1": sm_fit.fe_params[1],
              "s2u": float(np.asarray(sm_fit.cov_re).ravel()[0]), "s2e": float(sm_fit.scale)}
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, rel=1e-4), name
    # Same likelihood, same constant: ours evaluated at statsmodels' optimum equals its llf...
    at_theirs = restricted_loglik(run1_design, {"s2u": theirs["s2u"], "s2e": theirs["s2e"]})
    assert at_theirs == pytest.approx(sm_fit.llf, abs=1e-8)
    # ...and our optimum is at least as high.
    assert single.loglik >= sm_fit.llf - 1e-9
    assert single.se["b0"] == pytest.approx(sm_fit.bse_fe[0], rel=1e-3)
    assert single.se["b1"] == pytest.approx(sm_fit.bse_fe[1], rel=1e-3)


@pytest.mark.parametrize("which", ["run1", "unbalanced"])
def test_closed_form_equals_dense_restricted_likelihood(run1_design, which):
    design = run1_design if which == "run1" else validate(unbalanced_frame())
    for s2u, s2c, s2t in [(0.3, 0.9, 0.9), (1.7, 0.4, 2.2), (1e-6, 1.1, 0.8)]:
        dense, _, _ = _dense(design, s2u, s2c, s2t)
        got = restricted_loglik(design, {"s2u": s2u, "s2e_control": s2c, "s2e_treated": s2t}, "per_condition")
        assert got == pytest.approx(dense, abs=1e-9)
        if s2c == s2t:
            assert restricted_loglik(design, {"s2u": s2u, "s2e": s2c}) == pytest.approx(dense, abs=1e-9)


def test_estimates_are_gls_at_the_optimum(run1_design, fits):
    for fit in fits:
        e = fit.estimates
        s2c, s2t = (e["s2e"], e["s2e"]) if fit.residual == "single" else (e["s2e_control"], e["s2e_treated"])
        dense, b, cov_b = _dense(run1_design, e["s2u"], s2c, s2t)
        assert fit.loglik == pytest.approx(dense, abs=1e-9)
        np.testing.assert_allclose([e["b0"], e["b1"]], b, rtol=1e-10)
        np.testing.assert_allclose([fit.se["b0"], fit.se["b1"]], np.sqrt(np.diag(cov_b)), rtol=1e-10)
        # a maximum: moving any variance by 1% lowers l_R
        names = [k for k in e if k.startswith("s2")]
        for name in names:
            for f in (0.99, 1.01):
                moved = {k: e[k] * (f if k == name else 1.0) for k in names}
                assert restricted_loglik(run1_design, moved, fit.residual) < fit.loglik


def test_nested_models_and_lrt(fits):
    single, per_condition = fits
    assert per_condition.loglik >= single.loglik
    test = lrt(single, per_condition)
    assert test.df == 1
    assert test.statistic == pytest.approx(2 * (per_condition.loglik - single.loglik))
    assert test.p_value == pytest.approx(stats.chi2.sf(test.statistic, 1))
    assert 0.0 < test.p_value < 1.0
    with pytest.raises(ValueError):
        lrt(per_condition, single)


def test_table_and_boundary(run1_design, fits):
    single, per_condition = fits
    assert list(single.table.columns) == ["param", "estimate", "se"]
    assert list(single.table["param"]) == ["b0", "b1", "s2u", "s2e"]
    assert list(per_condition.table["param"]) == ["b0", "b1", "s2u", "s2e_control", "s2e_treated"]
    assert single.table["se"].gt(0).all() and not single.s2u_on_boundary
    assert single.neg2_res_loglik == pytest.approx(-2 * single.loglik)

    # Remove all between-cluster variation: the REML σ²_u is then on its boundary, 0.
    df = unbalanced_frame()
    y = pd.to_numeric(df["y"])
    treated = df["treat"] == 1
    y[treated] = y[treated] - y[treated].groupby(df.loc[treated, "j"]).transform("mean") + 0.3
    df["y"] = y
    flat = reml(validate(df), "single")
    assert flat.s2u_on_boundary and flat.estimates["s2u"] == 0.0 and math.isnan(flat.se["s2u"])
    assert flat.estimates["s2e"] > 0 and flat.se["s2e"] > 0
